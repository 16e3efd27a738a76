"""What eventsvc keeps about Slack: account links, where follow-ups go, and a little cache.

* :class:`SlackLink` — one per registration that someone tried to link: the Slack user,
  whether they are in the workspace, and how we know (bulk e-mail match, Sign in with
  Slack, by hand, or because they registered from Slack). ``pinned`` rows were decided by
  a person (or proven by OIDC); a bulk run never overrides them. No row = "unknown".
* :class:`RegionChannel` — region (``core.orgs.REGIONS`` code) → the channel follow-ups go to.
* :class:`EventChannel` — a per-event override of that channel.
* :class:`ChannelCache` — the last ``conversations.list`` (the settings page picks from it).
* :class:`DirectoryEntry`, :class:`DirectoryState` — the workspace's members by e-mail, kept
  pseudonymised (a keyed hash of the address, the member id, nothing else) so linking needs no
  Slack call at the moment an organizer asks; refreshed a page at a time by the worker.
* :class:`SeenKey` — single-use keys: signatures of incoming Slack requests (replay dedupe)
  and OIDC state nonces. Old rows are pruned.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..core.clock import now_utc
from ..core.types import UTCDateTime
from ..extensions import db
from ..registration.models import Registration

#: linked: we know their Slack user; not_in_workspace: looked up, nobody (or a deactivated
#: account) has that address; unknown: not looked up yet, or unlinked by hand
LINK_STATUSES = ("linked", "not_in_workspace", "unknown")
#: bulk: users.list / lookupByEmail on the registration's e-mail; oidc: the attendee signed in
#: with Slack; manual: an organizer; slack: registered with the button in Slack
LINK_METHODS = ("bulk", "oidc", "manual", "slack")


class SlackLink(db.Model):
    __tablename__ = "slack_links"

    registration_id: Mapped[int] = mapped_column(
        ForeignKey("registrations.id", ondelete="CASCADE"), primary_key=True
    )
    event_id: Mapped[int] = mapped_column(ForeignKey("events.id", ondelete="CASCADE"), index=True)
    status: Mapped[str] = mapped_column(String(20), default="unknown")
    slack_user_id: Mapped[str | None] = mapped_column(String(32), index=True)
    slack_team_id: Mapped[str] = mapped_column(String(32), default="")
    method: Mapped[str] = mapped_column(String(10), default="bulk")
    #: a person decided (manual link/unlink) or the attendee proved it (OIDC, Slack button)
    pinned: Mapped[bool] = mapped_column(Boolean, default=False)
    #: who did it: an organizer's name, "Sign in with Slack", "一括照合"
    updated_by: Mapped[str] = mapped_column(String(100), default="")
    checked_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now_utc)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now_utc)

    registration: Mapped[Registration] = relationship()


class RegionChannel(db.Model):
    __tablename__ = "slack_region_channels"

    region: Mapped[str] = mapped_column(String(20), primary_key=True)
    channel_id: Mapped[str] = mapped_column(String(32))
    #: the name when it was chosen (shown when the channel list is unavailable)
    channel_name: Mapped[str] = mapped_column(String(100), default="")
    updated_by: Mapped[str] = mapped_column(String(100), default="")
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now_utc)


class EventChannel(db.Model):
    __tablename__ = "slack_event_channels"

    event_id: Mapped[int] = mapped_column(ForeignKey("events.id", ondelete="CASCADE"), primary_key=True)
    channel_id: Mapped[str] = mapped_column(String(32))
    channel_name: Mapped[str] = mapped_column(String(100), default="")
    updated_by: Mapped[str] = mapped_column(String(100), default="")
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now_utc)


class ChannelCache(db.Model):
    __tablename__ = "slack_channel_cache"

    channel_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str] = mapped_column(String(100), default="")
    is_private: Mapped[bool] = mapped_column(Boolean, default=False)
    is_archived: Mapped[bool] = mapped_column(Boolean, default=False)
    #: the bot is a member (it can post; without chat:write.public it must be)
    is_member: Mapped[bool] = mapped_column(Boolean, default=False)
    num_members: Mapped[int | None] = mapped_column(Integer)
    fetched_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now_utc)


class SeenKey(db.Model):
    __tablename__ = "slack_seen_keys"
    __table_args__ = (UniqueConstraint("kind", "key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    #: ``request`` (an incoming request's signature) or ``oidc_state`` (a state nonce)
    kind: Mapped[str] = mapped_column(String(20))
    key: Mapped[str] = mapped_column(String(128))
    seen_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now_utc, index=True)


class DirectoryEntry(db.Model):
    """A workspace member, known by a keyed hash of their e-mail address (never the address)."""

    __tablename__ = "slack_directory"

    email_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[str] = mapped_column(String(32))
    team_id: Mapped[str] = mapped_column(String(32), default="")
    #: deactivated in Slack (kept so an active account with the same address wins)
    deleted: Mapped[bool] = mapped_column(Boolean, default=False)
    #: the refresh that last saw this member
    generation: Mapped[int] = mapped_column(Integer, index=True)


class DirectoryState(db.Model):
    """How far the directory is: one row (id 1)."""

    __tablename__ = "slack_directory_state"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    #: the refresh being built, and the last one that went through every page
    generation: Mapped[int] = mapped_column(Integer, default=0)
    complete_generation: Mapped[int | None] = mapped_column(Integer)
    #: which key hashed the addresses (a new secret key means a new directory)
    key_id: Mapped[str] = mapped_column(String(16), default="")
    cursor: Mapped[str | None] = mapped_column(String(500))
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    next_page_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    members: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str] = mapped_column(String(200), default="")
