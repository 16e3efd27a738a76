"""One row per recorded action."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from ..core.clock import now_utc
from ..core.types import UTCDateTime
from ..extensions import db

#: organizer: a logged-in organizer or an organizer's API token; staff: an event staff link
#: (session or token); attendee: an attendee acting on their own registration (deletion);
#: system: the command line or the outbox worker
ACTOR_KINDS = ("organizer", "staff", "attendee", "system")


class AuditEntry(db.Model):
    """What someone did. ``details`` holds ids, codes and counts — never names, e-mail
    addresses, ticket codes or free text typed by attendees."""

    __tablename__ = "audit_entries"
    __table_args__ = (Index("ix_audit_entries_event_at", "event_slug", "at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=now_utc, index=True)
    actor_kind: Mapped[str] = mapped_column(String(20))
    #: the organizer (kept when the account is gone: SET NULL leaves the label)
    organizer_id: Mapped[int | None] = mapped_column(ForeignKey("organizers.id", ondelete="SET NULL"), index=True)
    #: the organizer's name, the staff link's label (受付2), or ``cli`` / ``worker``
    actor_label: Mapped[str] = mapped_column(String(100), default="")
    #: the endpoint (``registration.manage_action:approve``, ``api.events_publish_event``) or an
    #: explicit name (``privacy.purge``, ``cli.organizer_create``)
    action: Mapped[str] = mapped_column(String(100), index=True)
    #: what it acted on: ``event:<slug>``, ``registration:<id>``, ``organizer:<id>`` …
    target: Mapped[str] = mapped_column(String(120), default="")
    #: the event concerned, when there is one (the page filters on it)
    event_slug: Mapped[str | None] = mapped_column(String(64))
    details: Mapped[dict] = mapped_column(JSON, default=dict)
    #: the client address, truncated (IPv4 /24, IPv6 /48); empty outside requests
    ip: Mapped[str] = mapped_column(String(50), default="")
