"""Organizer accounts, their API tokens, second factor and recovery codes, and login throttling."""

from __future__ import annotations

from datetime import datetime

from flask_login import UserMixin
from sqlalchemy import Boolean, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..core.clock import now_utc
from ..core.types import UTCDateTime
from ..extensions import db


class Organizer(UserMixin, db.Model):
    """Someone who runs events. ``is_admin`` also sees every event and manages organizers.

    Roles: an admin (every event, the organizer list; a second factor is required), an
    organizer (the events they organize). Reception staff have no account: they hold an
    event staff link (``checkin.models.StaffLink``).
    """

    __tablename__ = "organizers"

    id: Mapped[int] = mapped_column(primary_key=True)
    #: normalised (NFKC, trimmed, lower-cased)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    name: Mapped[str] = mapped_column(String(100))
    #: werkzeug's salted scrypt hash
    password_hash: Mapped[str] = mapped_column(String(255))
    is_admin: Mapped[bool] = mapped_column(Boolean, default=False)
    is_active_account: Mapped[bool] = mapped_column(Boolean, default=True)
    #: bumped on logout, logout-everywhere, password change, 2FA change and deactivation;
    #: sessions carry it and die when it moves
    session_version: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now_utc)
    last_login_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    password_changed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    #: TOTP (RFC 6238) shared secret, sealed (``totp.seal``); set once a code confirmed it
    totp_secret: Mapped[str | None] = mapped_column(String(255))
    #: a secret shown by the setup page, waiting for its first code (sealed too)
    totp_pending_secret: Mapped[str | None] = mapped_column(String(255))
    totp_enabled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    #: the last 30-second time step accepted: a code is good once
    totp_last_step: Mapped[int | None] = mapped_column(Integer)

    tokens: Mapped[list[ApiToken]] = relationship(back_populates="organizer", cascade="all, delete-orphan")
    recovery_codes: Mapped[list[RecoveryCode]] = relationship(back_populates="organizer",
                                                              cascade="all, delete-orphan")

    @property
    def is_active(self) -> bool:  # Flask-Login
        return self.is_active_account

    @property
    def has_totp(self) -> bool:
        return self.totp_secret is not None

    @property
    def needs_totp_setup(self) -> bool:
        """Admins must have a second factor before they may use any organizer page."""
        return self.is_admin and not self.has_totp

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
    #: refreshed at most once a minute (see ``service.touch_token``)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    organizer: Mapped[Organizer] = relationship(back_populates="tokens")

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None


class RecoveryCode(db.Model):
    """A one-time code that stands in for the TOTP code (a lost phone). Only its SHA-256 is stored."""

    __tablename__ = "recovery_codes"

    id: Mapped[int] = mapped_column(primary_key=True)
    organizer_id: Mapped[int] = mapped_column(ForeignKey("organizers.id", ondelete="CASCADE"), index=True)
    code_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now_utc)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    organizer: Mapped[Organizer] = relationship(back_populates="recovery_codes")


class LoginThrottle(db.Model):
    """Failed logins counted per account name, whether or not such an account exists.

    Keyed by an HMAC of the normalised e-mail address (the address itself is not kept), so
    the lock and its message are the same for an unknown address: the page never tells
    whether an account exists. Wrong second-factor codes count here too.
    """

    __tablename__ = "login_throttles"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    failures: Mapped[int] = mapped_column(Integer, default=0)
    last_failed_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
