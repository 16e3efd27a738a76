"""Check-ins, the log of every scan, event staff links and the self check-in attendance code.

A registration has at most one *valid* check-in (``result = 'checked_in'`` and not
undone) — a partial unique index holds this on every database, below the row lock the
service takes. Offline scans that arrive after someone else already admitted the same
ticket are kept as ``result = 'duplicate'`` rows, never dropped.

A scan's nonce names one scan of one ticket (see :func:`eventsvc.checkin.service.check_in`): the
unique keys are (registration, nonce) — and (event, nonce, input hash) for scans that named no
ticket of the event — so a retried upload is stored once, while the same nonce sent again for
another ticket is another scan, stored on its own.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..core.clock import now_utc
from ..core.types import UTCDateTime
from ..events.models import Event
from ..extensions import db
from ..registration.models import Registration

#: how a ticket reached the desk
METHODS = ("camera", "scanner", "search", "offline", "self", "walkin")
#: what a scan may answer (the API's ``result``); ``undone`` appears only in the log
RESULTS = ("checked_in", "already_checked_in", "unknown_code", "not_admitted", "wrong_event")
#: what a device may have answered when it turned someone away offline (logged as ``refused_offline``)
REFUSALS = ("unknown_code", "not_admitted", "already_checked_in")
#: a Checkin row is the admission itself, or an offline admission that came second
CHECKIN_RESULTS = ("checked_in", "duplicate")

_VALID = "result = 'checked_in' AND undone_at IS NULL"
#: a log row of a scan that named no ticket of this event (its ``input_hash`` stands for what was read)
UNMATCHED = "registration_id IS NULL AND input_hash <> ''"


class Checkin(db.Model):
    """One admission at the door (or a duplicate one made offline on another device)."""

    __tablename__ = "checkins"
    __table_args__ = (
        #: one row per scan of a ticket (a retried upload adds none); the nonce may come again for another ticket
        Index("uq_checkins_scan", "registration_id", "nonce", unique=True),
        Index("uq_checkins_one_valid", "registration_id", unique=True,
              sqlite_where=text(_VALID), postgresql_where=text(_VALID)),
        Index("ix_checkins_event_result", "event_id", "result"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("events.id", ondelete="CASCADE"))
    #: (its lookups use ``uq_checkins_scan``, which begins with it: no index of its own to write)
    registration_id: Mapped[int] = mapped_column(ForeignKey("registrations.id", ondelete="CASCADE"))
    #: ``checked_in`` (the admission) or ``duplicate`` (a second, offline admission kept for review)
    result: Mapped[str] = mapped_column(String(20), default="checked_in")
    #: when the device scanned (its clock; offline scans arrive later)
    scanned_at: Mapped[datetime] = mapped_column(UTCDateTime)
    #: when the server stored it
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now_utc)
    device_id: Mapped[str] = mapped_column(String(64), default="")
    method: Mapped[str] = mapped_column(String(20))
    #: one per scan from the device; a retried upload with the same nonce counts once
    nonce: Mapped[str | None] = mapped_column(String(64))
    #: who admitted: the staff link's label (受付2) or the organizer's name
    actor_label: Mapped[str] = mapped_column(String(100), default="")
    staff_link_id: Mapped[int | None] = mapped_column(ForeignKey("staff_links.id", ondelete="SET NULL"))
    organizer_id: Mapped[int | None] = mapped_column(ForeignKey("organizers.id", ondelete="SET NULL"))
    undone_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    undone_by: Mapped[str] = mapped_column(String(100), default="")

    registration: Mapped[Registration] = relationship()

    @property
    def is_valid(self) -> bool:
        return self.result == "checked_in" and self.undone_at is None


class CheckinLog(db.Model):
    """Every scan attempt, whatever it answered — including codes nobody issued.

    What was scanned is kept only as ``input_hash`` (the first 16 hex digits of its
    SHA-256 of the canonical code when the input held one, however it was typed, else of the raw
    input) when it matched no ticket of this event: garbage is never stored verbatim.

    A nonce is stored once per scan: once per (registration, nonce), and for scans that matched no
    ticket of the event once per (event, nonce, input hash).
    """

    __tablename__ = "checkin_log"
    __table_args__ = (
        Index("uq_checkin_log_scan", "registration_id", "nonce", unique=True),
        Index("uq_checkin_log_unmatched_scan", "event_id", "nonce", "input_hash", unique=True,
              sqlite_where=text(UNMATCHED), postgresql_where=text(UNMATCHED)),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("events.id", ondelete="CASCADE"), index=True)
    #: set only for this event's registrations (never another event's)
    #: (its lookups use ``uq_checkin_log_scan``, which begins with it: no index of its own to write)
    registration_id: Mapped[int | None] = mapped_column(ForeignKey("registrations.id", ondelete="SET NULL"))
    #: the check-in the line is about: the row the scan wrote (an admission, or a duplicate kept for
    #: review), the earlier admission an online rescan found (``already_checked_in``), the one taken back (``undone``)
    checkin_id: Mapped[int | None] = mapped_column(ForeignKey("checkins.id", ondelete="SET NULL"))
    #: a scan result (``RESULTS``), ``undone``, or ``refused_offline`` (a device turned the person away
    #: while offline; ``reason`` holds what it answered)
    result: Mapped[str] = mapped_column(String(30))
    #: for ``not_admitted``: the registration's status (waitlisted, cancelled, pending_review…);
    #: for ``refused_offline``: the device's answer (``REFUSALS``)
    reason: Mapped[str] = mapped_column(String(30), default="")
    #: an offline scan that was admitted on the device but came second (kept as a duplicate)
    duplicate: Mapped[bool] = mapped_column(default=False)
    input_hash: Mapped[str] = mapped_column(String(16), default="")
    method: Mapped[str] = mapped_column(String(20), default="")
    device_id: Mapped[str] = mapped_column(String(64), default="")
    nonce: Mapped[str | None] = mapped_column(String(64))
    actor_label: Mapped[str] = mapped_column(String(100), default="")
    scanned_at: Mapped[datetime] = mapped_column(UTCDateTime)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now_utc)

    checkin: Mapped[Checkin | None] = relationship()


class StaffLink(db.Model):
    """A link that lets reception staff without an account check people in at one event.

    The token is shown once (in the link) and stored as its SHA-256. Opening the link
    exchanges it for a session scoped to the event; the same token is also a bearer
    token for the check-in API of that event only.
    """

    __tablename__ = "staff_links"

    id: Mapped[int] = mapped_column(primary_key=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("events.id", ondelete="CASCADE"), index=True)
    #: shown on every check-in it makes, e.g. 受付2
    label: Mapped[str] = mapped_column(String(50))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    #: the first characters, to tell links apart in the list
    prefix: Mapped[str] = mapped_column(String(16))
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("organizers.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now_utc)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    event: Mapped[Event] = relationship()

    def is_active(self, now: datetime) -> bool:
        return self.revoked_at is None and now < self.expires_at

    # the JSON API's principal protocol: a staff link is never an organizer
    is_authenticated = False
    is_admin = False


class AttendanceCode(db.Model):
    """The code shown on the projector for self check-in (one per event, can be replaced)."""

    __tablename__ = "attendance_codes"

    event_id: Mapped[int] = mapped_column(ForeignKey("events.id", ondelete="CASCADE"), primary_key=True)
    code: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now_utc)
