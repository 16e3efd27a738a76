"""JSON API for surveys (``/api/v1/events/<slug>/survey…``).

Organizers build the survey and read results; attendees (bearer = their registration's
``attendee_token``, scheme ``attendee``) read the survey and post their answers.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from flask import current_app
from pydantic import Field, StrictBool, StrictInt, StrictStr

from ..core.clock import now_utc
from ..errors import Forbidden
from ..events import service as events
from ..extensions import db
from ..jsonapi import Input, Instant, Output, Text, operation, principal
from ..registration.models import Registration
from ..web import external_url, spreadsheet_download
from . import service
from .aggregate import QuestionResult
from .models import Survey
from .views import personal_url

Kind = Literal["rating", "single", "multiple", "text", "long_text"]


class QuestionIn(Input):
    id: StrictInt | None = Field(default=None, description="an existing question to keep (left out: removed)")
    kind: Kind
    text: Text(500)
    options: list[Text(200)] | None = Field(default=None, max_length=service.MAX_OPTIONS)
    allow_other: StrictBool = Field(default=False, description="choice questions: an 'other' choice with free text")
    min: StrictInt | None = Field(default=None, description="rating: lowest point (default 1)")
    max: StrictInt | None = Field(default=None, description="rating: highest point (default 5; 0–10 gives an NPS)")
    min_label: Text(50) = ""
    max_label: Text(50) = ""
    required: StrictBool = False


class SurveyIn(Input):
    title: Text(200)
    description: Text(2000, multiline=True) = ""
    anonymous: StrictBool = True
    opens_at: Instant | None = Field(default=None, description=(
        "when answers open. Left out: a new survey opens when the event starts, an existing one keeps its "
        "time; null: at once (no opening time)"))
    closes_at: Instant | None = None
    questions: list[QuestionIn] = Field(min_length=1, max_length=service.MAX_QUESTIONS)


class AnswerIn(Input):
    question_id: StrictInt
    value: StrictInt | StrictStr | list[StrictStr] | None = Field(
        default=None, description="integer (rating), string (single, text, long_text), list of strings (multiple)")
    other: Text(service.MAX_OTHER_ANSWER) = Field(default="", description="the 'other' free text (choice questions)")


class ResponseIn(Input):
    answers: list[AnswerIn] = Field(max_length=100)


class QuestionOut(Output):
    id: int
    version: int
    kind: str
    text: str
    options: list[str]
    allow_other: bool
    min: int | None
    max: int | None
    min_label: str
    max_label: str
    required: bool


class AnswerOut(Output):
    question_id: int
    value: int | str | list[str] | None
    other: str


class WarningOut(Output):
    code: Literal["question_new_version", "question_removed"]
    question_id: int
    version: int = Field(description="the question's version now (question_new_version: the new one)")
    message: str


class SurveyOut(Output):
    title: str
    description: str
    anonymous: bool
    opens_at: datetime | None
    closes_at: datetime | None
    state: str = Field(description="scheduled / open / closed")
    url: str = Field(description="the answering page (ticket code entry)")
    short_url: str
    questions: list[QuestionOut]
    responses: int | None = Field(default=None, description="organizers only")
    my_answers: list[AnswerOut] | None = Field(default=None, description="attendees only: the saved answers")
    warnings: list[str] = Field(default_factory=list, description="what the save did to answered questions (Japanese)")
    warning_details: list[WarningOut] = Field(default_factory=list, description="the same warnings, with a code")


class ResponseOut(Output):
    saved: bool
    replaced: bool
    answers: list[AnswerOut]


class NpsOut(Output):
    score: int
    promoters: int
    passives: int
    detractors: int


class QuestionResultOut(Output):
    id: int
    version: int
    kind: str
    text: str
    count: int
    average: float | None = None
    nps: NpsOut | None = None
    distribution: dict[str, int] | None = Field(default=None, description="option (or scale point) → answers")
    other_count: int | None = None
    answers: list[str] | None = Field(default=None, description="free text (text, long_text)")
    others: list[str] | None = Field(default=None, description="'other' texts (choice questions)")
    removed: bool = False


class ResultsOut(Output):
    responses: int = Field(description="saved responses (also from people who did not check in)")
    checked_in: int | None = Field(description=(
        "confirmed people (personal data not erased) with a valid check-in; None when check-in records are not "
        "available"))
    confirmed: int = Field(description="confirmed people whose personal data is not erased")
    respondents_checked_in: int | None = Field(default=None, description="how many of checked_in have responded")
    respondents_confirmed: int = Field(default=0, description="how many of confirmed have responded")
    response_rate_checked_in: float | None = Field(description="respondents_checked_in / checked_in, in percent")
    response_rate_confirmed: float | None = Field(description="respondents_confirmed / confirmed, in percent")
    questions: list[QuestionResultOut]
    earlier: list[QuestionResultOut] = Field(description="earlier versions and removed questions with answers")


class SendWarningOut(Output):
    code: Literal["waits_for_opening", "nobody_checked_in"] = Field(description=(
        "waits_for_opening: the survey is not open yet, the deliveries go out at its opening (scheduled_at); "
        "nobody_checked_in: nobody has checked in yet, so nobody was invited"))
    message: str


class SendOut(Output):
    deliveries: list[int]
    people: int
    answered: int
    already_sent: int
    scheduled_at: datetime | None = Field(default=None, description=(
        "the survey is not open yet: the deliveries written go out at its opening (their next_attempt_at in "
        "/deliveries); moving opens_at moves them too (earlier or later; cleared or past: now), and a resend "
        "before the opening waits for it. null: they go out at once"))
    warnings: list[str] = Field(default_factory=list, description="what the organizer should know (Japanese)")
    warning_details: list[SendWarningOut] = Field(default_factory=list, description="the same warnings, with a code")


class ExportQuery(Input):
    format: Literal["csv", "xlsx"] = "csv"


def _secret() -> str:
    return current_app.config["SECRET_KEY"]


def _registration() -> Registration | None:
    p = principal()
    if isinstance(p, Registration):
        return p
    reg = getattr(p, "registration", None)
    return reg if isinstance(reg, Registration) else None


def _question_out(q) -> QuestionOut:
    v = q.current
    return QuestionOut(id=q.id, version=v.version, kind=v.kind, text=v.text, options=list(v.options or []),
                       allow_other=v.allow_other, min=v.scale_min, max=v.scale_max, min_label=v.min_label,
                       max_label=v.max_label, required=v.required)


def _answers_out(answers: dict[int, service.AnswerData] | None) -> list[AnswerOut]:
    return [AnswerOut(question_id=a.question_id, value=a.value, other=a.other or "") for a in (answers or {}).values()]


def survey_out(survey: Survey, *, organizer: bool, registration: Registration | None = None,
               warnings: list[WarningOut] | None = None) -> SurveyOut:
    return SurveyOut(
        title=survey.title, description=survey.description, anonymous=survey.anonymous, opens_at=survey.opens_at,
        closes_at=survey.closes_at, state=service.state(survey, now_utc()),
        url=external_url("surveys.entry", slug=survey.event.slug),
        short_url=external_url("surveys.short", code=survey.short_code),
        questions=[_question_out(q) for q in survey.questions],
        responses=service.response_count(survey) if organizer else None,
        my_answers=_answers_out(service.my_answers(survey, registration, _secret())) if registration else None,
        warnings=[w.message for w in warnings or []], warning_details=warnings or [])


def _data(body: SurveyIn) -> service.SurveyData:
    opens_at = body.opens_at if "opens_at" in body.model_fields_set else service.DEFAULT_OPENING
    return service.SurveyData(
        title=body.title, description=body.description, anonymous=body.anonymous, opens_at=opens_at,
        closes_at=body.closes_at, questions=[service.QuestionData(
            id=q.id, kind=q.kind, text=q.text, options=list(q.options or []), allow_other=q.allow_other,
            scale_min=q.min, scale_max=q.max, min_label=q.min_label, max_label=q.max_label, required=q.required)
            for q in body.questions])


@operation("/events/<slug>/survey", "PUT", summary="Create or replace the event's survey", tags=["surveys"],
           body=SurveyIn, response=SurveyOut, auth=["organizer"], errors=[401, 404, 409, 415, 422])
def put_survey(slug: str, body: SurveyIn):
    """Questions are matched by ``id``; a question left out is removed (its answers are kept).
    Changing what an answered question means (kind, text, options, scale, labels) stores a
    new version: earlier answers stay with the version they answered (see ``warnings`` and
    ``warning_details``). Without ``opens_at`` a new survey opens when the event starts."""
    event = events.get_event_for(slug, principal())
    result = service.save_survey(event, _data(body), principal(), now_utc())
    db.session.commit()
    warnings = [WarningOut(code="question_new_version", question_id=q.id, version=q.current.version,
                           message=f"質問（ID {q.id}）: 回答のある質問の内容を変えたため、第{q.current.version}版として"
                                   "保存しました。これまでの回答は変更前の版として集計します。")
                for q in result.new_versions]
    warnings += [WarningOut(code="question_removed", question_id=q.id, version=q.current.version,
                            message=f"質問（ID {q.id}）: 削除しました。回答は結果の「変更前・削除した質問」に残しています。")
                 for q in result.retired]
    return survey_out(result.survey, organizer=True, warnings=warnings)


@operation("/events/<slug>/survey", "GET", summary="The event's survey", tags=["surveys"], response=SurveyOut,
           auth=["organizer", "attendee"], errors=[401, 403, 404])
def get_survey(slug: str):
    """Organizers of the event see the response count; an attendee sees their saved answers."""
    registration = _registration()
    if registration is None:
        event = events.get_event_for(slug, principal())
        return survey_out(service.require_survey(event), organizer=True)
    event = events.get_public_event(slug)
    service.check_eligible(event, registration)
    return survey_out(service.require_survey(event), organizer=False, registration=registration)


def _answering(slug: str) -> tuple[Registration, Survey]:
    """Who answers which survey, if they may answer it now (else the refusal)."""
    registration = _registration()
    if registration is None:
        raise Forbidden("attendee_only", "回答は参加者のトークン（attendee_token）で送信してください。")
    event = events.get_public_event(slug)
    survey = service.require_survey(event)
    service.check_eligible(event, registration)
    service.check_open(survey, now_utc())
    return registration, survey


@operation("/events/<slug>/survey/responses", "POST", summary="Answer the survey (a second post replaces the first)",
           tags=["surveys"], body=ResponseIn, response=ResponseOut, auth=["organizer", "attendee"],
           errors=[401, 403, 404, 409, 415, 422], before_body=_answering)
def post_response(slug: str, body: ResponseIn):
    """Errors: ``wrong_event`` / ``not_eligible`` (403); ``survey_closed`` / ``survey_not_open``
    (409; before ``opens_at``, by default the event's start) — both before the body is looked at,
    so a closed or not yet open survey answers 409 whatever was sent; ``validation_error`` (422)
    with ``fields`` keyed ``answers.<question id>``."""
    registration, survey = _answering(slug)
    replaced = service.has_responded(survey, registration)
    answers = [service.AnswerData(a.question_id, a.value, a.other) for a in body.answers]
    service.submit_response(survey, registration, answers, now_utc(), secret=_secret())
    db.session.commit()
    return ResponseOut(saved=True, replaced=replaced,
                       answers=_answers_out(service.my_answers(survey, registration, _secret())))


def _result_out(survey: Survey, r: QuestionResult, versions: dict, removed: bool = False) -> QuestionResultOut:
    q = r.question
    question_id, version = versions[q.id]
    other = None
    distribution = None
    if r.distribution is not None:
        distribution = {b.label: b.count for b in r.distribution if not b.other}
        other = next((b.count for b in r.distribution if b.other), None)
    return QuestionResultOut(
        id=question_id, version=version, kind=q.kind, text=q.text, count=r.count, average=r.average,
        nps=NpsOut(score=r.nps.score, promoters=r.nps.promoters, passives=r.nps.passives,
                   detractors=r.nps.detractors) if r.nps else None,
        distribution=distribution, other_count=other,
        answers=[t.text for t in r.texts] if q.kind in ("text", "long_text") else None,
        others=[t.text for t in r.others] if q.allow_other else None, removed=removed)


@operation("/events/<slug>/survey/results", "GET", summary="Survey results", tags=["surveys"],
           response=ResultsOut, auth=["organizer"], errors=[401, 404])
def get_results(slug: str):
    """Counts, distributions, averages, NPS (0–10 scales) and free text. Never who answered what."""
    event = events.get_event_for(slug, principal())
    survey = service.require_survey(event)
    res = service.results(survey)
    versions = {v.id: (q.id, v.version) for q in survey.all_questions for v in q.versions}
    removed = {v.id for q in survey.all_questions if q.removed_at is not None for v in q.versions}
    return ResultsOut(
        responses=res.responses, checked_in=res.checked_in, confirmed=res.confirmed,
        respondents_checked_in=res.respondents_checked_in, respondents_confirmed=res.respondents_confirmed,
        response_rate_checked_in=res.rate_checked_in, response_rate_confirmed=res.rate_confirmed,
        questions=[_result_out(survey, r, versions) for r in res.questions],
        earlier=[_result_out(survey, r, versions, r.question.id in removed) for _label, r in res.earlier])


@operation("/events/<slug>/survey/export", "GET", summary="Survey answers as CSV (UTF-8 BOM) or XLSX",
           tags=["surveys"], query=ExportQuery, auth=["organizer"], errors=[401, 404, 422])
def export(slug: str, query: ExportQuery):
    event = events.get_event_for(slug, principal())
    survey = service.require_survey(event)
    body = service.export_xlsx(survey) if query.format == "xlsx" else service.export_csv(survey)
    return spreadsheet_download(body, f"{event.slug}-survey.{query.format}")


def _send_out(result: service.SendResult) -> SendOut:
    warnings = [SendWarningOut(code=n.code, message=str(n.message)) for n in result.notes]
    return SendOut(deliveries=[d.id for d in result.deliveries], people=result.people, answered=result.answered,
                   already_sent=result.already_sent, scheduled_at=result.scheduled_at,
                   warnings=[w.message for w in warnings], warning_details=warnings)


@operation("/events/<slug>/survey/invitations", "POST", summary="Invite checked-in attendees who have not answered",
           tags=["surveys"], response=SendOut, auth=["organizer"], errors=[401, 404, 409])
def post_invitations(slug: str):
    """One delivery per person and channel (``mail.survey_invite``…), once ever (dedupe key).
    Before the survey opens they are written now and go out at its opening (``scheduled_at``,
    warning ``waits_for_opening``); moving ``opens_at`` moves them too (earlier or later; cleared or
    past: now).
    409 ``attendance_unknown`` when check-in records are not available; ``survey_closed``."""
    event = events.get_event_for(slug, principal())
    survey = service.require_survey(event)
    result = service.send_invitations(survey, principal(), now_utc(), link_for=personal_url)
    db.session.commit()
    return _send_out(result)


@operation("/events/<slug>/survey/reminders", "POST", summary="Remind invited people who have not answered",
           tags=["surveys"], response=SendOut, auth=["organizer"], errors=[401, 404, 409])
def post_reminders(slug: str):
    """At most one reminder per person, channel and day (Japan time). 409 ``survey_not_open``
    before the survey opens (nobody can have answered yet); ``survey_closed``."""
    event = events.get_event_for(slug, principal())
    survey = service.require_survey(event)
    result = service.send_reminders(survey, principal(), now_utc(), link_for=personal_url)
    db.session.commit()
    return _send_out(result)
