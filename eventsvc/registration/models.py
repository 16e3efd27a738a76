"""Registration: one person's application to one event, and its state machine.

States (one machine for first-come, lottery, waitlist and review)::

    applied ──draw──> confirmed | waitlisted           (lottery events, before the draw)
    pending_review ──approve──> confirmed | waitlisted | applied ; ──reject──> rejected
    waitlisted ──seat frees──> confirmed (automatic)  or  offered ──accept──> confirmed
                                                       offered ──deadline──> waitlisted… (next)
    confirmed | waitlisted | offered | applied | pending_review ──cancel──> cancelled

Only ``confirmed`` admits at the door; the ticket code is issued at once and kept
through promotion.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Boolean, ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..core.clock import now_utc
from ..core.types import UTCDateTime
from ..events.models import Event, TicketType
from ..extensions import db

STATUSES = ("applied", "pending_review", "confirmed", "waitlisted", "offered", "cancelled", "rejected")
#: statuses that hold (or wait for) a seat
ACTIVE = ("applied", "pending_review", "confirmed", "waitlisted", "offered")
#: statuses that count against capacity
SEATED = ("confirmed", "offered")


class Registration(db.Model):
    __tablename__ = "registrations"
    __table_args__ = (
        UniqueConstraint("event_id", "email"),
        Index("ix_registrations_event_status", "event_id", "status"),
        #: what an admission counts under the participation type's lock (seats held, people
        #: waiting, the highest rank) is read from this index alone, never from the rows; it also
        #: serves every lookup by participation type (its first column)
        Index("ix_registrations_type_status_rank", "ticket_type_id", "status", "queue_rank"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("events.id", ondelete="CASCADE"))
    ticket_type_id: Mapped[int] = mapped_column(ForeignKey("ticket_types.id", ondelete="RESTRICT"))
    status: Mapped[str] = mapped_column(String(20))
    #: as typed (trimmed)
    name: Mapped[str] = mapped_column(String(100))
    #: full-width katakana
    name_kana: Mapped[str] = mapped_column(String(100))
    #: normalised once (NFKC, trimmed, lower-cased); unique per event
    email: Mapped[str] = mapped_column(String(254))
    organization_code: Mapped[str | None] = mapped_column(ForeignKey("organizations.code"), index=True)
    #: display name: the organisation's name, or free text when no code fits
    organization_name: Mapped[str] = mapped_column(String(200), default="")
    department: Mapped[str] = mapped_column(String(200), default="")
    #: ticket code (``T1-…``), issued at once, admits only while confirmed
    ticket_code: Mapped[str] = mapped_column(String(40), unique=True)
    #: SHA-256 of the attendee token (bearer for the attendee's API calls and links)
    attendee_token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    #: team facilitator candidate (default: national-agency staff)
    facilitator: Mapped[bool] = mapped_column(Boolean, default=False)
    consent_privacy: Mapped[bool] = mapped_column(Boolean, default=False)
    consent_slack_mention: Mapped[bool] = mapped_column(Boolean, default=False)
    #: may appear (name + organisation) on the attendee list other attendees see
    consent_listing: Mapped[bool] = mapped_column(Boolean, default=False)
    #: answers to the event's own questions: {question_id: value}
    answers: Mapped[dict] = mapped_column(JSON, default=dict)
    #: order on the waitlist (lower first): creation order, or the lottery's drawn order
    queue_rank: Mapped[int | None] = mapped_column(Integer)
    offer_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    review_note: Mapped[str] = mapped_column(String(1000), default="")
    locale: Mapped[str] = mapped_column(String(5), default="ja")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now_utc)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now_utc)
    confirmed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    cancelled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    #: personal data erased (retention purge or the attendee's request; see ``privacy``):
    #: no link, token or code reaches this row any more; status and counts stay
    erased_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    #: how many times the person applied again after cancelling (the same row, a new ticket and
    #: link each time); it keeps the mails of each application apart
    reapplications: Mapped[int] = mapped_column(Integer, default=0, server_default="0")

    event: Mapped[Event] = relationship()
    ticket_type: Mapped[TicketType] = relationship()

    @property
    def admits(self) -> bool:
        return self.status == "confirmed"


PROMOTION_MODES = ("auto", "offer")
QUESTION_KINDS = ("text", "long_text", "single", "multiple")


class RegistrationSettings(db.Model):
    """Per-event registration settings (one row per event; defaults when absent)."""

    __tablename__ = "registration_settings"

    event_id: Mapped[int] = mapped_column(ForeignKey("events.id", ondelete="CASCADE"), primary_key=True)
    #: ``auto``: a freed seat confirms the head of the waitlist at once; ``offer``: they must accept in time
    promotion_mode: Mapped[str] = mapped_column(String(10), default="auto")
    offer_hours: Mapped[int] = mapped_column(Integer, default=48)
    #: the event's own questions: [{id, kind, text, options, required}]
    questions: Mapped[list] = mapped_column(JSON, default=list)
    #: lottery events: when the worker draws automatically (None = by hand only)
    lottery_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    #: the purpose of use of personal data, shown next to the consent box
    privacy_purpose: Mapped[str] = mapped_column(String(2000), default="")
    #: days after the event's end when its personal data is erased (None: ``RETENTION_DAYS``)
    retention_days: Mapped[int | None] = mapped_column(Integer)
    #: when the retention purge erased the event's personal data (None: not yet)
    purged_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now_utc)


class LotteryDraw(db.Model):
    """A recorded draw for one participation type: seed, inputs and result (re-checkable)."""

    __tablename__ = "lottery_draws"
    __table_args__ = (UniqueConstraint("ticket_type_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("events.id", ondelete="CASCADE"), index=True)
    ticket_type_id: Mapped[int] = mapped_column(ForeignKey("ticket_types.id", ondelete="CASCADE"))
    seed: Mapped[str] = mapped_column(String(64))
    #: :meth:`eventsvc.registration.lottery.Draw.as_record`
    record: Mapped[dict] = mapped_column(JSON, default=dict)
    drawn_by: Mapped[str] = mapped_column(String(254), default="")
    drawn_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now_utc)
