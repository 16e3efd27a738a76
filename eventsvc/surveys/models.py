"""Survey, its questions and their versions, who responded, and what was answered.

How anonymity is kept (an anonymous survey's results and exports never show who
answered what):

- :class:`SurveyRespondent` records *who* has responded (registration id), for the
  one-response rule, reminders and the response rate. It holds nothing answered.
- :class:`SurveyResponse` holds *what* was answered. Its id is random (not a sequence,
  so insertion order can't be matched against the respondents), it has no timestamp
  and no registration for anonymous surveys, and it is found again for editing only
  through ``owner_key`` = HMAC(secret key, survey + registration) — a value nothing
  in the database can be joined on. Named surveys also fill ``registration_id`` and
  ``submitted_at``.
- :class:`SurveyAnswer` rows are keyed by (response, question version): no sequence.

Question versions: :class:`SurveyQuestion` is the stable question (its id is the API's
question id, its position the order); each :class:`QuestionVersion` is one wording.
An edit that changes what a question means (kind, text, options, scale, labels) after
answers exist adds a version; answers stay tied to the version they answered.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Boolean, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..core.clock import now_utc
from ..core.types import UTCDateTime
from ..events.models import Event
from ..extensions import db

KINDS = ("rating", "single", "multiple", "text", "long_text")


class Survey(db.Model):
    """The survey of one event (one per event)."""

    __tablename__ = "surveys"

    id: Mapped[int] = mapped_column(primary_key=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("events.id", ondelete="CASCADE"), unique=True)
    title: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    #: results and exports never show who answered what
    anonymous: Mapped[bool] = mapped_column(Boolean, default=True)
    #: answers are accepted from ``opens_at`` (None: at once) until ``closes_at`` (None: no end)
    opens_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    closes_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    #: the short URL's code (``/s/<code>``) shown on the projector page
    short_code: Mapped[str] = mapped_column(String(16), unique=True)
    #: bumped on every edit of the questions; forms carry it to notice a change underneath
    revision: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now_utc)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now_utc)

    event: Mapped[Event] = relationship()
    all_questions: Mapped[list[SurveyQuestion]] = relationship(
        back_populates="survey", order_by="SurveyQuestion.position", cascade="all, delete-orphan")

    @property
    def questions(self) -> list[SurveyQuestion]:
        """The questions asked now, in order (removed ones keep their answers but are not asked)."""
        return sorted((q for q in self.all_questions if q.removed_at is None), key=lambda q: q.position)


class SurveyQuestion(db.Model):
    """A question's identity and place; its wording lives in :class:`QuestionVersion`."""

    __tablename__ = "survey_questions"

    id: Mapped[int] = mapped_column(primary_key=True)
    survey_id: Mapped[int] = mapped_column(ForeignKey("surveys.id", ondelete="CASCADE"), index=True)
    position: Mapped[int] = mapped_column(Integer, default=0)
    #: the default template's key (``satisfaction``, ``recommend`` …), to compare across events
    key: Mapped[str | None] = mapped_column(String(40))
    removed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    survey: Mapped[Survey] = relationship(back_populates="all_questions")
    versions: Mapped[list[QuestionVersion]] = relationship(
        back_populates="question", order_by="QuestionVersion.version", cascade="all, delete-orphan")

    @property
    def current(self) -> QuestionVersion:
        return self.versions[-1]


class QuestionVersion(db.Model):
    """One wording of a question. Answers point here, so later edits can't change them."""

    __tablename__ = "survey_question_versions"
    __table_args__ = (UniqueConstraint("question_id", "version"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    question_id: Mapped[int] = mapped_column(ForeignKey("survey_questions.id", ondelete="CASCADE"), index=True)
    version: Mapped[int] = mapped_column(Integer, default=1)
    #: rating / single / multiple / text / long_text
    kind: Mapped[str] = mapped_column(String(20))
    text: Mapped[str] = mapped_column(String(500))
    #: choices for single/multiple, as shown (answers store the chosen labels)
    options: Mapped[list] = mapped_column(JSON, default=list)
    #: choice questions: an "other" choice with free text
    allow_other: Mapped[bool] = mapped_column(Boolean, default=False)
    scale_min: Mapped[int | None] = mapped_column(Integer)
    scale_max: Mapped[int | None] = mapped_column(Integer)
    min_label: Mapped[str] = mapped_column(String(50), default="")
    max_label: Mapped[str] = mapped_column(String(50), default="")
    #: may change in place (it doesn't change what existing answers mean)
    required: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now_utc)

    question: Mapped[SurveyQuestion] = relationship(back_populates="versions")


class SurveyRespondent(db.Model):
    """Who has responded to a survey — and nothing about what they answered."""

    __tablename__ = "survey_respondents"
    __table_args__ = (UniqueConstraint("survey_id", "registration_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    survey_id: Mapped[int] = mapped_column(ForeignKey("surveys.id", ondelete="CASCADE"), index=True)
    registration_id: Mapped[int] = mapped_column(ForeignKey("registrations.id", ondelete="CASCADE"), index=True)
    first_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now_utc)
    last_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now_utc)


class SurveyResponse(db.Model):
    """What one person answered — with no way back to the person for anonymous surveys."""

    __tablename__ = "survey_responses"
    __table_args__ = (UniqueConstraint("survey_id", "owner_key"),)

    #: random (``secrets.token_hex``), so ids carry no order
    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    survey_id: Mapped[int] = mapped_column(ForeignKey("surveys.id", ondelete="CASCADE"), index=True)
    #: HMAC of the survey and registration under the server's secret: finds "my" response to edit
    owner_key: Mapped[str] = mapped_column(String(64))
    #: named surveys only (None when anonymous)
    registration_id: Mapped[int | None] = mapped_column(ForeignKey("registrations.id", ondelete="SET NULL"))
    #: named surveys only (a time could be matched against the respondents' times)
    submitted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    answers: Mapped[list[SurveyAnswer]] = relationship(back_populates="response", cascade="all, delete-orphan")


class SurveyAnswer(db.Model):
    """One answer to one question version."""

    __tablename__ = "survey_answers"

    response_id: Mapped[str] = mapped_column(ForeignKey("survey_responses.id", ondelete="CASCADE"),
                                             primary_key=True)
    question_version_id: Mapped[int] = mapped_column(
        ForeignKey("survey_question_versions.id", ondelete="CASCADE"), primary_key=True, index=True)
    #: int (rating), str (single/text/long_text) or list of str (multiple); None for "other" only
    value: Mapped[object] = mapped_column(JSON, nullable=True)
    #: the free text of the "other" choice
    other: Mapped[str] = mapped_column(Text, default="")

    response: Mapped[SurveyResponse] = relationship(back_populates="answers")
