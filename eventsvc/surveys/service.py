"""Survey rules: build (from a Japanese default template), keep answers tied to the question
version they answered, one response per registration (editable until the survey closes),
results, exports, comparison across events, invitations and reminders.

Plain functions over the session: they take rows, the actor and ``now``, flush, and raise
:class:`~eventsvc.errors.DomainError`; the caller commits. Secrets (for personal links and
for finding one's own anonymous response) are passed in, never read from the app.

Hooks (surveys sit beside check-in and below Slack, and import neither):

- :func:`register_attendance_source` — ``fn(event) -> set of checked-in registration ids``;
  check-in plugs itself in. Without a source, invitations are refused (they go only to
  people who came) and the results show the checked-in count as unknown.
- :func:`register_invite_channel` — ``fn(InviteContext) -> Outgoing | None``; one delivery
  kind per channel. E-mail (``mail.survey_invite`` / ``mail.survey_reminder``) is built in;
  Slack adds ``slack.survey_dm`` the same way.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

from flask_babel import force_locale, gettext
from itsdangerous import BadSignature, URLSafeSerializer
from sqlalchemy import delete, func, select, update
from sqlalchemy.exc import IntegrityError

from ..core import export
from ..core.clock import format_datetime, to_jst, to_utc
from ..core.i18n import N_, msg
from ..core.text import clean_field
from ..errors import Conflict, DomainError, Forbidden, NotFound, ValidationFailed
from ..events.models import Event
from ..extensions import db
from ..outbox import service as outbox
from ..outbox.models import Delivery
from ..registration import tickets
from ..registration.models import Registration
from . import aggregate, mail
from .models import (
    KINDS,
    QuestionVersion,
    Survey,
    SurveyAnswer,
    SurveyQuestion,
    SurveyRespondent,
    SurveyResponse,
)

MAX_QUESTIONS = 50
MAX_OPTIONS = 30
MAX_OPTION_LENGTH = 200
MAX_QUESTION_LENGTH = 500
MAX_LABEL_LENGTH = 50
MAX_TEXT_ANSWER = 200
MAX_LONG_TEXT_ANSWER = 5000
MAX_OTHER_ANSWER = 200
SCALE_BOUNDS = (0, 10)
CHOICE_KINDS = ("single", "multiple")
#: what can change on a question without a new version (the rest changes what answers mean)
_MEANING = ("kind", "text", "options", "allow_other", "scale_min", "scale_max", "min_label", "max_label")
#: how long a survey made from the template takes answers after the event
DEFAULT_ANSWER_PERIOD = timedelta(days=14)


class _DefaultOpening:
    def __repr__(self) -> str:
        return "DEFAULT_OPENING"


#: ``SurveyData.opens_at`` left unset: a new survey opens when its event starts (a post-event
#: survey must not take answers months before the event), an existing one keeps its start.
#: ``None`` is different: no start at all, answers are taken at once.
DEFAULT_OPENING = _DefaultOpening()
_LINK_SALT = "eventsvc.survey-link.v1"
_SHORT_LENGTH = 6


# ------------------------------------------------------------------ data
@dataclass
class QuestionData:
    """A question as an organizer sets it. ``id`` names an existing question to keep."""

    kind: str
    text: str
    options: list[str] = field(default_factory=list)
    allow_other: bool = False
    scale_min: int | None = None
    scale_max: int | None = None
    min_label: str = ""
    max_label: str = ""
    required: bool = False
    id: int | None = None
    #: the default template's key (kept across edits, used to compare events)
    key: str | None = None

    @classmethod
    def from_version(cls, q: SurveyQuestion) -> QuestionData:
        v = q.current
        return cls(kind=v.kind, text=v.text, options=list(v.options or []), allow_other=v.allow_other,
                   scale_min=v.scale_min, scale_max=v.scale_max, min_label=v.min_label, max_label=v.max_label,
                   required=v.required, id=q.id, key=q.key)


@dataclass
class SurveyData:
    title: str
    questions: list[QuestionData]
    description: str = ""
    anonymous: bool = True
    #: None: at once; :data:`DEFAULT_OPENING` (the default): the event's start for a new survey
    opens_at: datetime | None | _DefaultOpening = DEFAULT_OPENING
    closes_at: datetime | None = None

    @classmethod
    def from_survey(cls, survey: Survey) -> SurveyData:
        return cls(title=survey.title, description=survey.description, anonymous=survey.anonymous,
                   opens_at=survey.opens_at, closes_at=survey.closes_at,
                   questions=[QuestionData.from_version(q) for q in survey.questions])


@dataclass
class AnswerData:
    """An answer to the current version of question ``question_id``.

    ``value``: int (rating), str (single, text, long_text), list of str (multiple), or
    None; ``other``: the free text of "other" (choice questions that offer it).
    """

    question_id: int
    value: object = None
    other: str = ""


@dataclass
class SaveResult:
    survey: Survey
    #: questions whose meaning changed after answers existed: they got a new version
    new_versions: list[SurveyQuestion] = field(default_factory=list)
    #: removed questions whose answers are kept
    retired: list[SurveyQuestion] = field(default_factory=list)
    #: invitations and reminders waiting to go out that now wait for the later opening
    rescheduled: int = 0


# ------------------------------------------------------------------ the default template
def default_template() -> SurveyData:
    """The Japanese default: satisfaction, usefulness, recommendation (NPS), what helped,
    themes for next time, posting in the community, comments."""
    return SurveyData(
        title="参加者アンケート",
        description=("本日はご参加ありがとうございました。今後の勉強会づくりの参考にさせてください"
                     "（2〜3分で終わります）。"),
        anonymous=True,
        questions=[
            QuestionData("rating", "本日の勉強会の満足度を教えてください。", scale_min=1, scale_max=5,
                         min_label="不満", max_label="満足", required=True, key="satisfaction"),
            QuestionData("rating", "本日の内容は、ご自身の業務に役立ちそうですか。", scale_min=1, scale_max=5,
                         min_label="役立たない", max_label="とても役立つ", required=True, key="usefulness"),
            QuestionData("rating", "この勉強会を同僚に勧めたいと思いますか。", scale_min=0, scale_max=10,
                         min_label="まったく思わない", max_label="強くそう思う", required=True, key="recommend"),
            QuestionData("long_text", "最も役に立った内容は何でしたか。", key="most_useful"),
            QuestionData("multiple", "次回取り上げてほしいテーマを選んでください（いくつでも）。", options=[
                "窓口BPR・書かないワンストップ窓口", "自治体ウェブサイトの改善", "アナログ規制の見直し",
                "生成AIの業務活用", "データ利活用・オープンデータ", "システム標準化・ガバメントクラウド",
                "庁内のDX人材育成"], allow_other=True, key="next_themes"),
            QuestionData("single", "コミュニティ（Slack）に投稿してみようと思いますか。", options=[
                "すでに投稿している", "今回をきっかけに投稿してみたい", "しばらくは読むだけにしたい",
                "まだ分からない"], key="will_post"),
            QuestionData("long_text", "その他、ご意見・ご感想があればお書きください。", key="comments"),
        ],
    )


# ------------------------------------------------------------------ validation
def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def validate_question(errors: dict, key: str, q: QuestionData) -> QuestionData:
    q = replace(q, options=list(q.options or []))
    if q.kind not in KINDS:
        errors[f"{key}.kind"] = N_("質問の種類は rating / single / multiple / text / long_text です。")
        return q
    q.text = clean_field(errors, f"{key}.text", q.text, MAX_QUESTION_LENGTH, required=True)
    if q.kind in CHOICE_KINDS:
        options, seen = [], set()
        for i, raw in enumerate(q.options):
            option = clean_field(errors, f"{key}.options", raw, MAX_OPTION_LENGTH)
            if f"{key}.options" in errors:
                errors[f"{key}.options"] = msg(N_("%(n)s番目の選択肢: %(message)s"), n=i + 1,
                                                message=msg(errors[f"{key}.options"]))
                break
            if not option:
                continue
            if option in seen:
                errors[f"{key}.options"] = msg(N_("選択肢「%(option)s」が重複しています。"), option=option[:30])
                break
            seen.add(option)
            options.append(option)
        if f"{key}.options" not in errors:
            if len(options) < 2:
                errors[f"{key}.options"] = N_("選択肢を2つ以上入力してください。")
            elif len(options) > MAX_OPTIONS:
                errors[f"{key}.options"] = msg(N_("選択肢は%(n)s個までです。"), n=MAX_OPTIONS)
        q.options = options
    else:
        q.options, q.allow_other = [], False
    if q.kind == "rating":
        lo = 1 if q.scale_min is None else q.scale_min
        hi = 5 if q.scale_max is None else q.scale_max
        if not (_is_int(lo) and _is_int(hi)) or not (SCALE_BOUNDS[0] <= lo < hi <= SCALE_BOUNDS[1]):
            errors[f"{key}.scale"] = N_("目盛りは0〜10の整数で、最小値を最大値より小さくしてください。")
        q.scale_min, q.scale_max = lo, hi
        q.min_label = clean_field(errors, f"{key}.min_label", q.min_label, MAX_LABEL_LENGTH)
        q.max_label = clean_field(errors, f"{key}.max_label", q.max_label, MAX_LABEL_LENGTH)
    else:
        q.scale_min = q.scale_max = None
        q.min_label = q.max_label = ""
    q.required = bool(q.required)
    q.allow_other = bool(q.allow_other)
    return q


def validate_survey(data: SurveyData) -> SurveyData:
    """Clean and check a survey; :class:`ValidationFailed` lists every problem at once."""
    errors: dict[str, str] = {}
    d = replace(data)
    d.title = clean_field(errors, "title", d.title, 200, required=True)
    d.description = clean_field(errors, "description", d.description, 2000, multiline=True)
    d.anonymous = bool(d.anonymous)
    if d.opens_at is not DEFAULT_OPENING:  # resolved by save_survey, which knows the survey
        d.opens_at = to_utc(d.opens_at) if d.opens_at else None
    d.closes_at = to_utc(d.closes_at) if d.closes_at else None
    if isinstance(d.opens_at, datetime) and d.closes_at and d.closes_at <= d.opens_at:
        errors["closes_at"] = N_("締切は受付開始より後にしてください。")
    if not d.questions:
        errors["questions"] = N_("質問を1つ以上入れてください。")
    elif len(d.questions) > MAX_QUESTIONS:
        errors["questions"] = msg(N_("質問は%(n)s個までです。"), n=MAX_QUESTIONS)
    seen: set[int] = set()
    cleaned = []
    for i, q in enumerate(d.questions[:MAX_QUESTIONS]):
        if q.id is not None:
            if q.id in seen:
                errors[f"questions.{i}.id"] = N_("同じ質問が2回指定されています。")
            seen.add(q.id)
        cleaned.append(validate_question(errors, f"questions.{i}", q))
    d.questions = cleaned
    if errors:
        raise ValidationFailed(errors)
    return d


# ------------------------------------------------------------------ reading
def get_survey(event: Event) -> Survey | None:
    return db.session.scalar(select(Survey).where(Survey.event_id == event.id))


def require_survey(event: Event) -> Survey:
    survey = get_survey(event)
    if survey is None:
        raise NotFound("survey_not_found", N_("このイベントにはアンケートがありません。"))
    return survey


def get_by_short_code(code: str) -> Survey | None:
    code = (code or "").strip().upper()
    if not code or len(code) > 16:
        return None
    return db.session.scalar(select(Survey).where(Survey.short_code == code))


def state(survey: Survey, now: datetime) -> str:
    """``scheduled`` (not open yet), ``open`` or ``closed``."""
    if survey.closes_at is not None and now >= survey.closes_at:
        return "closed"
    if survey.opens_at is not None and now < survey.opens_at:
        return "scheduled"
    return "open"


def check_open(survey: Survey, now: datetime) -> None:
    """The survey takes answers now, or a 409 says why not (``survey_closed``, ``survey_not_open``).

    Checked before anything about the answers themselves: answers that can't be saved
    anyway get this, not field errors.
    """
    st = state(survey, now)
    if st == "closed":
        raise Conflict("survey_closed", N_("このアンケートは締め切りました。回答は保存されていません。"))
    if st == "scheduled":
        raise Conflict("survey_not_open", msg(N_("このアンケートはまだ回答を受け付けていません。%(when)s から回答できます。"
                                                 "回答は保存されていません。"),
                                              when=format_datetime(survey.opens_at), at=survey.opens_at))


def response_count(survey: Survey) -> int:
    return db.session.scalar(select(func.count()).select_from(SurveyResponse)
                             .where(SurveyResponse.survey_id == survey.id)) or 0


def answered_version_ids(survey: Survey) -> set[int]:
    """Versions of this survey's questions that have at least one answer."""
    q = (select(SurveyAnswer.question_version_id).distinct()
         .join(QuestionVersion, QuestionVersion.id == SurveyAnswer.question_version_id)
         .join(SurveyQuestion, SurveyQuestion.id == QuestionVersion.question_id)
         .where(SurveyQuestion.survey_id == survey.id))
    return set(db.session.scalars(q))


# ------------------------------------------------------------------ building
def _new_short_code() -> str:
    while True:
        code = "".join(secrets.choice(tickets.ALPHABET) for _ in range(_SHORT_LENGTH))
        if not db.session.scalar(select(Survey.id).where(Survey.short_code == code)):
            return code


def _meaning(v) -> tuple:
    return tuple(tuple(getattr(v, k) or []) if k == "options" else getattr(v, k) for k in _MEANING)


def _version(q: QuestionData, number: int, now: datetime) -> QuestionVersion:
    return QuestionVersion(version=number, kind=q.kind, text=q.text, options=list(q.options),
                           allow_other=q.allow_other, scale_min=q.scale_min, scale_max=q.scale_max,
                           min_label=q.min_label, max_label=q.max_label, required=q.required, created_at=now)


def create_survey(event: Event, actor, now: datetime, data: SurveyData | None = None) -> Survey:
    """The event's survey, from ``data`` or the default template. One per event.

    Unless ``data`` says otherwise it opens when the event starts (answered at the venue,
    never before the event it asks about); from the template it closes
    :data:`DEFAULT_ANSWER_PERIOD` after the event (or after now, for a past event).
    """
    if get_survey(event) is not None:
        raise Conflict("survey_exists", N_("このイベントのアンケートは作成済みです。"))
    if data is None:
        data = default_template()
        data.closes_at = max(event.ends_at, now) + DEFAULT_ANSWER_PERIOD
    return save_survey(event, data, actor, now).survey


def save_survey(event: Event, data: SurveyData, actor, now: datetime) -> SaveResult:
    """Create or replace the survey's settings and questions.

    Questions are matched by ``id``; one left out is removed (kept, with its answers, when
    it has any). A question whose meaning changes after it was answered gets a new
    version, so earlier answers stay with the wording they answered.

    ``data.opens_at`` left at :data:`DEFAULT_OPENING`: a new survey opens at the event's
    start, an existing one keeps its opening time. Invitations and reminders still waiting
    to go out never leave before the opening: moved later, they wait for the new time; those
    that waited for the opening follow it when it moves earlier too (now, when it is cleared or
    past). ``SaveResult.rescheduled`` counts the rows moved either way.
    """
    d = validate_survey(data)
    if event.status == "cancelled":
        raise Conflict("event_cancelled", N_("中止したイベントのアンケートは編集できません。"))
    survey = db.session.scalar(select(Survey).where(Survey.event_id == event.id).with_for_update())
    new = survey is None
    if new:
        survey = Survey(event_id=event.id, short_code=_new_short_code(), revision=0, created_at=now)
        db.session.add(survey)
        answered: set[int] = set()
        has_responses = False
    else:
        answered = answered_version_ids(survey)
        has_responses = response_count(survey) > 0
        if has_responses and survey.anonymous and not d.anonymous:
            raise ValidationFailed({"anonymous": N_("匿名で回答を集めたアンケートは、記名式に変更できません。")})
        if has_responses and d.anonymous and not survey.anonymous:
            # strengthening anonymity: forget who answered what
            for r in db.session.scalars(select(SurveyResponse).where(SurveyResponse.survey_id == survey.id)):
                r.registration_id = None
                r.submitted_at = None
    if d.opens_at is DEFAULT_OPENING:
        d.opens_at = event.starts_at if new else survey.opens_at
        if d.opens_at and d.closes_at and d.closes_at <= d.opens_at:
            # ``at``: the date itself, for pages to write ``when`` in their language (views.shown)
            raise ValidationFailed({"closes_at": msg(
                N_("締切は受付開始（%(when)s）より後にしてください。受付開始を指定しないときは、イベントの開始から受け付けます。") if new
                else N_("締切は受付開始（%(when)s）より後にしてください。"), when=format_datetime(d.opens_at), at=d.opens_at)})
    current = {q.id: q for q in survey.questions}
    errors = {f"questions.{i}.id": N_("この質問はこのアンケートにありません。")
              for i, q in enumerate(d.questions) if q.id is not None and q.id not in current}
    if errors:
        raise ValidationFailed(errors)

    result = SaveResult(survey)
    old_opening = None if new else survey.opens_at
    survey.title, survey.description, survey.anonymous = d.title, d.description, d.anonymous
    survey.opens_at, survey.closes_at = d.opens_at, d.closes_at
    survey.revision = (survey.revision or 0) + 1
    survey.updated_at = now
    kept = set()
    for position, qd in enumerate(d.questions):
        if qd.id is None:
            question = SurveyQuestion(position=position, key=qd.key)
            question.versions.append(_version(qd, 1, now))
            survey.all_questions.append(question)
            continue
        question = current[qd.id]
        kept.add(question.id)
        question.position = position
        version = question.current
        if _meaning(version) != _meaning(qd):
            if version.id in answered:
                question.versions.append(_version(qd, version.version + 1, now))
                result.new_versions.append(question)
            else:
                for k in _MEANING:
                    setattr(version, k, list(qd.options) if k == "options" else getattr(qd, k))
        question.current.required = qd.required
    for qid, question in current.items():
        if qid in kept:
            continue
        if any(v.id in answered for v in question.versions):
            question.removed_at = now
            result.retired.append(question)
        else:
            survey.all_questions.remove(question)
    db.session.flush()
    if survey.opens_at is not None and survey.opens_at > now:
        result.rescheduled = _wait_for_opening(survey)
    if old_opening is not None and (survey.opens_at is None or survey.opens_at < old_opening):
        result.rescheduled += _follow_earlier_opening(survey, old_opening, now)
    return result


def set_closing(survey: Survey, closes_at: datetime | None, actor, now: datetime) -> Survey:
    """Close now (``closes_at = now``), reopen (None) or move the deadline."""
    closes_at = to_utc(closes_at) if closes_at else None
    if closes_at and survey.opens_at and closes_at <= survey.opens_at:
        raise ValidationFailed({"closes_at": N_("締切は受付開始より後にしてください。")})
    survey.closes_at = closes_at
    survey.updated_at = now
    db.session.flush()
    return survey


# ------------------------------------------------------------------ who is answering
def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def registration_by_attendee_token(token: str) -> Registration | None:
    """The registration whose attendee token this is (any event), or None."""
    if not token or len(token) > 512:
        return None
    return db.session.scalar(select(Registration).where(Registration.attendee_token_hash == hash_token(token)))


def registration_by_code(event: Event, raw_code: str) -> Registration | None:
    """This event's registration with the ticket code as typed (forgiving), or None."""
    code = tickets.normalize_code(raw_code or "")
    if code is None:
        return None
    return db.session.scalar(select(Registration).where(Registration.ticket_code == code,
                                                        Registration.event_id == event.id))


def link_token(registration: Registration, secret: str) -> str:
    """The token of a personal survey link: signed (event, registration); it never expires
    (the survey's closing decides) and reveals only its holder's registration id."""
    return URLSafeSerializer(secret, salt=_LINK_SALT).dumps([registration.event_id, registration.id])


def check_eligible(event: Event, registration: Registration | None) -> Registration:
    """The registration may answer this event's survey, or a :class:`DomainError` says why."""
    if registration is None or registration.erased_at is not None:  # erased: no link reaches it
        raise NotFound("invalid_link", N_("このリンクは無効です。メールのリンクをもう一度開くか、チケットコードを入力してください。"))
    if registration.event_id != event.id:
        raise Forbidden("wrong_event", N_("このリンク（チケット）は別のイベントのものです。このイベントのアンケートには使えません。"))
    if registration.status != "confirmed":
        raise Forbidden("not_eligible", N_("参加が確定した方だけが回答できます。この申込みでは回答できません。"))
    return registration


def resolve_link(event: Event, token: str, secret: str) -> Registration:
    """Who a personal link belongs to: a signed survey link, or the attendee token itself."""
    registration = None
    try:
        event_id, registration_id = URLSafeSerializer(secret, salt=_LINK_SALT).loads(token)
        registration = db.session.get(Registration, int(registration_id))
        if registration is not None and registration.event_id != int(event_id):
            registration = None
    except (BadSignature, ValueError, TypeError):
        registration = registration_by_attendee_token(token)
    return check_eligible(event, registration)


def owner_key(secret: str, survey: Survey, registration: Registration) -> str:
    """Finds a person's own response for editing; can't be computed without the secret."""
    msg = f"eventsvc.survey-owner.v1:{survey.id}:{registration.id}".encode()
    return hmac.new(secret.encode(), msg, hashlib.sha256).hexdigest()


# ------------------------------------------------------------------ answering
def _blank(value) -> bool:
    return value is None or value == "" or value == [] or (isinstance(value, str) and not value.strip())


def validate_answers(survey: Survey, answers: list[AnswerData]) -> list[tuple[QuestionVersion, object, str]]:
    """Check every answer against the current questions; all problems at once.

    Errors are keyed ``answers.<question id>``. Returns (version, value, other) for the
    questions answered (unanswered optional questions are left out).
    """
    errors: dict[str, str] = {}
    current = {q.id: q.current for q in survey.questions}
    given: dict[int, AnswerData] = {}
    for a in answers:
        key = f"answers.{a.question_id}"
        if not _is_int(a.question_id) or a.question_id not in current:
            errors[key] = N_("この質問はこのアンケートにありません。ページを読み込み直してください。")
        elif a.question_id in given:
            errors[key] = N_("同じ質問への回答が重複しています。")
        else:
            given[a.question_id] = a
    out = []
    for qid, v in current.items():
        key = f"answers.{qid}"
        a = given.get(qid) or AnswerData(qid)
        value, other = a.value, a.other if a.other is not None else ""
        if not isinstance(other, str):
            errors[key] = N_("「その他」は文字列で入力してください。")
            continue
        if other and not (v.kind in CHOICE_KINDS and v.allow_other):
            errors[key] = N_("この質問には「その他」の欄はありません。")
            continue
        other = clean_field(errors, key, other, MAX_OTHER_ANSWER)
        if key in errors:
            continue
        if _blank(value) and not other:
            if v.required:
                errors[key] = N_("この質問は回答が必要です。")
            continue
        if v.kind == "rating":
            if not _is_int(value) or not (v.scale_min <= value <= v.scale_max):
                errors[key] = msg(N_("%(min)s〜%(max)sの中から選んでください。"), min=v.scale_min, max=v.scale_max)
                continue
        elif v.kind == "single":
            if _blank(value):
                value = None
            elif not isinstance(value, str) or value not in v.options:
                errors[key] = N_("選択肢にない回答です。")
                continue
            elif other:
                errors[key] = N_("選択肢か「その他」のどちらか一つにしてください。")
                continue
        elif v.kind == "multiple":
            if _blank(value):
                value = []
            if not isinstance(value, list) or not all(isinstance(x, str) for x in value):
                errors[key] = N_("選択肢のリストで回答してください。")
                continue
            unknown = [x for x in value if x not in v.options]
            if unknown:
                errors[key] = msg(N_("選択肢にない回答です: %(answer)s"), answer=unknown[0][:30])
                continue
            value = [o for o in v.options if o in value]  # in the question's order, once each
        else:
            limit = MAX_TEXT_ANSWER if v.kind == "text" else MAX_LONG_TEXT_ANSWER
            value = clean_field(errors, key, value, limit, multiline=v.kind == "long_text")
            if key in errors:
                continue
            if not value:
                if v.required:
                    errors[key] = N_("この質問は回答が必要です。")
                continue
        out.append((v, value, other))
    if errors:
        raise ValidationFailed(errors, N_("回答内容を確認してください。"))
    return out


def _lock_registration(registration: Registration) -> None:
    """Serialise submits of one person (PostgreSQL row lock; SQLite writes are already serial)."""
    db.session.execute(select(Registration.id).where(Registration.id == registration.id).with_for_update())


def submit_response(survey: Survey, registration: Registration, answers: list[AnswerData], now: datetime, *,
                    secret: str, revision: int | None = None) -> SurveyResponse:
    """Save a person's answers; a second submit replaces the first (until the survey closes).

    Everything is checked before anything is written. ``revision`` (from a form) refuses
    answers to questions that changed while the person was answering.
    """
    check_eligible(survey.event, registration)
    check_open(survey, now)
    if revision is not None and revision != survey.revision:
        raise Conflict("survey_changed", N_("回答中にアンケートの内容が更新されました。内容を確認して、もう一度送信してください。"))
    cleaned = validate_answers(survey, answers)
    _lock_registration(registration)
    key = owner_key(secret, survey, registration)
    response = db.session.scalar(select(SurveyResponse).where(SurveyResponse.survey_id == survey.id,
                                                              SurveyResponse.owner_key == key))
    if response is None:
        response = SurveyResponse(id=secrets.token_hex(16), survey_id=survey.id, owner_key=key)
        db.session.add(response)
    else:
        db.session.execute(delete(SurveyAnswer).where(SurveyAnswer.response_id == response.id))
        db.session.expire(response, ["answers"])
    response.registration_id = None if survey.anonymous else registration.id
    response.submitted_at = None if survey.anonymous else now
    for version, value, other in cleaned:
        db.session.add(SurveyAnswer(response_id=response.id, question_version_id=version.id, value=value,
                                    other=other))
    respondent = db.session.scalar(select(SurveyRespondent).where(SurveyRespondent.survey_id == survey.id,
                                                                  SurveyRespondent.registration_id == registration.id))
    if respondent is None:
        db.session.add(SurveyRespondent(survey_id=survey.id, registration_id=registration.id, first_at=now,
                                        last_at=now))
    else:
        respondent.last_at = now
    try:
        db.session.flush()
    except IntegrityError:
        # only if the lock above was bypassed; the caller rolls back and may retry
        raise Conflict("duplicate_submission",
                       N_("同じ回答が同時に送信されました。もう一度送信してください。")) from None
    return response


def my_answers(survey: Survey, registration: Registration, secret: str) -> dict[int, AnswerData] | None:
    """The person's saved answers to the current questions (by question id), or None."""
    key = owner_key(secret, survey, registration)
    response = db.session.scalar(select(SurveyResponse).where(SurveyResponse.survey_id == survey.id,
                                                              SurveyResponse.owner_key == key))
    if response is None:
        return None
    by_version = {q.current.id: q.id for q in survey.questions}
    return {by_version[a.question_version_id]: AnswerData(by_version[a.question_version_id], a.value, a.other)
            for a in response.answers if a.question_version_id in by_version}


def has_responded(survey: Survey, registration: Registration) -> bool:
    return db.session.scalar(select(SurveyRespondent.id).where(
        SurveyRespondent.survey_id == survey.id, SurveyRespondent.registration_id == registration.id)) is not None


# ------------------------------------------------------------------ attendance hook
#: ``fn(event) -> set of registration ids that checked in``; check-in registers itself here
AttendanceSource = Callable[[Event], set[int]]
_attendance_sources: list[AttendanceSource] = []


def register_attendance_source(fn: AttendanceSource) -> None:
    if fn not in _attendance_sources:
        _attendance_sources.append(fn)


def checked_in_ids(event: Event) -> set[int] | None:
    """Registration ids that checked in, or None when no check-in source is plugged in."""
    if not _attendance_sources:
        return None
    out: set[int] = set()
    for fn in _attendance_sources:
        out |= set(fn(event))
    return out


def answerable_ids(event: Event) -> set[int]:
    """The people who may answer: confirmed registrations whose personal data is not erased."""
    return set(db.session.scalars(select(Registration.id).where(
        Registration.event_id == event.id, Registration.status == "confirmed", Registration.erased_at.is_(None))))


# ------------------------------------------------------------------ results
@dataclass
class SurveyResults:
    """Results and response rates.

    ``responses`` counts every saved response (also from people who did not check in, and
    the anonymised responses of people whose data was erased). The rates count people, not
    responses: of the people who may answer (confirmed, personal data not erased —
    :func:`answerable_ids`), ``confirmed`` is how many there are and ``respondents_confirmed``
    how many of them responded; ``checked_in`` / ``respondents_checked_in`` the same among
    those of them with a valid check-in. So a rate is never above 100 %, and it stays true
    when someone's data is erased (they leave both sides of it).
    """

    survey: Survey
    responses: int
    confirmed: int
    #: None when check-in is unknown (no attendance source)
    checked_in: int | None
    questions: list[aggregate.QuestionResult]
    #: earlier versions and removed questions that have answers (label, result)
    earlier: list[tuple[str, aggregate.QuestionResult]]
    respondents_confirmed: int = 0
    #: None when check-in is unknown
    respondents_checked_in: int | None = None

    @property
    def rate_checked_in(self) -> float | None:
        if not self.checked_in or self.respondents_checked_in is None:
            return None
        return aggregate.percent(self.respondents_checked_in, self.checked_in)

    @property
    def rate_confirmed(self) -> float | None:
        return aggregate.percent(self.respondents_confirmed, self.confirmed) if self.confirmed else None


def spec(v: QuestionVersion) -> aggregate.QuestionSpec:
    return aggregate.QuestionSpec(id=v.id, kind=v.kind, text=v.text, options=tuple(v.options or ()),
                                  allow_other=v.allow_other, scale_min=v.scale_min, scale_max=v.scale_max,
                                  min_label=v.min_label, max_label=v.max_label)


def _answer_rows(survey: Survey, version_ids: list[int] | None = None):
    """(response id, version id, value, other, author) rows, in response-id order (random).

    The author is filled only for named surveys; for anonymous ones no person is read.
    """
    q = (select(SurveyAnswer.response_id, SurveyAnswer.question_version_id, SurveyAnswer.value,
                SurveyAnswer.other, SurveyResponse.registration_id)
         .join(SurveyResponse, SurveyResponse.id == SurveyAnswer.response_id)
         .where(SurveyResponse.survey_id == survey.id)
         .order_by(SurveyAnswer.response_id, SurveyAnswer.question_version_id))
    if version_ids is not None:
        q = q.where(SurveyAnswer.question_version_id.in_(version_ids))
    rows = db.session.execute(q).all()
    authors: dict[int, str] = {}
    if not survey.anonymous:
        ids = {r.registration_id for r in rows if r.registration_id}
        if ids:
            for reg in db.session.scalars(select(Registration).where(Registration.id.in_(ids))):
                authors[reg.id] = f"{reg.name}（{reg.organization_name}）" if reg.organization_name else reg.name
    return [(r.response_id, r.question_version_id, r.value, r.other or "",
             "" if survey.anonymous else authors.get(r.registration_id, "")) for r in rows]


def _answers(rows) -> list[aggregate.Answer]:
    return [aggregate.Answer(question_id=vid, value=value, other=other, author=author)
            for _rid, vid, value, other, author in rows]


def results(survey: Survey, *, other_label: str = "その他") -> SurveyResults:
    rows = _answer_rows(survey)
    answers = _answers(rows)
    current = survey.questions
    questions = aggregate.summarise([spec(q.current) for q in current], answers, other_label=other_label)
    answered = {vid for _r, vid, *_ in rows}
    earlier = []
    for q in survey.all_questions:
        for v in q.versions:
            if v.id in answered and (q.removed_at is not None or v is not q.current):
                label = (N_("削除した質問") if q.removed_at is not None and v is q.current
                         else msg(N_("変更前（第%(version)s版）"), version=v.version))
                earlier.append((label, aggregate.summarise_one(spec(v), answers, other_label=other_label)))
    people = answerable_ids(survey.event)
    respondents = _respondent_ids(survey) & people
    came = checked_in_ids(survey.event)
    came = None if came is None else came & people
    return SurveyResults(survey=survey, responses=response_count(survey), confirmed=len(people),
                         checked_in=None if came is None else len(came), questions=questions, earlier=earlier,
                         respondents_confirmed=len(respondents),
                         respondents_checked_in=None if came is None else len(respondents & came))


# ------------------------------------------------------------------ exports
#: how an export words its own labels: ``say(msgid, **values)``
Say = Callable[..., str]


def _japanese(message: str, /, **values) -> str:
    return message % values if values else message


def _wording(locale: str) -> Say:
    """An export's own labels in ``locale``. The API's files are in Japanese (the default); the
    organizer pages ask for the page's language, so a file downloaded from the English UI is in
    English. What people answered, and the organizer's questions, stay as written."""
    if locale == "ja":
        return _japanese

    def say(message: str, /, **values) -> str:
        with force_locale(locale):
            return gettext(message, **values)

    return say


def _cell(v: QuestionVersion, value, other: str, say: Say) -> str | int | None:
    if v.kind == "rating":
        return value if _is_int(value) else None
    parts = []
    if isinstance(value, list):
        parts = [str(x) for x in value]
    elif isinstance(value, str) and value:
        parts = [value]
    if other:
        parts.append(say(N_("その他: %(text)s"), text=other))
    return " / ".join(parts) if parts else None


def export_table(survey: Survey, locale: str = "ja") -> tuple[list[str], list[list]]:
    """One row per response. Anonymous surveys: in random order, with no name and no time."""
    rows = _answer_rows(survey)
    answered = {vid for _r, vid, *_ in rows}
    columns: list[QuestionVersion] = []
    for q in survey.questions:
        columns += [v for v in q.versions if v.id in answered and v is not q.current]
        columns.append(q.current)
    for q in survey.all_questions:
        if q.removed_at is not None:
            columns += [v for v in q.versions if v.id in answered]
    number = {q.id: n for n, q in enumerate(survey.questions, start=1)}
    say = _wording(locale)

    def title(v: QuestionVersion) -> str:
        n = number.get(v.question_id)
        head = f"Q{n}" if n else say(N_("削除した質問"))
        if n and v is not v.question.current:
            head += say(N_("（変更前 第%(version)s版）"), version=v.version)
        return f"{head} {v.text}"

    header = ["No."]
    if not survey.anonymous:
        header += [say(N_("氏名")), say(N_("所属")), say(N_("回答日時"))]
    header += [title(v) for v in columns]
    by_response: dict[str, dict[int, tuple]] = {}
    for rid, vid, value, other, _author in rows:
        by_response.setdefault(rid, {})[vid] = (value, other)
    responses = db.session.scalars(select(SurveyResponse).where(SurveyResponse.survey_id == survey.id)
                                   .order_by(SurveyResponse.id)).all()
    people: dict[int, Registration] = {}
    if not survey.anonymous:
        ids = [r.registration_id for r in responses if r.registration_id]
        people = {p.id: p for p in db.session.scalars(select(Registration).where(Registration.id.in_(ids)))}
        responses = sorted(responses, key=lambda r: (r.submitted_at.timestamp() if r.submitted_at else 0, r.id))
    table = []
    for i, r in enumerate(responses, start=1):
        row: list = [i]
        if not survey.anonymous:
            p = people.get(r.registration_id)
            row += [p.name if p else "", p.organization_name if p else "",
                    format_datetime(r.submitted_at, locale) if r.submitted_at else ""]
        got = by_response.get(r.id, {})
        for v in columns:
            value, other = got.get(v.id, (None, ""))
            row.append(_cell(v, value, other, say))
        table.append(row)
    return header, table


#: a question's kind as the summary sheet names it
KIND_LABELS = {"rating": N_("評価"), "single": N_("単一選択"), "multiple": N_("複数選択"), "text": N_("短い文章"),
               "long_text": N_("長い文章")}


def summary_table(res: SurveyResults, locale: str = "ja") -> tuple[list[str], list[list]]:
    say = _wording(locale)
    header = [say(h) for h in (N_("質問"), N_("種類"), N_("回答数"), N_("平均"), "NPS", N_("選択肢・値"), N_("件数"),
                               N_("割合(%)"))]
    rows: list[list] = []
    for n, r in enumerate(res.questions, start=1):
        q = r.question
        head = [f"Q{n} {q.text}", say(KIND_LABELS[q.kind]) if q.kind in KIND_LABELS else q.kind, r.count, r.average, r.nps.score if r.nps else None]
        if r.distribution:
            for b in r.distribution:
                rows.append(head + [b.label, b.count, b.percent])
                head = ["", "", None, None, None]
        else:
            rows.append(head + [None, None, None])
    return header, rows


def export_csv(survey: Survey, locale: str = "ja") -> bytes:
    header, rows = export_table(survey, locale)
    return export.to_csv(header, rows)


def export_xlsx(survey: Survey, locale: str = "ja") -> bytes:
    header, rows = export_table(survey, locale)
    say = _wording(locale)
    s_header, s_rows = summary_table(results(survey, other_label=say(N_("その他"))), locale)
    return export.to_xlsx([export.Sheet(say(N_("回答")), header, rows), export.Sheet(say(N_("集計")), s_header, s_rows)])


# ------------------------------------------------------------------ comparing events
@dataclass
class CompareChoice:
    key: str
    kind: str
    text: str
    events: int


@dataclass
class CompareRow:
    event: Event
    responses: int
    result: aggregate.QuestionResult


def compare_key(question: SurveyQuestion) -> str | None:
    """The same question across surveys: the template key (or the wording), kind and scale."""
    v = question.current
    if v.kind not in ("rating", "single", "multiple"):
        return None
    shape = f"{v.kind}:{v.scale_min}-{v.scale_max}" if v.kind == "rating" else v.kind
    if question.key:
        return f"k-{question.key}-{hashlib.sha1(shape.encode()).hexdigest()[:8]}"
    return "t-" + hashlib.sha1(f"{shape}\n{v.text}".encode()).hexdigest()[:16]


def _managed_surveys(organizer) -> list[Survey]:
    q = select(Survey).join(Event, Event.id == Survey.event_id).order_by(Event.starts_at)
    if not organizer.is_admin:
        q = q.where(Event.organizers.any(id=organizer.id))
    return list(db.session.scalars(q))


def comparable_questions(organizer) -> list[CompareChoice]:
    seen: dict[str, CompareChoice] = {}
    for survey in _managed_surveys(organizer):
        for q in survey.questions:
            key = compare_key(q)
            if key is None:
                continue
            if key in seen:
                seen[key].events += 1
            else:
                seen[key] = CompareChoice(key, q.current.kind, q.current.text, 1)
    return sorted(seen.values(), key=lambda c: (-c.events, c.text))


def compare(organizer, key: str, *, region: str | None = None, other_label: str = "その他") -> list[CompareRow]:
    """The same question in each of the organizer's surveys, oldest event first."""
    out = []
    for survey in _managed_surveys(organizer):
        if region and survey.event.region != region:
            continue
        for q in survey.questions:
            if compare_key(q) == key:
                answers = _answers(_answer_rows(survey, [q.current.id]))
                out.append(CompareRow(survey.event, response_count(survey),
                                      aggregate.summarise_one(spec(q.current), answers, other_label=other_label)))
                break
    return out


# ------------------------------------------------------------------ invitations and reminders
@dataclass
class InviteContext:
    survey: Survey
    event: Event
    registration: Registration
    #: the person's own link
    link: str
    #: ``invite`` or ``reminder``
    purpose: str
    now: datetime


@dataclass
class Outgoing:
    """What a channel wants to send: a delivery ``kind`` (its sender), ``target`` and ``payload``."""

    kind: str
    target: str
    payload: dict


InviteChannel = Callable[[InviteContext], Outgoing | None]
_channels: dict[str, InviteChannel] = {}


def register_invite_channel(name: str, build: InviteChannel) -> None:
    """Add a channel (``mail`` is built in; Slack registers ``slack`` → ``slack.survey_dm``).

    ``build`` returns None when it can't reach the person (e.g. no linked Slack account).
    """
    _channels[name] = build


def _mail(ctx: InviteContext) -> Outgoing | None:
    if not ctx.registration.email:
        return None
    kind = "mail.survey_reminder" if ctx.purpose == "reminder" else "mail.survey_invite"
    return Outgoing(kind, ctx.registration.email,
                    mail.message(ctx.registration, ctx.survey, ctx.event, ctx.link, ctx.purpose))


register_invite_channel("mail", _mail)


@dataclass
class SendNote:
    """Something the organizer should know about a send (the API's ``warnings``): a code and a
    message (``at``: the date it names, for pages to write in their language)."""

    code: str
    message: object


@dataclass
class SendResult:
    deliveries: list[Delivery] = field(default_factory=list)
    #: registrations written to (at least one channel)
    people: int = 0
    #: already answered (not sent)
    answered: int = 0
    #: already sent earlier (dedupe key existed)
    already_sent: int = 0
    #: the survey is not open yet: the deliveries written wait for its opening (None: they go now)
    scheduled_at: datetime | None = None
    notes: list[SendNote] = field(default_factory=list)


def _enqueue(out: Outgoing, *, event: Event, registration: Registration, dedupe_key: str,
             now: datetime, not_before: datetime | None = None) -> tuple[Delivery, bool]:
    """An outbox row in this transaction; (row, created). The dedupe key makes it once only."""
    existing = db.session.scalar(select(Delivery).where(Delivery.dedupe_key == dedupe_key))
    if existing is not None:
        return existing, False
    row = outbox.enqueue(out.kind, out.target, out.payload, event_id=event.id, registration_id=registration.id,
                         dedupe_key=dedupe_key, now=now, not_before=not_before)
    return row, True


def invitation_key(survey: Survey, registration: Registration, channel: str, tag: str = "invite") -> str:
    """The dedupe key of a survey invitation (``tag`` = ``invite``, or ``reminder-YYYYMMDD``)
    on one channel: another sender of the same message (a Slack survey DM) can share it."""
    return f"survey:{survey.id}:{tag}:{channel}:{registration.id}"


def _respondent_ids(survey: Survey) -> set[int]:
    return set(db.session.scalars(select(SurveyRespondent.registration_id)
                                  .where(SurveyRespondent.survey_id == survey.id)))


def _survey_prefix(survey: Survey) -> str:
    """The start of every dedupe key of this survey's invitations and reminders (any channel)."""
    return f"survey:{survey.id}:"


def _wait_for_opening(survey: Survey) -> int:
    """Invitations and reminders of ``survey`` not sent yet wait until it opens (``opens_at``);
    returns how many rows were moved. Held rows too: released later, they still wait."""
    res = db.session.execute(
        update(Delivery).where(Delivery.event_id == survey.event_id,
                               Delivery.dedupe_key.startswith(_survey_prefix(survey)),
                               Delivery.state.in_(("queued", "held")), Delivery.next_attempt_at < survey.opens_at)
        .values(next_attempt_at=survey.opens_at).execution_options(synchronize_session="fetch"))
    return res.rowcount or 0


def _follow_earlier_opening(survey: Survey, old_opening: datetime, now: datetime) -> int:
    """The opening moved earlier or was cleared: the invitations and reminders not sent yet that
    waited for the old opening go out at the new one (now when it is cleared or past), never
    before it; returns how many rows were moved. Rows waiting for something else (a retry's
    backoff) keep their time. A Slack survey DM queued from the Slack page (its payload carries
    the ``not_before`` it was planned with) also waits for the event's end, as that page plans it."""
    at = max(now, survey.opens_at or now)
    rows = db.session.scalars(select(Delivery).where(
        Delivery.event_id == survey.event_id, Delivery.dedupe_key.startswith(_survey_prefix(survey)),
        Delivery.state.in_(("queued", "held")), Delivery.next_attempt_at == old_opening)).all()
    moved = 0
    for row in rows:
        due = max(at, survey.event.ends_at) if "not_before" in (row.payload or {}) else at
        if due < row.next_attempt_at:
            row.next_attempt_at = due
            moved += 1
    db.session.flush()
    return moved


def _retry_not_before(row: Delivery, now: datetime) -> datetime | None:
    """An invitation or reminder sent again (the organizer's 再送) while the survey is not open
    yet waits for the opening, as it did when it was first written (:func:`_send`)."""
    survey_id = (row.dedupe_key or "").split(":")[1] if (row.dedupe_key or "").startswith("survey:") else ""
    if not survey_id.isdigit():
        return None
    survey = db.session.get(Survey, int(survey_id))
    if survey is None or survey.event_id != row.event_id or state(survey, now) != "scheduled":
        return None
    return survey.opens_at


outbox.register_retry_not_before(_retry_not_before)


def scheduled_deliveries(survey: Survey, now: datetime) -> list[tuple[datetime, int]]:
    """Invitations and reminders not tried yet that wait for a later time (the opening):
    (when, how many), soonest first."""
    rows = db.session.execute(
        select(Delivery.next_attempt_at, func.count()).where(
            Delivery.event_id == survey.event_id,
            Delivery.dedupe_key.startswith(_survey_prefix(survey)),
            Delivery.state == "queued", Delivery.attempts == 0, Delivery.next_attempt_at > now)
        .group_by(Delivery.next_attempt_at).order_by(Delivery.next_attempt_at))
    return [(at, n) for at, n in rows]


def _send(survey: Survey, people: list[Registration], purpose: str, now: datetime, tag: str,
          link_for: Callable[[Registration], str]) -> SendResult:
    result = SendResult()
    if state(survey, now) == "scheduled":
        # sent before the survey opens, the link would only say "opens at …": wait for the opening
        result.scheduled_at = survey.opens_at
    responded = _respondent_ids(survey)
    for reg in people:
        if reg.id in responded:
            result.answered += 1
            continue
        ctx = InviteContext(survey, survey.event, reg, link_for(reg), purpose, now)
        wrote = False
        for name, build in _channels.items():
            out = build(ctx)
            if out is None:
                continue
            row, created = _enqueue(out, event=survey.event, registration=reg, now=now,
                                    not_before=result.scheduled_at,
                                    dedupe_key=invitation_key(survey, reg, name, tag))
            if created:
                result.deliveries.append(row)
                wrote = True
            else:
                result.already_sent += 1
        result.people += wrote
    if result.scheduled_at is not None and result.deliveries:
        result.notes.append(SendNote("waits_for_opening", msg(
            N_("アンケートの受付開始（%(when)s）まで送信を待ちます。受付開始を遅らせると、送信もそれに合わせて遅れます。"),
            when=format_datetime(result.scheduled_at), at=result.scheduled_at)))
    return result


def _check_sendable(survey: Survey, now: datetime, purpose: str) -> None:
    st = state(survey, now)
    if st == "closed":
        raise Conflict("survey_closed", N_("締め切ったアンケートの案内は送れません。"))
    if st == "scheduled" and purpose == "reminder":
        # nobody can have answered yet: a reminder would only repeat the invitation
        raise Conflict("survey_not_open", msg(N_("アンケートの受付開始（%(when)s）より前には、リマインドは送れません。"),
                                              when=format_datetime(survey.opens_at), at=survey.opens_at))


def send_invitations(survey: Survey, actor, now: datetime, *, link_for: Callable[[Registration], str]) -> SendResult:
    """Invite the people who checked in (and have not answered yet), once each per channel.

    Before the survey opens the deliveries are written at once but wait for the opening
    (``next_attempt_at``; :attr:`SendResult.scheduled_at`): an invitation never leads to a page
    that can't be answered yet. Moving the opening later moves them too (:func:`save_survey`).
    """
    _check_sendable(survey, now, "invite")
    ids = checked_in_ids(survey.event)
    if ids is None:
        raise Conflict("attendance_unknown",
                       N_("受付（チェックイン）の記録を読めないため、来場した人が分かりません。招待は送っていません。"))
    people = list(db.session.scalars(select(Registration).where(
        Registration.event_id == survey.event_id, Registration.status == "confirmed",
        Registration.erased_at.is_(None), Registration.id.in_(ids)).order_by(Registration.id))) if ids else []
    result = _send(survey, people, "invite", now, "invite", link_for)
    if not people:
        result.notes.append(SendNote("nobody_checked_in", N_(
            "受付（チェックイン）をした人がまだいないため、誰にも送っていません。招待は来場した人にだけ送ります。")))
    return result


def send_reminders(survey: Survey, actor, now: datetime, *, link_for: Callable[[Registration], str]) -> SendResult:
    """Remind those invited who have not answered; at most once a day (Japan time) per person.
    Not before the survey opens (409 ``survey_not_open``)."""
    _check_sendable(survey, now, "reminder")
    invited = select(Delivery.registration_id).where(Delivery.event_id == survey.event_id,
                                                     Delivery.dedupe_key.startswith(f"survey:{survey.id}:invite:"))
    people = list(db.session.scalars(select(Registration).where(
        Registration.event_id == survey.event_id, Registration.status == "confirmed",
        Registration.erased_at.is_(None), Registration.id.in_(invited)).order_by(Registration.id)))
    return _send(survey, people, "reminder", now, f"reminder-{to_jst(now):%Y%m%d}", link_for)


def invitation_counts(survey: Survey) -> dict[str, int]:
    """How many people were invited / reminded (any channel)."""
    rows = db.session.execute(select(Delivery.dedupe_key).where(
        Delivery.event_id == survey.event_id, Delivery.dedupe_key.startswith(_survey_prefix(survey))))
    invited, reminded = set(), set()
    for (key,) in rows:
        parts = key.split(":")
        (invited if parts[2] == "invite" else reminded).add(parts[-1])
    return {"invited": len(invited), "reminded": len(reminded)}


__all__ = [
    "DEFAULT_OPENING", "AnswerData", "CompareChoice", "CompareRow", "DomainError", "InviteContext", "Outgoing",
    "QuestionData", "SaveResult", "SendNote", "SendResult", "SurveyData", "SurveyResults", "answerable_ids",
    "check_eligible", "check_open", "checked_in_ids", "compare", "comparable_questions", "create_survey",
    "default_template", "export_csv", "export_table", "export_xlsx", "get_by_short_code", "get_survey",
    "has_responded", "invitation_key", "link_token", "my_answers", "register_attendance_source",
    "register_invite_channel", "registration_by_attendee_token", "registration_by_code", "require_survey",
    "resolve_link", "results", "save_survey", "scheduled_deliveries", "send_invitations", "send_reminders",
    "set_closing", "state", "submit_response", "validate_answers", "validate_survey",
]
