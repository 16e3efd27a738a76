"""Event, TicketType (参加区分) and AgendaItem."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import JSON, Column, ForeignKey, Integer, String, Table, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..auth.models import Organizer
from ..core.clock import now_utc
from ..core.types import UTCDateTime
from ..extensions import db

STATUSES = ("draft", "published", "closed", "cancelled")
SELECTIONS = ("first_come", "lottery")
AGENDA_KINDS = ("talk", "workshop", "break", "networking", "other")
DEFAULT_ALLOWED_DOMAINS = ["lg.jp", "go.jp"]

event_organizers = Table(
    "event_organizers",
    db.metadata,
    Column("event_id", ForeignKey("events.id", ondelete="CASCADE"), primary_key=True),
    Column("organizer_id", ForeignKey("organizers.id", ondelete="CASCADE"), primary_key=True),
)


class Event(db.Model):
    """A study session or workshop. Times are UTC; pages show Japan time."""

    __tablename__ = "events"

    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(String(64), unique=True)
    #: stable iCalendar UID
    uid: Mapped[str] = mapped_column(String(64), default=lambda: uuid.uuid4().hex)
    title: Mapped[str] = mapped_column(String(200))
    summary: Mapped[str] = mapped_column(String(500), default="")
    #: Markdown; rendered with raw HTML disabled and sanitised
    description: Mapped[str] = mapped_column(Text, default="")
    venue_name: Mapped[str] = mapped_column(String(200), default="")
    venue_address: Mapped[str] = mapped_column(String(300), default="")
    #: shown only to confirmed attendees
    online_url: Mapped[str] = mapped_column(String(2000), default="")
    region: Mapped[str | None] = mapped_column(String(20), index=True)
    prefecture_code: Mapped[str | None] = mapped_column(String(2))
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    ends_at: Mapped[datetime] = mapped_column(UTCDateTime)
    registration_opens_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    registration_closes_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    selection: Mapped[str] = mapped_column(String(20), default="first_come")
    allowed_email_domains: Mapped[list] = mapped_column(JSON, default=lambda: list(DEFAULT_ALLOWED_DOMAINS))
    status: Mapped[str] = mapped_column(String(20), default="draft", index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now_utc)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now_utc)
    published_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    organizers: Mapped[list[Organizer]] = relationship(secondary=event_organizers)
    ticket_types: Mapped[list[TicketType]] = relationship(
        back_populates="event", order_by="TicketType.position", cascade="all, delete-orphan"
    )
    agenda_items: Mapped[list[AgendaItem]] = relationship(
        back_populates="event", order_by="AgendaItem.position", cascade="all, delete-orphan"
    )

    def is_managed_by(self, organizer) -> bool:
        if organizer is None or not getattr(organizer, "is_authenticated", False):
            return False
        return bool(organizer.is_admin) or any(o.id == organizer.id for o in self.organizers)

    @property
    def is_public(self) -> bool:
        return self.status != "draft"

    @property
    def is_online(self) -> bool:
        """People take part online: a participation URL is set, or a participation type is coded
        ``online``. An event with no venue is not online for that alone (its venue may be undecided)."""
        return bool(self.online_url) or any(t.code == "online" for t in self.ticket_types)

    @property
    def online_only(self) -> bool:
        """Everyone takes part online, as far as the event says: it is online (:attr:`is_online`)
        and not hybrid — an event with an ``online`` type beside another (会場参加) has a venue,
        perhaps not decided yet."""
        codes = [t.code for t in self.ticket_types]
        return self.is_online and not ("online" in codes and any(c != "online" for c in codes))

    @property
    def calendar_location(self) -> str:
        """An .ics LOCATION: the venue and its address; オンライン when everyone takes part online;
        else none (a venue not decided yet is no place to put in a calendar)."""
        return "、".join(x for x in (self.venue_name, self.venue_address) if x) or (
            "オンライン" if self.online_only else "")

    def ticket_type(self, code: str) -> TicketType | None:
        return next((t for t in self.ticket_types if t.code == code), None)


class TicketType(db.Model):
    """A participation type (会場参加, オンライン参加 …) with its own capacity."""

    __tablename__ = "ticket_types"
    __table_args__ = (UniqueConstraint("event_id", "code"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("events.id", ondelete="CASCADE"), index=True)
    code: Mapped[str] = mapped_column(String(32))
    name: Mapped[str] = mapped_column(String(100))
    capacity: Mapped[int] = mapped_column(Integer)
    position: Mapped[int] = mapped_column(Integer, default=0)

    event: Mapped[Event] = relationship(back_populates="ticket_types")


class AgendaItem(db.Model):
    """One slot of the programme."""

    __tablename__ = "agenda_items"

    id: Mapped[int] = mapped_column(primary_key=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("events.id", ondelete="CASCADE"), index=True)
    position: Mapped[int] = mapped_column(Integer, default=0)
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime)
    ends_at: Mapped[datetime] = mapped_column(UTCDateTime)
    title: Mapped[str] = mapped_column(String(200))
    speaker: Mapped[str] = mapped_column(String(100), default="")
    affiliation: Mapped[str] = mapped_column(String(200), default="")
    description: Mapped[str] = mapped_column(Text, default="")
    kind: Mapped[str] = mapped_column(String(20), default="talk")
    materials_url: Mapped[str] = mapped_column(String(2000), default="")

    event: Mapped[Event] = relationship(back_populates="agenda_items")
