"""Registration rules over the session: register, cancel, review, promote, offers, lottery, the door.

Plain functions: they take rows, the actor and ``now``; they ``flush()`` and never commit;
errors are :class:`~eventsvc.errors.DomainError` with stable codes. Every change that
someone must hear about enqueues a ``mail.*`` delivery in the same transaction.

Capacity is counted under a lock at the moment of the decision: on PostgreSQL the
participation type's row is locked (``SELECT … FOR UPDATE``) and the seats recounted;
on SQLite the request already holds the write lock (``BEGIN IMMEDIATE``). The test-only
switch ``REGISTRATION_UNSAFE_NO_LOCK`` (honoured only with ``TESTING``) skips the lock so
the concurrency test can show what the lock prevents; ``REGISTRATION_UNSAFE_DELAY`` widens
the gap between counting and writing to make that deterministic.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import secrets
import time
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

from email_validator import EmailNotValidError, validate_email
from flask import current_app
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer
from itsdangerous.encoding import base64_encode
from itsdangerous.url_safe import URLSafeSerializerMixin
from sqlalchemy import bindparam, func, or_, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import joinedload, selectinload
from sqlalchemy.orm.attributes import set_committed_value

from .. import database
from ..core import orgs
from ..core.clock import now_utc
from ..core.i18n import N_, msg
from ..core.text import (
    TextError,
    check_text,
    clean_field,
    is_katakana_reading,
    normalize_email,
    search_key,
    to_katakana,
)
from ..errors import Conflict, DomainError, EventChanged, NotFound, ValidationFailed
from ..events import service as events_service
from ..events.models import Event, TicketType
from ..extensions import db
from ..outbox import service as outbox
from ..outbox.models import SUPERSEDED, Delivery
from ..outbox.renderers import RenderError, register_renderer
from . import lottery, mail, reuse, rules, tickets
from .models import (
    ACTIVE,
    PROMOTION_MODES,
    QUESTION_KINDS,
    SEATED,
    LotteryDraw,
    Registration,
    RegistrationSettings,
)

ATTENDEE_PREFIX = "att_"
LINK_SALT = "eventsvc.attendee-link.v1"
DEFAULT_LINK_DAYS = 180
MAX_QUESTIONS = 20
MAX_OPTIONS = 30
#: the longest answer to a question of a text kind (the form's fields say the same)
ANSWER_MAX_LENGTH = {"text": 200, "long_text": 2000}


# ------------------------------------------------------------------ inputs
@dataclass
class RegistrationData:
    """What a person types into the form (or posts to the API)."""

    name: str
    name_kana: str
    email: str
    organization_code: str | None = None
    organization_name: str = ""
    department: str = ""
    ticket_type: str | None = None
    answers: dict = field(default_factory=dict)
    consent_privacy: bool = False
    consent_slack_mention: bool = False
    consent_listing: bool = False
    locale: str = "ja"


@dataclass
class Question:
    id: str
    kind: str
    text: str
    options: list[str] = field(default_factory=list)
    required: bool = False

    @property
    def max_length(self) -> int | None:
        """The longest answer taken (text kinds), else None."""
        return ANSWER_MAX_LENGTH.get(self.kind)

    def as_dict(self) -> dict:
        return {"id": self.id, "kind": self.kind, "text": self.text, "options": list(self.options),
                "required": self.required}


# ------------------------------------------------------------------ settings
def settings_for(event: Event) -> RegistrationSettings:
    """The event's settings row, or unsaved defaults.

    An event read by :func:`event_for_registration` came with its row, or with the news that it
    has none (a row made since, by :func:`new_settings_row`, replaces that news): the database
    is not asked again."""
    known = getattr(event, "_registration_settings_ref", _UNREAD)
    row = known if known is not _UNREAD else db.session.get(RegistrationSettings, event.id)
    return row if row is not None else _default_settings(event)


_UNREAD = object()


def _default_settings(event: Event, **extra) -> RegistrationSettings:
    return RegistrationSettings(event_id=event.id, promotion_mode="auto", offer_hours=48, questions=[],
                                lottery_at=None, privacy_purpose="", **extra)


def new_settings_row(event: Event, now: datetime | None = None) -> RegistrationSettings:
    """Add the event's settings row (defaults) to the session: the only way one is made."""
    row = _default_settings(event, updated_at=now or now_utc())
    db.session.add(row)
    event._registration_settings_ref = row
    return row


def questions_of(event: Event) -> list[Question]:
    return [Question(**q) for q in (settings_for(event).questions or [])]


events_service.register_question_source(questions_of)  # the event's API resource publishes them


def update_settings(event: Event, actor, now: datetime, *, promotion_mode: str, offer_hours: int,
                    questions: list[Question], lottery_at: datetime | None, privacy_purpose: str) -> RegistrationSettings:
    errors: dict[str, str] = {}
    if promotion_mode not in PROMOTION_MODES:
        errors["promotion_mode"] = N_("auto または offer を指定してください。")
    if not isinstance(offer_hours, int) or isinstance(offer_hours, bool) or not 1 <= offer_hours <= 24 * 14:
        errors["offer_hours"] = N_("1〜336時間で指定してください。")
    try:
        privacy_purpose = check_text(privacy_purpose or "", max_length=2000, multiline=True)
    except TextError as err:
        errors["privacy_purpose"] = err.message
    cleaned = _clean_questions(questions, errors)
    if lottery_at is not None and lottery_at.tzinfo is None:
        errors["lottery_at"] = N_("日時にタイムゾーンがありません。")
    if errors:
        raise ValidationFailed(errors)
    row = db.session.get(RegistrationSettings, event.id) or new_settings_row(event, now)
    row.promotion_mode, row.offer_hours = promotion_mode, offer_hours
    row.questions = [q.as_dict() for q in cleaned]
    row.lottery_at, row.privacy_purpose, row.updated_at = lottery_at, privacy_purpose, now
    db.session.flush()
    return row


def _clean_questions(questions: list[Question], errors: dict) -> list[Question]:
    if len(questions) > MAX_QUESTIONS:
        errors["questions"] = msg(N_("質問は%(n)s件までです。"), n=MAX_QUESTIONS)
        return []
    out, seen = [], set()
    for i, q in enumerate(questions):
        key = f"questions.{i}"
        qid = (q.id or "").strip() or f"q{uuid.uuid4().hex[:8]}"
        if not qid.replace("_", "").replace("-", "").isalnum() or len(qid) > 32 or qid in seen:
            errors[f"{key}.id"] = N_("質問IDは半角英数字（32文字以内、重複なし）です。")
        seen.add(qid)
        if q.kind not in QUESTION_KINDS:
            errors[f"{key}.kind"] = N_("種類は text / long_text / single / multiple です。")
        try:
            text = check_text(q.text or "", max_length=500)
        except TextError as err:
            errors[f"{key}.text"] = err.message
            text = q.text or ""
        if not text:
            errors[f"{key}.text"] = N_("質問文を入力してください。")
        options = []
        for opt in q.options or []:
            try:
                o = check_text(opt, max_length=200)
            except TextError as err:
                errors[f"{key}.options"] = err.message
                continue
            if o and o not in options:
                options.append(o)
        if q.kind in ("single", "multiple") and not options:
            errors[f"{key}.options"] = N_("選択肢を1つ以上入力してください。")
        if len(options) > MAX_OPTIONS:
            errors[f"{key}.options"] = msg(N_("選択肢は%(n)s件までです。"), n=MAX_OPTIONS)
        out.append(Question(qid, q.kind, text, options if q.kind in ("single", "multiple") else [], bool(q.required)))
    return out


# ------------------------------------------------------------------ validation
def check_email(errors: dict, value: str, key: str = "email") -> str:
    raw = clean_field(errors, key, value, 320, required=True, label=N_("メールアドレス"))
    if key in errors:
        return raw
    email = normalize_email(raw)
    if len(email) > 254:
        errors[key] = N_("メールアドレスが長すぎます。")
        return email
    try:
        validate_email(email, check_deliverability=False, allow_smtputf8=True)
    except EmailNotValidError:
        errors[key] = N_("メールアドレスの形式が正しくありません（例: taro@city.example.lg.jp）。")
    return email


def _answers(errors: dict, questions: list[Question], given: dict, *, require: bool = True) -> dict:
    """The answers to the event's questions, checked; ``require=False`` lets required ones be left
    out (at the door, where nobody fills in the event's questionnaire)."""
    out: dict = {}
    if not isinstance(given, dict):
        errors["answers"] = N_("回答はオブジェクトで指定してください。")
        return out
    known = {q.id for q in questions}
    for qid in given:
        if qid not in known:
            errors[f"answers.{str(qid)[:40]}"] = N_("この質問はありません。")
    for q in questions:
        key = f"answers.{q.id}"
        value = given.get(q.id)
        required = q.required and require
        if q.kind in ("text", "long_text"):
            v = clean_field(errors, key, value, ANSWER_MAX_LENGTH[q.kind], multiline=q.kind == "long_text")
            if required and not v and key not in errors:
                errors[key] = N_("回答してください。")
            if v:
                out[q.id] = v
        elif q.kind == "single":
            if value in (None, ""):
                if required:
                    errors[key] = N_("選んでください。")
            elif not isinstance(value, str) or value not in q.options:
                errors[key] = N_("選択肢から選んでください。")
            else:
                out[q.id] = value
        else:
            values = value if isinstance(value, list) else ([] if value in (None, "") else [value])
            if any(not isinstance(v, str) or v not in q.options for v in values):
                errors[key] = N_("選択肢から選んでください。")
            elif required and not values:
                errors[key] = N_("1つ以上選んでください。")
            elif values:
                out[q.id] = [o for o in q.options if o in values]
    return out


@dataclass
class Clean:
    name: str
    name_kana: str
    email: str
    organization_code: str | None
    organization_name: str
    department: str
    ticket_type: TicketType | None
    answers: dict
    data: RegistrationData


def validate(event: Event, data: RegistrationData, *, require_consent: bool = False,
             require_organization: bool = False, check_email_field: bool = True,
             require_answers: bool = True) -> Clean:
    """Clean the input; :class:`ValidationFailed` lists every problem at once.

    ``require_answers=False``: the event's required questions may be left unanswered (the door)."""
    errors: dict[str, str] = {}
    name = clean_field(errors, "name", data.name, 100, required=True, label=N_("氏名"))
    kana_raw = clean_field(errors, "name_kana", data.name_kana, 100, required=True, label=N_("ふりがな"))
    kana = to_katakana(kana_raw) if "name_kana" not in errors else kana_raw
    if "name_kana" not in errors and not is_katakana_reading(kana):
        errors["name_kana"] = N_("ふりがなは、ひらがなかカタカナで入力してください。")
    email = check_email(errors, data.email) if check_email_field else data.email
    code = (data.organization_code or "").strip() or None
    org_name = clean_field(errors, "organization_name", data.organization_name, 200)
    if code is not None:
        org = orgs.get(code) if isinstance(code, str) and len(code) <= 32 else None
        if org is None:
            errors["organization_code"] = N_("所属の団体が見つかりません。一覧から選ぶか、所属名を入力してください。")
        else:
            org_name = org.name
    if require_organization and not code and not org_name and "organization_name" not in errors:
        errors["organization_name"] = N_("所属を選ぶか入力してください。")
    department = clean_field(errors, "department", data.department, 200)
    tt = None
    if data.ticket_type in (None, ""):
        tt = event.ticket_types[0] if event.ticket_types else None
    else:
        tt = event.ticket_type(data.ticket_type) if isinstance(data.ticket_type, str) else None
        if tt is None:
            errors["ticket_type"] = N_("参加区分を選んでください。")
    if tt is None and "ticket_type" not in errors:
        errors["ticket_type"] = N_("このイベントには参加区分がありません。")
    answers = _answers(errors, questions_of(event), data.answers or {}, require=require_answers)
    if require_consent and not data.consent_privacy:
        errors["consent_privacy"] = N_("個人情報の取扱いへの同意が必要です。")
    if errors:
        raise ValidationFailed(errors)
    return Clean(name, kana, email, code, org_name, department, tt, answers, data)


# ------------------------------------------------------------------ locking and counting
@functools.cache
def _lock_statement(for_update: bool):
    q = select(TicketType.capacity).where(TicketType.id == bindparam("tt_id"))
    return q.with_for_update() if for_update else q


def _locks_rows() -> bool:
    """PostgreSQL locks the participation type's row; SQLite's write transaction
    (``BEGIN IMMEDIATE``) already holds the one write lock of the database."""
    config = current_app.config
    unsafe = config.get("REGISTRATION_UNSAFE_NO_LOCK") and config.get("TESTING")
    return db.session.get_bind().dialect.name == "postgresql" and not unsafe


def _lock(tt: TicketType) -> int:
    """Lock the participation type (PostgreSQL) and return its current capacity."""
    capacity = db.session.scalar(_lock_statement(_locks_rows()), {"tt_id": tt.id})
    if capacity is None:
        raise NotFound("ticket_type_not_found", N_("参加区分が見つかりません。"))
    return capacity


def _unsafe_pause() -> None:
    config = current_app.config
    if config.get("REGISTRATION_UNSAFE_NO_LOCK") and config.get("TESTING"):
        time.sleep(float(config.get("REGISTRATION_UNSAFE_DELAY", 0)))


def seats_taken(tt_id: int) -> int:
    return db.session.scalar(select(func.count()).select_from(Registration).where(
        Registration.ticket_type_id == tt_id, Registration.status.in_(SEATED))) or 0


@functools.cache
def _admission_statement(lottery: bool, guard_dialect: str | None = None):
    """Built once (the parameters are bound at each call): building it costs more than running it.
    ``guard_dialect``: and, last, whether the event's fingerprint is still ``:fingerprint``
    (a kept event, see :mod:`.reuse`)."""
    tt_id = bindparam("tt_id")
    columns = [
        select(TicketType.capacity).where(TicketType.id == tt_id).scalar_subquery(),
        func.count().filter(Registration.status.in_(SEATED)),
        func.count().filter(Registration.status == "waitlisted"),
        func.max(Registration.queue_rank),
        select(Registration.status).where(Registration.event_id == bindparam("event_id"),
                                          Registration.email == bindparam("email"),
                                          Registration.erased_at.is_(None)).scalar_subquery(),
    ]
    if lottery:
        columns.append(select(LotteryDraw.id).where(LotteryDraw.ticket_type_id == tt_id).exists())
    if guard_dialect is not None:
        columns.append(reuse.fingerprint(guard_dialect, bindparam("event_id")) == bindparam("fingerprint"))
    return select(*columns).where(Registration.ticket_type_id == tt_id)


def _admission_facts(event: Event, tt: TicketType, email: str, *, with_new_id: bool = False):
    """What :func:`admit` decides on, read under the lock: the type's ``(capacity, seats held,
    people waiting, highest rank)``, the status of ``email``'s registration for the event (None:
    there is none), whether the type's lottery was drawn (asked only for a lottery event), and,
    ``with_new_id`` (PostgreSQL only), an id for a new registration (else None). Raises
    ``ticket_type_not_found`` (404) when the type is gone.

    One round trip: every one made under the lock is a moment the lock holder may wait for the
    interpreter (other requests' threads) with the lock still held. On PostgreSQL the lock, the
    count and the new id are sent together (:func:`database.first_rows_pipelined`); the count
    is a statement of its own after the lock, so it sees every admission committed before ours."""
    lottery = event.selection == "lottery"
    params = {"tt_id": tt.id, "event_id": event.id, "email": email}
    kept_print = reuse.fingerprint_of(event)
    guard = None
    if kept_print is not None:
        guard = db.session.get_bind().dialect.name
        params["fingerprint"] = kept_print
    statement = _admission_statement(lottery, guard)
    new_id = None
    if _locks_rows():
        statements = [(_lock_statement(True), {"tt_id": tt.id}), (statement, params)]
        if with_new_id:
            statements.append((_new_id_statement(), {}))
        rows = database.first_rows_pipelined(db.session, statements)
        row, new_id = rows[1], rows[2][0] if with_new_id else None
    else:
        row = database.first_row(db.session, statement, params)  # (one row: counts)
    if guard is not None and not row[-1]:
        raise EventChanged()  # before anything else: every answer comes from the event as it is
    if row[0] is None:
        raise NotFound("ticket_type_not_found", N_("参加区分が見つかりません。"))
    return row[0], row[1] or 0, row[2] or 0, row[3] or 0, row[4], bool(row[5]) if lottery else False, new_id


@functools.cache
def _new_id_statement():
    """The next registration id from its sequence (PostgreSQL)."""
    return select(func.nextval(func.pg_get_serial_sequence("registrations", "id")))


@functools.cache
def _insert_statement(dialect: str):
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    table = Registration.__table__
    return (insert(table)
            .on_conflict_do_nothing(index_elements=[table.c.event_id, table.c.email])
            .returning(table.c.id))


#: every column of a registration but its id: a new row states them all (see _insert_registration),
#: except the ones that start empty (nullable, no default)
_COLUMN_KEYS = tuple(c.key for c in Registration.__table__.c if c.key != "id")
_EMPTY_AT_FIRST = frozenset(c.key for c in Registration.__table__.c if c.nullable and c.default is None)


def _insert_registration(values: dict) -> Registration | None:
    """``INSERT … ON CONFLICT (event_id, email) DO NOTHING RETURNING id``: the new row, or None when
    the address is registered for the event already — also when another transaction has just
    inserted it (the unique constraint decides; PostgreSQL waits for that transaction). The
    transaction stays usable either way, so no savepoint is needed; any other constraint
    still raises.

    The hot path's cheapest insert: a Core statement built once, the row as its parameters,
    only the id coming back. The ORM object is then made from what was written and joins the
    session as a loaded row (``make_transient_to_detached``): no unit of work, no read-back."""
    row = {key: values[key] if key not in _EMPTY_AT_FIRST else values.get(key) for key in _COLUMN_KEYS}
    written = database.first_row(db.session, _insert_statement(db.session.get_bind().dialect.name), row)
    if written is None:
        return None
    new_id = written[0]
    return _registration_object(dict(row, id=new_id))


def _registration_object(row: dict) -> Registration:
    """The ORM object of a row written by a Core statement, in the session as a loaded row."""
    # (filled as the ORM's loader fills a row, not through the constructor's per-attribute events)
    reg = database.detached(Registration, {key: row.get(key) for key in ("id", *_COLUMN_KEYS)})
    db.session.add(reg)
    return reg


def _next_rank(tt_id: int) -> int:
    top = db.session.scalar(select(func.max(Registration.queue_rank)).where(Registration.ticket_type_id == tt_id))
    return (top or 0) + 1


def seat_counts(event: Event) -> dict[int, int]:
    """``{ticket_type_id: seats held}`` — plugged into the events package's seat counter."""
    if event.id is None:
        return {}
    rows = db.session.execute(select(Registration.ticket_type_id, func.count()).where(
        Registration.event_id == event.id, Registration.status.in_(SEATED)).group_by(Registration.ticket_type_id))
    return {tt: n for tt, n in rows}


events_service.register_seat_counter(seat_counts)


def lottery_drawn(tt: TicketType) -> bool:
    return db.session.scalar(select(LotteryDraw.id).where(LotteryDraw.ticket_type_id == tt.id)) is not None


def waitlist_position(reg: Registration) -> int | None:
    if reg.status != "waitlisted" or reg.queue_rank is None:
        return None
    ahead = db.session.scalar(select(func.count()).select_from(Registration).where(
        Registration.ticket_type_id == reg.ticket_type_id, Registration.status == "waitlisted",
        or_(Registration.queue_rank < reg.queue_rank,
            (Registration.queue_rank == reg.queue_rank) & (Registration.id < reg.id))))
    return (ahead or 0) + 1


# ------------------------------------------------------------------ tokens and links
def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def new_attendee_token() -> str:
    return ATTENDEE_PREFIX + secrets.token_urlsafe(32)


def resolve_attendee_token(token: str) -> Registration | None:
    """The registration behind an attendee bearer token (API auth scheme ``attendee``)."""
    if not token.startswith(ATTENDEE_PREFIX):
        return None
    digest = hash_token(token)
    reg = db.session.scalar(select(Registration).where(Registration.attendee_token_hash == digest))
    if reg is None or reg.erased_at is not None or not hmac.compare_digest(reg.attendee_token_hash, digest):
        return None
    return reg


class _LinkSerializer(URLSafeTimedSerializer):
    """itsdangerous' URL-safe timed serializer that does not try zlib on the payload: a link's
    few dozen bytes never come out shorter, so the token is the same, and trying costs more
    than the rest of the signing. (Tokens that are compressed still load.)"""

    def dump_payload(self, obj) -> bytes:
        return base64_encode(super(URLSafeSerializerMixin, self).dump_payload(obj))


@functools.lru_cache(maxsize=4)
def _serializer_for(secret: str) -> URLSafeTimedSerializer:
    return _LinkSerializer(secret, salt=LINK_SALT)


def _serializer() -> URLSafeTimedSerializer:
    return _serializer_for(current_app.config["SECRET_KEY"])


def link_token(reg: Registration) -> str:
    """The signed, expiring token in the attendee's link (dies when the attendee token changes)."""
    return _serializer().dumps({"r": reg.id, "h": reg.attendee_token_hash[:16]})


#: a link that was cut off or altered: what to check, and where a new one comes from
LINK_INVALID = N_("リンクが正しくありません。メールのリンクが途中で切れていないか確かめてください。"
                  "新しいリンクは、イベントページの「確認・変更・キャンセル用のリンクを再送する」から受け取れます。")


def registration_from_link(token: str) -> Registration:
    """The registration a signed link names; ``link_expired`` / ``link_invalid`` otherwise."""
    days = int(current_app.config.get("REGISTRATION_LINK_MAX_AGE_DAYS", DEFAULT_LINK_DAYS))
    if not isinstance(token, str) or len(token) > 300:
        raise NotFound("link_invalid", LINK_INVALID)
    try:
        data = _serializer().loads(token, max_age=days * 86400)
    except SignatureExpired:
        raise DomainError("link_expired", N_("リンクの有効期限が切れました。新しいリンクをメールで受け取ってください。"),
                          status=410) from None
    except BadSignature:
        raise NotFound("link_invalid", LINK_INVALID) from None
    reg = db.session.get(Registration, data.get("r")) if isinstance(data, dict) else None
    if reg is None or reg.erased_at is not None or \
            not hmac.compare_digest(reg.attendee_token_hash[:16], str(data.get("h", ""))):
        raise NotFound("link_invalid", LINK_INVALID)
    return reg


def manage_url(reg: Registration) -> str:
    return mail.absolute_url("registration.attendee", token=link_token(reg))


# ------------------------------------------------------------------ register
@functools.cache
def _event_statement(dialect: str):
    return (select(Event, RegistrationSettings, reuse.fingerprint(dialect, Event.id))
            .outerjoin(RegistrationSettings, RegistrationSettings.event_id == Event.id)
            .where(Event.slug == bindparam("slug")).options(joinedload(Event.ticket_types)))


def event_for_registration(slug: str, *, kept: bool = False, keep: bool = False) -> Event:
    """A public event with its participation types only (the registration hot path needs no agenda).

    One query: the types are joined (there are few), and so is the event's settings row, which
    :func:`settings_for` then finds in the session (an event without one still asks once).

    ``kept``: the copies this server process kept from a recent read, if any (no query; see
    :mod:`.reuse`: what is decided on them must be checked by :func:`admit`). ``keep``: keep
    what is read now for the next calls."""
    if kept and (event := reuse.kept(slug)) is not None:
        return event
    row = db.session.execute(_event_statement(db.session.get_bind().dialect.name), {"slug": slug}).unique().first()
    event = row[0] if row is not None else None
    if event is None or not event.is_public:
        raise NotFound("event_not_found", N_("イベントが見つかりません。"))
    # settings_for uses what this query found (the row, or None: "there is none") instead of
    # asking again; the reference also keeps the row alive, as the session holds rows weakly.
    event._registration_settings_ref = row[1]
    if keep:
        reuse.keep(slug, event, row[1], row[2])
    return event


def check_window(event: Event, now: datetime) -> None:
    reason = closed_reason(event, now)
    if reason is not None:
        raise Conflict("registration_closed", rules.WINDOW_MESSAGES.get(reason, N_("申込みを受け付けていません。")),
                       {"reason": reason})


def closed_reason(event: Event, now: datetime) -> str | None:
    """None when the event takes registrations now, else the reason code of ``registration_closed``."""
    return rules.registration_window(now=now, status=event.status, opens_at=event.registration_opens_at,
                                     closes_at=event.registration_closes_at, ends_at=event.ends_at)


events_service.register_window_check(closed_reason, rules.WINDOW_MESSAGES)


def accepting(event: Event, now: datetime) -> bool:
    """Whether the event takes registrations now (its status and window)."""
    try:
        check_window(event, now)
    except Conflict:
        return False
    return True


def _facilitator_default(email: str, org_code: str | None) -> bool:
    org = orgs.get(org_code) if org_code else None
    return rules.is_national(email) or (org is not None and org.kind == "national")


@dataclass
class Application:
    """A checked application, not yet admitted: everything about the new row that does not
    depend on who else registered (see :func:`prepare` and :func:`admit`)."""

    event: Event
    ticket_type: TicketType
    email: str
    #: the attendee token, shown once; only its hash is stored
    token: str
    #: the row's columns, except the ones the admission decides (status, rank, confirmed_at)
    values: dict


def prepare(event: Event, data: RegistrationData, now: datetime, *, require_consent: bool = False,
            require_organization: bool = False) -> Application:
    """Everything a registration needs before the capacity lock, without writing: the window,
    the input, the ticket code and the attendee token. Raises ``registration_closed`` (409) or
    ``validation_error`` (422)."""
    check_window(event, now)
    c = validate(event, data, require_consent=require_consent, require_organization=require_organization)
    token = new_attendee_token()
    values = dict(
        event_id=event.id, ticket_type_id=c.ticket_type.id, name=c.name, name_kana=c.name_kana, email=c.email,
        organization_code=c.organization_code, organization_name=c.organization_name, department=c.department,
        ticket_code=tickets.make_code(), attendee_token_hash=hash_token(token),
        facilitator=_facilitator_default(c.email, c.organization_code), consent_privacy=bool(data.consent_privacy),
        consent_slack_mention=bool(data.consent_slack_mention), consent_listing=bool(data.consent_listing),
        answers=c.answers, review_note="", locale=data.locale if data.locale in ("ja", "en") else "ja",
        created_at=now, updated_at=now, reapplications=0)
    return Application(event, c.ticket_type, c.email, token, values)


def admit(application: Application, now: datetime, *, commit: bool = False) -> tuple[Registration, str]:
    """Under the participation type's lock: count, decide (first come, waitlist, review,
    lottery), insert the row and its mail. Returns the registration and its attendee token.
    ``commit``: and commit (the request's last step); on PostgreSQL the lock is then held for
    two round trips, the second writing the row and its mail and committing together.

    Raises ``already_registered`` (409). The capacity is read again under the lock, so an
    application prepared in an earlier (read) transaction is admitted on current numbers.
    """
    event, tt, email = application.event, application.ticket_type, application.email
    batched = commit and _locks_rows()
    capacity, taken, waiting, top_rank, existing, drawn, new_id = _admission_facts(
        event, tt, email, with_new_id=batched)
    if existing is not None and existing != "cancelled":
        raise Conflict("already_registered", N_("このメールアドレスでは既に申し込まれています。申込み時のメールのリンクから確認・変更できます。"),
                       {"email": N_("このメールアドレスでは既に申し込まれています。")})
    decision = rules.admission(capacity=capacity, taken=taken, email=email,
                               allow_list=list(event.allowed_email_domains or []), selection=event.selection,
                               drawn=drawn)
    _unsafe_pause()
    values = {**application.values, "status": decision.status,
              "queue_rank": top_rank + 1 if decision.status == "waitlisted" else None,
              "confirmed_at": now if decision.status == "confirmed" else None}
    position = waiting + 1 if decision.status == "waitlisted" else None
    if batched and existing is None:
        reg = _insert_registration_and_mail(dict(values, id=new_id), event, tt, position, now)
    else:
        reg = _insert_registration(values) if existing is None else _apply_again(event, email, values, now)
        if reg is None:
            raise _already_registered()
        _loaded(reg, event, tt, position)
        _notify_status(reg, now, reason="registered", position=position, fresh=existing is None)
        if commit:
            db.session.commit()
    return reg, application.token


def _already_registered() -> Conflict:
    return Conflict("already_registered", N_("このメールアドレスでは既に申し込まれています。"),
                    {"email": N_("このメールアドレスでは既に申し込まれています。")})


def _loaded(reg: Registration, event: Event, tt: TicketType, position: int | None) -> None:
    # known, not changed: set as loaded, so the next statement has nothing to flush
    set_committed_value(reg, "event", event)
    set_committed_value(reg, "ticket_type", tt)
    #: known without another query: the new rank is behind everyone waiting (not stored)
    reg.position_at_registration = position


def _insert_registration_and_mail(values: dict, event: Event, tt: TicketType, position: int | None,
                                  now: datetime) -> Registration:
    """PostgreSQL, the last step of a request: the new row (its id taken beforehand), its mail
    and the commit in one round trip. The mail's insert writes nothing when the row's did not
    (the address was registered meanwhile, for another participation type): then nothing was
    written and ``already_registered`` is raised."""
    reg = _registration_object(values)
    _loaded(reg, event, tt, position)
    with outbox.held_new_rows() as mails:
        _notify_status(reg, now, reason="registered", position=position, fresh=True)
    statements = [(_insert_statement("postgresql"), {key: values.get(key) for key in ("id", *_COLUMN_KEYS)}),
                  *[(outbox.insert_with_registration_statement(), row) for row in mails]]
    inserted = database.first_rows_pipelined(db.session, statements, commit=True)[0]
    db.session.commit()  # ends the session's transaction (already committed: nothing is sent)
    if inserted is None:
        db.session.expunge(reg)
        raise _already_registered()
    return reg


def _apply_again(event: Event, email: str, values: dict, now: datetime) -> Registration | None:
    """The person cancelled and applies again: the same row becomes a new application (as typed
    now, admitted now, with a new ticket code and link; the old ones stay dead), which starts
    with nothing of the old one's: the cancel listeners run again (:func:`register_cancel_listener`).
    None when the row is no longer cancelled (a concurrent application won)."""
    stmt = select(Registration).where(Registration.event_id == event.id, Registration.email == email,
                                      Registration.erased_at.is_(None))
    if db.session.get_bind().dialect.name == "postgresql":
        stmt = stmt.with_for_update()
    reg = db.session.execute(stmt.execution_options(populate_existing=True)).scalar_one_or_none()
    if reg is None or reg.status != "cancelled":
        return None
    again = (reg.reapplications or 0) + 1
    for key, value in values.items():
        setattr(reg, key, value)
    reg.cancelled_at, reg.offer_expires_at, reg.review_note, reg.reapplications = None, None, "", again
    db.session.flush()
    _application_ended(reg, None, now)  # what a cancellation made before the listeners existed left behind
    return reg


def register(event: Event, data: RegistrationData, now: datetime, *, require_consent: bool = False,
             require_organization: bool = False) -> tuple[Registration, str]:
    """Register one person in one transaction: :func:`prepare`, then :func:`admit`. Returns the
    registration and its attendee token (shown once).

    Raises ``registration_closed`` (409), ``already_registered`` (409) or ``validation_error`` (422).
    """
    application = prepare(event, data, now, require_consent=require_consent,
                          require_organization=require_organization)
    return admit(application, now)


def apply(slug: str, data: RegistrationData, now: datetime) -> tuple[Registration, str]:
    """The JSON API's registration, from reading the event to the commit: :func:`prepare` on the
    event as this server process keeps it (:mod:`.reuse`; read and kept when it is not), then
    :func:`admit`, which checks under its lock that the event is unchanged. When it has changed,
    or when the kept event refuses the application (closed, an unknown type, a missing answer…),
    the call is made again on the event read afresh: every answer is the one a fresh read gives.
    The caller has said ``database.set_write_intent(False)`` (the reading part takes no lock)."""
    session = db.session()
    event = event_for_registration(slug, kept=True, keep=True)
    if reuse.fingerprint_of(event) is not None:  # kept from a recent read, not read now
        try:
            application = prepare(event, data, now)
        except DomainError:
            application = None  # refused on the kept copies: ask the event as it is
        if application is not None:
            try:
                with database.write_after_read(session), database.keep_loaded(session):
                    return admit(application, now, commit=True)
            except EventChanged:
                pass
        reuse.forget(slug)
        session.rollback()
        event = event_for_registration(slug, keep=True)  # read afresh (never another thread's copies)
    application = prepare(event, data, now)
    with database.write_after_read(session), database.keep_loaded(session):
        return admit(application, now, commit=True)


# ------------------------------------------------------------------ notifications
def _notify_status(reg: Registration, now: datetime, *, reason: str, note: str = "",
                   position: int | None = None, fresh: bool = False, supersede: bool = True) -> None:
    """Enqueue the e-mail for the registration's (new) status, and withdraw the mails still waiting
    to leave that it makes untrue (:func:`withdraw_superseded_mails`; ``supersede=False``: the
    caller has done that for many registrations at once).

    ``fresh``: ``reg`` was inserted in this transaction, so no mail keyed by its id can exist
    yet (the outbox then skips its look-up and savepoint; see :func:`outbox.enqueue`).
    """
    if supersede and not fresh:
        withdraw_superseded_mails([reg])
    if reg.status == "confirmed":
        mail.enqueue_confirmed(reg, now, reason=reason, note=note, fresh=fresh)
    elif reg.status == "waitlisted":
        mail.enqueue_simple(reg, "waitlisted", now, position=position or waitlist_position(reg),
                            reason=reason, note=note,
                            key=f"waitlisted:{reg.id}:{reg.queue_rank}", fresh=fresh)
    elif reg.status == "pending_review":
        mail.enqueue_simple(reg, "pending_review", now, key=f"pending_review:{reg.id}", fresh=fresh)
    elif reg.status == "applied":
        mail.enqueue_simple(reg, "applied", now, reason=reason, note=note, key=f"applied:{reg.id}",
                            fresh=fresh)
    elif reg.status == "offered":
        mail.enqueue_simple(reg, "offer", now, key=f"offer:{reg.id}:{reg.offer_expires_at.isoformat()}",
                            fresh=fresh)
    elif reg.status == "rejected":
        mail.enqueue_simple(reg, "rejected", now, note=note, key=f"rejected:{reg.id}", fresh=fresh)
    elif reg.status == "cancelled":
        mail.enqueue_simple(reg, "cancelled", now, reason=reason, note=note, key=f"cancelled:{reg.id}",
                            fresh=fresh)


def withdraw_superseded_mails(regs: Sequence[Registration]) -> int:
    """The registrations have just moved on (cancelled, applied again, promoted, decided…): their
    mails still waiting to leave (queued or held) that no longer apply are withdrawn now, in the
    same transaction, so organizers see at once that they will not go (:func:`mail.superseded_note`:
    a confirmation of a cancelled application, a waitlist notice of someone confirmed…). The
    worker checks again right before a send, for the mails it had claimed meanwhile. Returns how
    many were withdrawn."""
    by_id = {reg.id: reg for reg in regs}
    if not by_id:
        return 0
    waiting = db.session.execute(select(Delivery.id, Delivery.registration_id, Delivery.registration_application,
                                        Delivery.registration_status).where(
        Delivery.registration_id.in_(list(by_id)), Delivery.state.in_(("queued", "held")),
        Delivery.registration_status.isnot(None))).all()
    stale: dict[str, list[int]] = {}
    for row in waiting:
        note = mail.superseded_note(row, by_id[row.registration_id])
        if note:
            stale.setdefault(note, []).append(row.id)
    return sum(outbox.withdraw_waiting(ids, SUPERSEDED, note) for note, ids in stale.items())


# ------------------------------------------------------------------ promotion
def fill_seats(tt: TicketType, now: datetime, *, capacity: int | None = None) -> list[Registration]:
    """Move the head of the waitlist up while seats are free (caller holds the lock).

    Automatic mode confirms at once; offer mode offers the seat until a deadline.
    Returns the registrations moved up (each exactly once: its status changes here).
    """
    capacity = _lock(tt) if capacity is None else capacity
    event = db.session.get(Event, tt.event_id)
    if event.status == "cancelled":
        return []  # a seat freed at a cancelled event is offered to nobody
    settings = settings_for(event)
    free = rules.seats_to_fill(capacity, seats_taken(tt.id))
    if free <= 0:
        return []
    heads = db.session.scalars(select(Registration).where(
        Registration.ticket_type_id == tt.id, Registration.status == "waitlisted")
        .order_by(Registration.queue_rank, Registration.id).limit(free)).all()
    for reg in heads:
        if settings.promotion_mode == "offer":
            reg.status = "offered"
            reg.offer_expires_at = now + timedelta(hours=settings.offer_hours)
        else:
            reg.status, reg.confirmed_at = "confirmed", now
        reg.updated_at = now
        db.session.flush()
        _notify_status(reg, now, reason="promoted")
    return list(heads)


events_service.register_capacity_listener(fill_seats)


def attendee_may_cancel(reg: Registration, now: datetime) -> bool:
    """Attendees cancel their own registration until the event starts (as pretix's default
    cancellation deadline): a seat freed later helps nobody, and the waitlist would hear too late.
    Organizers may cancel at any time; erasing one's data still cancels (``privacy``)."""
    return reg.status in ACTIVE and now < reg.event.starts_at


#: what an attendee is told once the event has started (the API's message, and the pages')
CANCELLATION_CLOSED = N_("イベントが始まったため、キャンセルはできません。欠席のご連絡は主催者へお願いします。")


def check_attendee_may_cancel(reg: Registration, now: datetime) -> None:
    """Raises ``cancellation_closed`` (409) once the event has started (see :func:`attendee_may_cancel`)."""
    if reg.status in ACTIVE and not attendee_may_cancel(reg, now):
        raise Conflict("cancellation_closed", CANCELLATION_CLOSED)


#: ``fn(reg, actor, now)``: a registration's application has ended (see :func:`register_cancel_listener`)
CancelListener = Callable[[Registration, object, datetime], None]
_cancel_listeners: list[CancelListener] = []


def register_cancel_listener(fn: CancelListener) -> None:
    """A feature that keeps state about an application (check-in: the admission at the door)
    drops it when the application ends. ``fn(reg, actor, now)`` runs in the same transaction,
    after the row says ``cancelled`` (:func:`cancel`) or ``rejected`` (:func:`reject`) and is
    locked, with who ended it as ``actor`` (an organizer, the registration itself for the
    attendee, or None); and again with ``actor`` None
    when a cancelled registration applies again, so that the new application starts with nothing
    of the old one's even when that one was cancelled before the listener existed. It must be
    harmless to call twice; it keeps history (logs) and clears only the current state."""
    if fn not in _cancel_listeners:
        _cancel_listeners.append(fn)


def _application_ended(reg: Registration, actor, now: datetime) -> None:
    for fn in _cancel_listeners:
        fn(reg, actor, now)


#: who reads a cancel notice: an organizer (about the person: "this person is checked in") or the
#: attendee on their own cancel page (to the person: "you are checked in")
NOTICE_AUDIENCES = ("organizer", "attendee")
#: ``fn(regs, audience) -> {registration id: message}``: what cancelling each of ``regs`` would also
#: take back (see :func:`register_cancel_notice`)
CancelNotice = Callable[[Sequence[Registration], str], Mapping[int, str]]
_cancel_notices: list[CancelNotice] = []


def register_cancel_notice(fn: CancelNotice) -> None:
    """A feature whose cancel listener takes something back (check-in: the admission at the door)
    says so before anyone cancels: ``fn(regs, audience)`` returns, for each of ``regs`` that
    cancelling now would take something back from, an ``N_`` message worded for ``audience`` (one of
    :data:`NOTICE_AUDIENCES`); one call (one query) for a whole list of registrations."""
    if fn not in _cancel_notices:
        _cancel_notices.append(fn)


def cancel_notices_of(regs: Iterable[Registration], *, audience: str = "organizer") -> dict[int, list[str]]:
    """What cancelling each of ``regs`` would also take back, as messages by registration id (pages
    translate them with ``page_messages``). Registrations that can no longer be cancelled have none."""
    if audience not in NOTICE_AUDIENCES:
        raise ValueError(f"unknown audience {audience!r}")
    active = [reg for reg in regs if reg.status in ACTIVE]
    out: dict[int, list[str]] = {}
    if not active:
        return out
    for fn in _cancel_notices:
        for reg_id, message in (fn(active, audience) or {}).items():
            if message:
                out.setdefault(reg_id, []).append(message)
    return out


def cancel_notices(reg: Registration, *, audience: str = "organizer") -> list[str]:
    """What cancelling ``reg`` would also take back, as messages (see :func:`cancel_notices_of`)."""
    return cancel_notices_of([reg], audience=audience).get(reg.id, [])


def next_in_line(reg: Registration) -> Registration | None:
    """Who the seat of ``reg`` would go to if it were cancelled now: the head of its type's waitlist
    (None when ``reg`` holds no seat or nobody waits). The event being called off moves nobody up."""
    if reg.status not in SEATED or reg.event.status == "cancelled":
        return None
    return db.session.scalars(select(Registration).where(
        Registration.ticket_type_id == reg.ticket_type_id, Registration.status == "waitlisted")
        .order_by(Registration.queue_rank, Registration.id).limit(1)).first()


def cancel(reg: Registration, actor, now: datetime, *, note: str = "") -> Registration:
    """Cancel (attendee or organizer). Frees the seat and moves the waitlist up in the same transaction.
    What later features kept about the application ends with it (:func:`register_cancel_listener`:
    a check-in is taken back, so "checked in" counts only people still expected).

    Cancelling a cancelled registration is harmless (nothing changes).
    """
    if reg.status in ("cancelled", "rejected"):
        return reg
    tt = db.session.get(TicketType, reg.ticket_type_id)
    capacity = _lock(tt)
    db.session.refresh(reg)
    if reg.status not in ACTIVE:
        return reg
    was_seated = reg.status in SEATED
    reg.status, reg.cancelled_at, reg.updated_at = "cancelled", now, now
    reg.offer_expires_at = None
    db.session.flush()
    _application_ended(reg, actor, now)
    by_organizer = actor is not None and not isinstance(actor, Registration)
    _notify_status(reg, now, reason="by_organizer" if by_organizer else "by_attendee", note=note)
    if was_seated:
        fill_seats(tt, now, capacity=capacity)
    return reg


def accept_offer(reg: Registration, now: datetime) -> Registration:
    """The promoted person takes the offered seat before the deadline."""
    if reg.status == "confirmed":
        return reg
    if reg.status != "offered":
        raise Conflict("no_offer", N_("繰り上げのご案内はありません。"))
    tt = db.session.get(TicketType, reg.ticket_type_id)
    _lock(tt)
    db.session.refresh(reg)
    if reg.status != "offered":
        raise Conflict("no_offer", N_("繰り上げのご案内はありません。"))
    if reg.offer_expires_at is not None and now >= reg.offer_expires_at:
        expire_offers(now, ticket_type_id=tt.id)
        raise Conflict("offer_expired", N_("回答期限を過ぎたため、席は次の方に移りました。"))
    reg.status, reg.confirmed_at, reg.offer_expires_at, reg.updated_at = "confirmed", now, None, now
    db.session.flush()
    _notify_status(reg, now, reason="offer_accepted")
    return reg


def expire_offers(now: datetime, *, ticket_type_id: int | None = None) -> int:
    """Offers past their deadline go back to the end of the waitlist; the seat moves on."""
    q = select(Registration.ticket_type_id).where(Registration.status == "offered",
                                                  Registration.offer_expires_at <= now).distinct()
    if ticket_type_id is not None:
        q = q.where(Registration.ticket_type_id == ticket_type_id)
    n = 0
    for tt_id in db.session.scalars(q).all():
        tt = db.session.get(TicketType, tt_id)
        capacity = _lock(tt)
        expired = db.session.scalars(select(Registration).where(
            Registration.ticket_type_id == tt_id, Registration.status == "offered",
            Registration.offer_expires_at <= now).order_by(Registration.queue_rank)).all()
        for reg in expired:
            reg.status, reg.queue_rank, reg.updated_at = "waitlisted", _next_rank(tt_id), now
            reg.offer_expires_at = None
            db.session.flush()
            withdraw_superseded_mails([reg])  # the offer, unless it left already
            mail.enqueue_simple(reg, "offer_expired", now, position=waitlist_position(reg),
                                key=f"offer_expired:{reg.id}:{reg.queue_rank}")
            n += 1
        fill_seats(tt, now, capacity=capacity)
    return n


#: the confirmation mail's reason when :func:`promote` confirms someone out of turn: those who waited
#: for a seat moved up from the waitlist; a lottery applicant (``applied``) never was on one, and
#: hears what anyone admitted at once hears (the walk-in at the door too)
_PROMOTED_FROM = {"waitlisted": "promoted", "offered": "promoted", "applied": "registered"}


def _promotion_goes_over(status: str, taken: int, capacity: int) -> bool:
    """Whether confirming a person in ``status`` goes over ``capacity`` (``taken``: the seats the
    participation type holds; an offered person holds one of them already)."""
    return taken - (1 if status == "offered" else 0) >= capacity


def promotion_goes_over_capacity(reg: Registration, taken: int | None = None) -> bool:
    """Whether :func:`promote` would refuse ``reg`` for want of a seat now (and so needs
    ``over_capacity``): what the organizer's pages offer. ``taken``: the seats its participation
    type holds, counted when not given."""
    if reg.status not in _PROMOTED_FROM:
        return False
    if taken is None:
        taken = seats_taken(reg.ticket_type_id)
    return _promotion_goes_over(reg.status, taken, reg.ticket_type.capacity)


def promote(reg: Registration, actor, now: datetime, *, over_capacity: bool = False) -> Registration:
    """An organizer moves one waitlisted (or applied) person to confirmed, out of turn."""
    if reg.status not in _PROMOTED_FROM:
        raise Conflict("not_waitlisted", N_("キャンセル待ちの申込みではありません。"))
    tt = db.session.get(TicketType, reg.ticket_type_id)
    capacity = _lock(tt)
    db.session.refresh(reg)
    if reg.status not in _PROMOTED_FROM:
        raise Conflict("not_waitlisted", N_("キャンセル待ちの申込みではありません。"))
    was = reg.status
    if _promotion_goes_over(was, seats_taken(tt.id), capacity) and not over_capacity:
        raise Conflict("no_seat_left", N_("空席がありません（定員を超えて確定するには「定員超過で確定」を選んでください）。"))
    reg.status, reg.confirmed_at, reg.offer_expires_at, reg.updated_at = "confirmed", now, None, now
    db.session.flush()
    _notify_status(reg, now, reason=_PROMOTED_FROM[was])
    return reg


# ------------------------------------------------------------------ review
def approve(reg: Registration, actor, now: datetime, *, note: str = "") -> Registration:
    """Admit a registration that waited for review (seat, waitlist, or the lottery)."""
    if reg.status != "pending_review":
        raise Conflict("not_pending", N_("確認待ちの申込みではありません。"))
    note = _note(note)
    tt = db.session.get(TicketType, reg.ticket_type_id)
    event = db.session.get(Event, reg.event_id)
    capacity = _lock(tt)
    db.session.refresh(reg)
    if reg.status != "pending_review":
        raise Conflict("not_pending", N_("確認待ちの申込みではありません。"))
    decision = rules.admission(capacity=capacity, taken=seats_taken(tt.id), email=reg.email, allow_list=[],
                               selection=event.selection, reviewed=True,
                               drawn=event.selection == "lottery" and lottery_drawn(tt))
    reg.status, reg.review_note, reg.updated_at = decision.status, note, now
    if decision.status == "confirmed":
        reg.confirmed_at = now
    if decision.status == "waitlisted":
        reg.queue_rank = _next_rank(tt.id)
    db.session.flush()
    _notify_status(reg, now, reason="approved", note=note)
    return reg


def reject(reg: Registration, actor, now: datetime, *, note: str = "") -> Registration:
    """Turn down a registration that waited for review. Decided on the row as it is under the lock,
    as :func:`approve` does: a person the door admitted meanwhile (:func:`register_at_door`, which
    takes the same lock) is confirmed by now, and is not rejected (``not_pending``).

    The application ends as a cancelled one does (:func:`register_cancel_listener`): whatever later
    features kept about it goes with it, so a rejected person never counts as checked in.
    """
    if reg.status != "pending_review":
        raise Conflict("not_pending", N_("確認待ちの申込みではありません。"))
    note = _note(note)
    tt = db.session.get(TicketType, reg.ticket_type_id)
    _lock(tt)
    db.session.refresh(reg)
    if reg.status != "pending_review":
        raise Conflict("not_pending", N_("確認待ちの申込みではありません。"))
    reg.status, reg.review_note, reg.updated_at = "rejected", note, now
    db.session.flush()
    _application_ended(reg, actor, now)
    _notify_status(reg, now, reason="rejected", note=note)
    return reg


def _note(note: str) -> str:
    try:
        return check_text(note or "", max_length=1000, multiline=True)
    except TextError as err:
        raise ValidationFailed({"message": err.message}) from None


# ------------------------------------------------------------------ at the door (check-in's walk-in)
@dataclass
class AtDoor:
    """What :func:`register_at_door` did for the person at the door."""

    registration: Registration
    #: the status the address's registration had before (None: it had none; it was made now)
    was: str | None
    #: the attendee token of a registration made now or applied for again (shown once), else None
    token: str | None = None
    #: admitted only because of the override (seats, the e-mail allow-list or a rejection)
    overridden: bool = False


#: how the door confirms an existing application in place: the mail's reason, as :func:`promote`
#: (waitlisted, offered, applied) and :func:`approve` (pending_review; a rejection overridden) say it
_DOOR_REASONS = {**_PROMOTED_FROM, "pending_review": "approved", "rejected": "approved"}
#: an existing application's status, in the refusals' words
_DOOR_STATUS_WORDS = {"waitlisted": N_("キャンセル待ち"), "offered": N_("繰り上げの回答待ち"), "applied": N_("抽選前"),
                      "pending_review": N_("主催者の確認待ち")}


def register_at_door(event: Event, data: RegistrationData, now: datetime, *, override: bool = False) -> AtDoor:
    """Confirm the person standing at the door: :func:`register` for the day of the event, when the
    window has closed. No window check; the registration ends ``confirmed``, or nothing changes and
    a refusal is raised. ``override`` (the caller allows it to organizers only) admits past the
    seats, the e-mail allow-list and a rejection.

    The address's registration for the event, if it has one, decides what happens:

    - none: a new registration, as typed at the door, if the address's domain is allowed and the
      chosen participation type has a seat;
    - ``confirmed``: returned as it is (``was="confirmed"``); nothing is written;
    - ``cancelled``: applies again on the same conditions, as :func:`admit` does it
      (:func:`_apply_again`: the same row as typed at the door, a new ticket code and link,
      ``reapplications`` + 1, mails of its own; the old code admits no more);
    - ``waitlisted`` / ``offered`` / ``applied``: confirmed as :func:`promote` does it, if its
      participation type has a seat (an offered seat is held already);
    - ``pending_review``: confirmed as :func:`approve` does it, if the address's domain is allowed
      by now and a seat is free;
    - ``rejected``: confirmed only with ``override``.

    An existing application keeps its details and participation type; what was typed at the door
    is used for a new or cancelled one only. The decision is taken under the participation type's
    lock (:func:`_lock`), with the registration's row locked as well (PostgreSQL).

    Raises ``validation_error`` (422); ``event_not_open``, ``needs_review``, ``capacity_full``,
    ``registration_rejected`` and ``registration_changed`` (changed by someone else meanwhile; try
    again) (409). Their messages state the fact; the desk adds what its user can do about it.
    """
    if event.status in ("draft", "cancelled"):
        raise DomainError("event_not_open", N_("このイベントでは当日受付ができません。"), status=409)
    c = validate(event, data, require_consent=True, require_answers=False)  # the desk asks no questionnaire
    found = _door_registration(event, c.email, lock=False)
    if found is not None and found.status == "confirmed":
        return AtDoor(found, "confirmed")  # checked in as they are: nothing to decide, nothing to lock
    keeps_type = found is not None and found.status != "cancelled"
    tt = db.session.get(TicketType, found.ticket_type_id) if keeps_type else c.ticket_type
    capacity = _lock(tt)
    reg = _door_registration(event, c.email, lock=True)
    if reg is not None and reg.status == "confirmed":
        return AtDoor(reg, "confirmed")
    if (reg is None) != (found is None) or (reg is not None and reg.status != "cancelled"
                                              and reg.ticket_type_id != tt.id):
        raise Conflict("registration_changed", N_("この方の申込みが今変更されました。もう一度お試しください。"))
    was = reg.status if reg is not None else None
    refusal = _door_refusal(event, c.email, was, tt, capacity)
    if refusal is not None and not override:
        raise refusal
    overridden = refusal is not None
    if was not in (None, "cancelled"):
        reg.status, reg.confirmed_at, reg.offer_expires_at, reg.updated_at = "confirmed", now, None, now
        db.session.flush()
        _notify_status(reg, now, reason=_DOOR_REASONS[was])
        return AtDoor(reg, was, overridden=overridden)
    token = new_attendee_token()
    values = dict(
        event_id=event.id, ticket_type_id=tt.id, status="confirmed", name=c.name, name_kana=c.name_kana,
        email=c.email, organization_code=c.organization_code, organization_name=c.organization_name,
        department=c.department, ticket_code=tickets.make_code(), attendee_token_hash=hash_token(token),
        facilitator=_facilitator_default(c.email, c.organization_code), consent_privacy=True,
        consent_slack_mention=False, consent_listing=False, answers=c.answers, review_note="",
        locale=reg.locale if reg is not None else "ja", created_at=now, updated_at=now, reapplications=0,
        queue_rank=None, confirmed_at=now)
    new = _insert_registration(values) if reg is None else _apply_again(event, c.email, values, now)
    if new is None:  # PostgreSQL: another transaction registered the address meanwhile (another type)
        raise Conflict("registration_changed", N_("この方の申込みが今変更されました。もう一度お試しください。"))
    set_committed_value(new, "event", event)
    set_committed_value(new, "ticket_type", tt)
    _notify_status(new, now, reason="registered", fresh=reg is None)
    return AtDoor(new, was, token, overridden)


def _door_registration(event: Event, email: str, *, lock: bool) -> Registration | None:
    """The event's registration for the address, read afresh; with ``lock``, its row locked (PostgreSQL)."""
    stmt = select(Registration).where(Registration.event_id == event.id, Registration.email == email,
                                      Registration.erased_at.is_(None))
    if lock and db.session.get_bind().dialect.name == "postgresql":
        stmt = stmt.with_for_update()
    return db.session.execute(stmt.execution_options(populate_existing=True)).scalar_one_or_none()


def _door_refusal(event: Event, email: str, was: str | None, tt: TicketType, capacity: int) -> DomainError | None:
    """Why the door would not admit without the override (None: it admits), counted under the lock.

    A field's message is the refusal's first sentence: the desk adds what to do next, and its error
    summary then says it once, at the field (``web.error_summary``)."""
    if was == "rejected":
        return Conflict("registration_rejected", N_("この方の申込みは、参加をお断りしたものです。"))
    if was in (None, "cancelled", "pending_review") and \
            not rules.domain_allowed(email, list(event.allowed_email_domains or [])):
        if was == "pending_review":
            return Conflict("needs_review", N_("この方の申込みは主催者の確認待ちです（参加を認めるドメインではありません）。"))
        return Conflict("needs_review", N_("このメールアドレスは主催者の確認が必要です。"),
                        {"email": N_("このメールアドレスは主催者の確認が必要です。")})
    taken = seats_taken(tt.id) - (1 if was == "offered" else 0)  # an offered seat is the person's own
    if taken >= capacity:
        if was in (None, "cancelled"):
            return Conflict("capacity_full", N_("この参加区分は満席です。"), {"ticket_type": N_("この参加区分は満席です。")})
        return Conflict("capacity_full", msg(N_("この方の申込みは%(status)sで、「%(ticket_type)s」は満席です。"),
                                                 status=msg(_DOOR_STATUS_WORDS[was]), ticket_type=tt.name))
    return None


# ------------------------------------------------------------------ lottery
def run_lottery(event: Event, actor_label: str, now: datetime, *, seed: str | None = None) -> list[LotteryDraw]:
    """Draw every participation type not drawn yet; record seed, inputs and result."""
    if event.selection != "lottery":
        raise Conflict("not_lottery", N_("このイベントは抽選ではありません。"))
    if event.status not in ("published", "closed"):
        raise Conflict("event_not_open", N_("公開中のイベントだけ抽選できます。"))
    if seed is not None:
        try:
            seed = check_text(seed, max_length=64)
        except TextError as err:
            raise ValidationFailed({"seed": err.message}) from None
        if not seed:
            seed = None
    draws = []
    for tt in event.ticket_types:
        capacity = _lock(tt)
        if lottery_drawn(tt):
            continue
        applied = db.session.scalars(select(Registration).where(
            Registration.ticket_type_id == tt.id, Registration.status == "applied").order_by(Registration.id)).all()
        applicants = [lottery.Applicant(r.id, _org_key(r)) for r in applied]
        d = lottery.draw(applicants, rules.seats_to_fill(capacity, seats_taken(tt.id)), seed or lottery.new_seed())
        by_id = {r.id: r for r in applied}
        base = _next_rank(tt.id)
        for i, rid in enumerate(d.waitlist):
            r = by_id[rid]
            r.status, r.queue_rank, r.updated_at = "waitlisted", base + i, now
        for rid in d.won:
            r = by_id[rid]
            r.status, r.confirmed_at, r.updated_at = "confirmed", now, now
        row = LotteryDraw(event_id=event.id, ticket_type_id=tt.id, seed=d.seed, record=d.as_record(applicants),
                          drawn_by=actor_label[:254], drawn_at=now)
        db.session.add(row)
        db.session.flush()
        withdraw_superseded_mails(applied)  # "抽選へのお申込みを受け付けました" still waiting: the result replaces it
        for rid in d.order:
            _notify_status(by_id[rid], now, reason="lottery", supersede=False)
        draws.append(row)
    if not draws:
        raise Conflict("lottery_already_drawn", N_("抽選は実施済みです。"))
    return draws


def _org_key(reg: Registration) -> str:
    if reg.organization_code:
        return reg.organization_code
    if reg.organization_name:
        return "name:" + search_key(reg.organization_name)
    return "domain:" + rules.email_domain(reg.email)


def draws_for(event: Event) -> list[LotteryDraw]:
    return list(db.session.scalars(select(LotteryDraw).where(LotteryDraw.event_id == event.id)
                                   .order_by(LotteryDraw.id)))


def run_due_lotteries(now: datetime) -> int:
    """Draw lottery events whose configured time has come (the worker calls this)."""
    q = (select(Event).join(RegistrationSettings, RegistrationSettings.event_id == Event.id)
         .where(Event.selection == "lottery", Event.status.in_(("published", "closed")),
                RegistrationSettings.lottery_at.isnot(None), RegistrationSettings.lottery_at <= now)
         .options(selectinload(Event.ticket_types)))
    n = 0
    for event in db.session.scalars(q).all():
        if all(lottery_drawn(tt) for tt in event.ticket_types):
            continue
        try:
            with db.session.begin_nested():
                n += len(run_lottery(event, "auto", now))
        except DomainError:
            continue
    return n


# ------------------------------------------------------------------ attendee changes
def update_details(reg: Registration, data: RegistrationData, now: datetime) -> Registration:
    """The attendee (or an organizer) corrects their details; the e-mail address stays."""
    if reg.status in ("cancelled", "rejected"):
        raise Conflict("registration_inactive", N_("取り消された申込みは変更できません。"))
    event = db.session.get(Event, reg.event_id)
    data = replace(data, email=reg.email, ticket_type=None)
    c = validate(event, data, check_email_field=False)
    reg.name, reg.name_kana = c.name, c.name_kana
    reg.organization_code, reg.organization_name, reg.department = c.organization_code, c.organization_name, c.department
    reg.answers = c.answers
    reg.consent_slack_mention, reg.consent_listing = bool(data.consent_slack_mention), bool(data.consent_listing)
    reg.updated_at = now
    db.session.flush()
    return reg


def change_ticket_type(reg: Registration, code: str, now: datetime) -> Registration:
    """Switch participation type (e.g. 会場 → オンライン) if the other type has room."""
    event = db.session.get(Event, reg.event_id)
    new = event.ticket_type(code) if isinstance(code, str) else None
    if new is None:
        raise ValidationFailed({"ticket_type": N_("参加区分を選んでください。")})
    if reg.status in ("cancelled", "rejected"):
        raise Conflict("registration_inactive", N_("取り消された申込みは変更できません。"))
    if new.id == reg.ticket_type_id:
        return reg
    old = db.session.get(TicketType, reg.ticket_type_id)
    first, second = sorted([old, new], key=lambda t: t.id)
    caps = {first.id: _lock(first), second.id: _lock(second)}
    db.session.refresh(reg)
    was_seated = reg.status in SEATED
    if reg.status in SEATED:
        if seats_taken(new.id) >= caps[new.id]:
            raise Conflict("no_seat_left", msg(N_("「%(ticket_type)s」は満席です。"), ticket_type=new.name))
        reg.status, reg.offer_expires_at = "confirmed", None
        reg.confirmed_at = reg.confirmed_at or now
    elif reg.status == "waitlisted":
        if seats_taken(new.id) < caps[new.id]:
            reg.status, reg.confirmed_at, reg.queue_rank = "confirmed", now, None
        else:
            reg.queue_rank = _next_rank(new.id)
    reg.ticket_type_id, reg.updated_at = new.id, now
    db.session.flush()
    if was_seated:
        fill_seats(old, now, capacity=caps[old.id])
    elif reg.status == "confirmed":
        _notify_status(reg, now, reason="promoted")
    return reg


def set_facilitator(reg: Registration, value: bool, now: datetime) -> Registration:
    reg.facilitator, reg.updated_at = bool(value), now
    db.session.flush()
    return reg


def find_by_email(event: Event, email: str) -> Registration | None:
    """The event's registration for this (normalised) address, if any."""
    return db.session.scalar(select(Registration).where(Registration.event_id == event.id, Registration.email == email))


def resend_link(event: Event, email: str, now: datetime) -> bool:
    """Mail a fresh link to this address if it registered (the caller says the same either way)."""
    errors: dict = {}
    email = check_email(errors, email)
    if errors:
        raise ValidationFailed(errors)
    reg = find_by_email(event, email)
    if reg is None:
        return False
    bucket = now.strftime("%Y%m%d%H")  # at most one link mail per hour per registration
    mail.enqueue_simple(reg, "link", now, key=f"link:{reg.id}:{bucket}")
    return True


# ------------------------------------------------------------------ organizer queries and messages
def get_registration(reg_id: int) -> Registration:
    reg = db.session.get(Registration, reg_id)
    if reg is None:
        raise NotFound("registration_not_found", N_("申込みが見つかりません。"))
    return reg


def get_for_organizer(reg_id: int, organizer) -> Registration:
    reg = db.session.get(Registration, reg_id)
    if reg is None or not reg.event.is_managed_by(organizer):
        raise NotFound("registration_not_found", N_("申込みが見つかりません。"))
    return reg


#: columns later features add to the organizers' export: ``fn(event) -> [(header, {registration id: value})]``
ExportColumns = Callable[[Event], list[tuple[str, dict[int, object]]]]
_export_columns: list[ExportColumns] = []


def register_export_columns(fn: ExportColumns) -> None:
    """A feature built on registrations (check-in…) adds its columns to the CSV/XLSX export."""
    if fn not in _export_columns:
        _export_columns.append(fn)


def export_columns(event: Event) -> list[tuple[str, dict[int, object]]]:
    return [column for fn in _export_columns for column in fn(event)]


def list_registrations(event: Event, *, status: str | None = None, ticket_type: str | None = None,
                       q: str | None = None, limit: int = 5000) -> list[Registration]:
    query = (select(Registration).where(Registration.event_id == event.id)
             .options(selectinload(Registration.ticket_type))
             .order_by(Registration.ticket_type_id, Registration.created_at, Registration.id))
    if status:
        query = query.where(Registration.status == status)
    if ticket_type:
        tt = event.ticket_type(ticket_type)
        query = query.where(Registration.ticket_type_id == (tt.id if tt else -1))
    rows = list(db.session.scalars(query.limit(limit)))
    if q:
        key = search_key(q)
        if key:
            rows = [r for r in rows if key in search_key(r.name) or key in search_key(r.name_kana)
                    or key in search_key(r.organization_name) or key in r.email or key in search_key(r.department)]
    return rows


def counts(event: Event) -> dict:
    """``{"total": n, "by_status": {...}, "by_type": {code: {status: n}}}``."""
    rows = db.session.execute(select(Registration.ticket_type_id, Registration.status, func.count())
                              .where(Registration.event_id == event.id)
                              .group_by(Registration.ticket_type_id, Registration.status))
    codes = {t.id: t.code for t in event.ticket_types}
    by_status: dict[str, int] = {}
    by_type: dict[str, dict[str, int]] = {t.code: {} for t in event.ticket_types}
    for tt_id, status, n in rows:
        by_status[status] = by_status.get(status, 0) + n
        by_type.setdefault(codes.get(tt_id, "?"), {})[status] = n
    return {"total": sum(by_status.values()), "by_status": by_status, "by_type": by_type}


def waitlist_positions(event: Event) -> dict[int, int]:
    out: dict[int, int] = {}
    rows = db.session.execute(select(Registration.id, Registration.ticket_type_id).where(
        Registration.event_id == event.id, Registration.status == "waitlisted")
        .order_by(Registration.ticket_type_id, Registration.queue_rank, Registration.id))
    pos: dict[int, int] = {}
    for rid, tt_id in rows:
        pos[tt_id] = pos.get(tt_id, 0) + 1
        out[rid] = pos[tt_id]
    return out


def participants(event: Event) -> list[Registration]:
    """Confirmed attendees who agreed to be listed (name + organisation only are shown)."""
    return list(db.session.scalars(select(Registration).where(
        Registration.event_id == event.id, Registration.status == "confirmed",
        Registration.consent_listing.is_(True)).order_by(Registration.name_kana, Registration.id)))


def _clean_message(subject: str, body: str) -> tuple[str, str]:
    errors: dict[str, str] = {}
    subject = clean_field(errors, "subject", subject, 150, required=True, label=N_("件名"))
    body = clean_field(errors, "body", body, 10000, required=True, multiline=True, label=N_("本文"))
    if errors:
        raise ValidationFailed(errors)
    return subject, body


def _send_message(regs: list[Registration], actor, subject: str, body: str, now: datetime) -> int:
    batch = uuid.uuid4().hex[:12]
    for reg in regs:
        mail.enqueue_message(reg, subject, body, now, key=f"message:{batch}:{reg.id}",
                             reply_to=getattr(actor, "email", None))
    return len(regs)


def message_confirmed(event: Event, actor, subject: str, body: str, now: datetime) -> int:
    """Mail an organizer's message to every confirmed attendee; returns how many."""
    subject, body = _clean_message(subject, body)
    return _send_message(list_registrations(event, status="confirmed"), actor, subject, body, now)


def cancel_event(event: Event, actor, now: datetime, *, notify: tuple[str, str] | None) -> int:
    """Call the event off (for good: a cancelled event is never published again) and, with ``notify``
    (subject, body), mail everyone whose application is still active — confirmed, waitlisted, offered
    a seat, awaiting review or the lottery — with their own link. Returns how many are mailed.
    Nothing changes when the message is invalid (``ValidationFailed``) or the event cannot be
    cancelled (``invalid_status_change``)."""
    message = _clean_message(*notify) if notify is not None else None
    events_service.set_status(event, "cancelled", actor, now)
    if message is None:
        return 0
    regs = [r for r in list_registrations(event) if r.status in ACTIVE]
    return _send_message(regs, actor, *message, now)


# ------------------------------------------------------------------ worker hooks
def _periodic(now: datetime) -> None:
    expire_offers(now)
    run_due_lotteries(now)


def render_mail(delivery) -> dict:
    """The outbox's renderer for registration mails (see ``outbox/renderers.py``): the message
    made from the registration as it is now, with a freshly signed link to its page. A mail of an
    earlier application (only a cancellation notice still goes: :func:`mail.superseded_note`)
    names that application's participation type, which its recipe recorded."""
    reg = db.session.get(Registration, delivery.registration_id) if delivery.registration_id else None
    if reg is None or reg.erased_at is not None:
        raise RenderError("申込みが削除されたため、このメールは作成できません")
    spec = delivery.payload["render"]
    ticket_type = None
    if delivery.registration_application is not None and delivery.registration_application != reg.reapplications:
        ticket_type = db.session.get(TicketType, spec["ticket_type"]) if spec.get("ticket_type") else None
        if ticket_type is not None and ticket_type.event_id != reg.event_id:
            ticket_type = None
    return mail.render(reg, spec, manage_url(reg), ticket_type=ticket_type)


def superseded_mail_note(delivery) -> str | None:
    """The outbox's check for registration mails (``outbox.service.register_superseded_check``):
    why a mail no longer applies to its registration as it is now (:func:`mail.superseded_note`)."""
    if delivery.registration_id is None or delivery.registration_status is None:
        return None
    reg = db.session.get(Registration, delivery.registration_id)
    if reg is None or reg.erased_at is not None:
        return None  # nothing left to tell: the erasure withdraws it (or rendering it fails)
    return mail.superseded_note(delivery, reg)


def _register_worker_hooks() -> None:
    from ..outbox.worker import register_periodic

    register_periodic("registration", _periodic)
    register_renderer("registration", render_mail)
    outbox.register_superseded_check(superseded_mail_note)


_register_worker_hooks()
