"""Configuration: defaults, then ``EVENTSVC_*`` environment variables, then the caller's mapping."""

from __future__ import annotations

import os
import secrets
from pathlib import Path

#: Environment variable → config key. Values are strings; see ``_coerce``.
ENV_KEYS = {
    "EVENTSVC_DATABASE_URL": "SQLALCHEMY_DATABASE_URI",
    "EVENTSVC_SECRET_KEY": "SECRET_KEY",
    "EVENTSVC_BASE_URL": "BASE_URL",
    "EVENTSVC_SLACK_BOT_TOKEN": "SLACK_BOT_TOKEN",
    "EVENTSVC_SLACK_SIGNING_SECRET": "SLACK_SIGNING_SECRET",
    "EVENTSVC_SLACK_CLIENT_ID": "SLACK_CLIENT_ID",
    "EVENTSVC_SLACK_CLIENT_SECRET": "SLACK_CLIENT_SECRET",
    "EVENTSVC_SLACK_TEAM_ID": "SLACK_TEAM_ID",
    "EVENTSVC_SLACK_API_URL": "SLACK_API_URL",
    "EVENTSVC_SLACK_JOIN_URL": "SLACK_JOIN_URL",
    "EVENTSVC_SLACK_TIMEOUT": "SLACK_TIMEOUT",
    "EVENTSVC_SLACK_DIRECTORY_MAX_AGE": "SLACK_DIRECTORY_MAX_AGE",
    "EVENTSVC_SMTP_URL": "SMTP_URL",
    "EVENTSVC_MAIL_FROM": "MAIL_FROM",
    "EVENTSVC_RATELIMIT": "RATELIMIT_ENABLED",
    "EVENTSVC_RATELIMIT_STORAGE_URL": "RATELIMIT_STORAGE_URI",
    "EVENTSVC_SECURE_COOKIES": "SESSION_COOKIE_SECURE",
    "EVENTSVC_PROXY_COUNT": "PROXY_COUNT",
    "EVENTSVC_RETENTION_DAYS": "RETENTION_DAYS",
    "EVENTSVC_LOG_LEVEL": "LOG_LEVEL",
    "EVENTSVC_SESSION_IDLE_MINUTES": "SESSION_IDLE_MINUTES",
    "EVENTSVC_SESSION_MAX_HOURS": "SESSION_MAX_HOURS",
    "EVENTSVC_LOGIN_MAX_FAILURES": "LOGIN_MAX_FAILURES",
    "EVENTSVC_LOGIN_LOCK_SECONDS": "LOGIN_LOCK_SECONDS",
    "EVENTSVC_LOGIN_LOCK_MAX_SECONDS": "LOGIN_LOCK_MAX_SECONDS",
    "EVENTSVC_TOTP_ISSUER": "TOTP_ISSUER",
}

_BOOL = {"1": True, "true": True, "on": True, "yes": True, "0": False, "false": False,
         "off": False, "no": False, "": False}  # fmt: skip


class Config:
    """Defaults for running ``eventsvc serve`` on one machine."""

    SQLALCHEMY_DATABASE_URI: str | None = None  # default: SQLite file in the instance folder
    #: hide_parameters: SQL errors (and their tracebacks in the log) never carry the values
    SQLALCHEMY_ENGINE_OPTIONS: dict = {"hide_parameters": True}
    SECRET_KEY: str | None = None  # default: generated into instance/secret_key
    BASE_URL: str | None = None  # e.g. https://events.example.lg.jp ; else from the request
    SLACK_BOT_TOKEN: str | None = None
    SLACK_SIGNING_SECRET: str | None = None
    SLACK_CLIENT_ID: str | None = None
    SLACK_CLIENT_SECRET: str | None = None
    SLACK_TEAM_ID: str | None = None
    SLACK_API_URL: str | None = None
    #: the community's page on how to join the workspace (shown beside attendees not in it yet)
    SLACK_JOIN_URL: str | None = None
    SLACK_TIMEOUT: int = 10  # seconds per Slack API call
    #: hours before the worker reads the workspace's member list again (see slack.directory)
    SLACK_DIRECTORY_MAX_AGE: float = 12.0
    SMTP_URL: str | None = None
    MAIL_FROM: str = "eventsvc <no-reply@localhost>"
    RATELIMIT_ENABLED: bool = True
    #: default: a SQLite file in the instance folder (``ratelimits.sqlite``), shared by the
    #: processes of this host; ``redis://…`` to share it between hosts
    RATELIMIT_STORAGE_URI: str | None = None
    RATELIMIT_HEADERS_ENABLED: bool = True
    #: when the storage fails (the file unusable, Redis down), each process counts in memory and
    #: tries the storage again now and then (Flask-Limiter's fallback, which logs a warning); an
    #: error of the limiter itself lets the request through (logged) instead of answering 500.
    #: Flask-Limiter reads these two from the first app it is set up with: keep them here.
    RATELIMIT_IN_MEMORY_FALLBACK_ENABLED: bool = True
    RATELIMIT_SWALLOW_ERRORS: bool = True
    SESSION_COOKIE_SECURE: bool = False  # HTTP-only LGWAN hosts exist; set on for HTTPS
    SESSION_COOKIE_HTTPONLY: bool = True
    SESSION_COOKIE_SAMESITE: str = "Lax"
    REMEMBER_COOKIE_HTTPONLY: bool = True
    #: organizer sessions end after this long without a request, and this long after login
    SESSION_IDLE_MINUTES: int = 120
    SESSION_MAX_HOURS: int = 12
    #: per account name: locked after this many failed logins, first for LOGIN_LOCK_SECONDS,
    #: doubling with each further failure up to LOGIN_LOCK_MAX_SECONDS
    LOGIN_MAX_FAILURES: int = 5
    LOGIN_LOCK_SECONDS: int = 60
    LOGIN_LOCK_MAX_SECONDS: int = 3600
    #: the name authenticator apps show next to the account
    TOTP_ISSUER: str = "eventsvc"
    PROXY_COUNT: int = 0
    RETENTION_DAYS: int = 180
    LOG_LEVEL: str = "INFO"
    MAX_CONTENT_LENGTH: int = 2 * 1024 * 1024
    WTF_CSRF_TIME_LIMIT: int | None = 8 * 3600
    BABEL_DEFAULT_LOCALE: str = "ja"
    BABEL_DEFAULT_TIMEZONE: str = "Asia/Tokyo"
    LANGUAGES: tuple[str, ...] = ("ja", "en")
    OUTBOX_WORKER: bool = True  # run the outbox worker thread inside `eventsvc serve`
    TESTING: bool = False


def _coerce(key: str, raw: str):
    default = getattr(Config, key, None)
    if isinstance(default, bool):
        return _BOOL.get(raw.strip().lower(), True)
    if isinstance(default, int) and not isinstance(default, bool):
        return int(raw)
    if isinstance(default, float):
        return float(raw)
    return raw


def from_environment(environ: os._Environ | dict | None = None) -> dict:
    """The config keys set through ``EVENTSVC_*`` variables."""
    environ = os.environ if environ is None else environ
    out = {}
    for env, key in ENV_KEYS.items():
        if env in environ and environ[env] != "":
            out[key] = _coerce(key, environ[env])
    return out


def instance_path() -> str:
    """``EVENTSVC_INSTANCE_PATH`` or ``./instance``, absolute."""
    return str(Path(os.environ.get("EVENTSVC_INSTANCE_PATH", "instance")).resolve())


def load_or_create_secret(folder: str) -> str:
    """The secret key kept in ``instance/secret_key``, created on first run (mode 0600)."""
    path = Path(folder) / "secret_key"
    if path.exists():
        return path.read_text().strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    key = secrets.token_urlsafe(48)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(key)
    return key


def normalize_database_url(url: str) -> str:
    """Let ``postgresql://`` and ``postgres://`` mean the psycopg 3 driver."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url
