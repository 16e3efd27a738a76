"""Organizer accounts and their API tokens."""

from __future__ import annotations

from datetime import datetime

from flask_login import UserMixin
from sqlalchemy import Boolean, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..core.clock import now_utc
from ..core.types import UTCDateTime
from ..extensions import db


class Organizer(UserMixin, db.Model):
    """Someone who runs events. ``is_admin`` also sees every event and the audit log."""

    __tablename__ = "organizers"

    id: Mapped[int] = mapped_column(primary_key=True)
    #: normalised (NFKC, trimmed, lower-cased)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    name: Mapped[str] = mapped_column(String(100))
    #: werkzeug's salted scrypt hash
    password_hash: Mapped[str] = mapped_column(String(255))
    is_admin: Mapped[bool] = mapped_column(Boolean, default=False)
    is_active_account: Mapped[bool] = mapped_column(Boolean, default=True)
    #: bumped on logout-everywhere / password change; sessions carry it and die when it moves
    session_version: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now_utc)
    last_login_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    tokens: Mapped[list[ApiToken]] = relationship(back_populates="organizer", cascade="all, delete-orphan")

    @property
    def is_active(self) -> bool:  # Flask-Login
        return self.is_active_account

    def get_id(self) -> str:  # Flask-Login: the session dies when session_version moves
        return f"{self.id}:{self.session_version}"


class ApiToken(db.Model):
    """A bearer token for the JSON API. Only its SHA-256 is stored."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    organizer_id: Mapped[int] = mapped_column(ForeignKey("organizers.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(100), default="")
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    #: the first characters, to tell tokens apart in lists
    prefix: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now_utc)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    organizer: Mapped[Organizer] = relationship(back_populates="tokens")
