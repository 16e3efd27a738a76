"""Keep personal data and tokens out of the log.

Two places where they slip in without anyone writing them:

- Database errors. A unique violation on PostgreSQL says ``Key (email)=(someone@…)
  already exists``, and SQLAlchemy's exception carries the driver's message and the
  statement's parameters. Any ``log.exception`` (the 500 handler, the outbox worker) would
  print them. Log records are therefore built with such an exception replaced by
  :class:`ScrubbedDatabaseError`: the driver error's type, SQLSTATE and the statement
  (parameterised, so value-free), and the same traceback. The engine also hides
  parameters (``hide_parameters`` in the default engine options).
- Access logs of the development server (``flask run``, the browser tests): werkzeug logs
  each request line, and paths carry attendee links (``/my/<token>``), staff links, survey
  links; query strings carry name searches. :class:`AccessLogMask` masks those.
- Flask-Limiter's "ratelimit … (key) exceeded" line: the key is the client's IP address and,
  on the registration form and API, the e-mail address. :class:`RateLimitKeyMask` drops it.

(waitress, which ``eventsvc serve`` runs, writes no access log. A reverse proxy's or
gunicorn's access log is configured outside the app: leave out query strings and mask the
same paths there.)
"""

from __future__ import annotations

import logging
import re
import sqlite3

from sqlalchemy.exc import DBAPIError

try:  # the PostgreSQL driver, when installed
    import psycopg

    _DRIVER_ERRORS: tuple[type[BaseException], ...] = (DBAPIError, sqlite3.Error, psycopg.Error)
except ImportError:  # pragma: no cover
    _DRIVER_ERRORS = (DBAPIError, sqlite3.Error)


class ScrubbedDatabaseError(Exception):
    """Stands in for a database error in a log record (no values, no server message)."""


def _chain(exc: BaseException | None):
    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        yield exc
        exc = exc.__cause__ or exc.__context__


def scrub(exc: BaseException) -> BaseException:
    """``exc`` itself, or a value-free stand-in when a database error is part of its chain."""
    db_error = next((e for e in _chain(exc) if isinstance(e, _DRIVER_ERRORS)), None)
    if db_error is None:
        return exc
    orig = getattr(db_error, "orig", None) or db_error
    statement = getattr(db_error, "statement", None) or "?"
    kinds = " <- ".join(f"{type(e).__module__}.{type(e).__name__}" for e in _chain(exc))
    sqlstate = getattr(orig, "sqlstate", None) or getattr(orig, "sqlite_errorname", None) or "?"
    stand_in = ScrubbedDatabaseError(f"{kinds} (sqlstate {sqlstate}; values not logged)\n[SQL: {statement}]")
    return stand_in.with_traceback(exc.__traceback__)


_base_factory = logging.getLogRecordFactory()


def _record_factory(*args, **kwargs) -> logging.LogRecord:
    record = _base_factory(*args, **kwargs)
    if record.exc_info and record.exc_info[1] is not None:
        clean = scrub(record.exc_info[1])
        if clean is not record.exc_info[1]:
            record.exc_info = (type(clean), clean, clean.__traceback__)
            record.exc_text = None
    return record


#: paths whose next segment is a credential, and every query string
_TOKEN_PATH = re.compile(r"(/(?:my|staff|s)/|/survey/r/)(?!slack/callback)[^/\s?\"]+")
_QUERY = re.compile(r"\?[^\s\"]*")


def mask(line: str) -> str:
    return _QUERY.sub("?…", _TOKEN_PATH.sub(r"\1…", line))


class AccessLogMask(logging.Filter):
    """Masks link tokens and query strings in werkzeug's request lines."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple) and record.args:
            record.args = tuple(mask(a) if isinstance(a, str) else a for a in record.args)
        elif isinstance(record.msg, str):
            record.msg = mask(record.msg)
        return True


class RateLimitKeyMask(logging.Filter):
    """Flask-Limiter logs ``ratelimit %s (%s) exceeded at endpoint: %s`` with the key (IP address,
    e-mail address) as the second argument: the limit and the endpoint stay, the key goes."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple) and len(record.args) >= 2 and "exceeded" in str(record.msg):
            record.args = (record.args[0], "…", *record.args[2:])
        elif isinstance(record.args, tuple) and record.args:  # any other line: no address of any kind
            record.args = tuple(_ADDRESS.sub("…", a) if isinstance(a, str) else a for a in record.args)
        return True


#: an e-mail address or an IPv4/IPv6 address
_ADDRESS = re.compile(r"[^\s|()]+@[^\s|()]+|\b\d{1,3}(?:\.\d{1,3}){3}\b|\b[0-9a-fA-F]{0,4}(?::[0-9a-fA-F]{0,4}){2,7}\b")


def install() -> None:
    """Once per process: scrub database errors in every record, mask werkzeug's access log and
    Flask-Limiter's rate-limit keys."""
    if logging.getLogRecordFactory() is not _record_factory:
        logging.setLogRecordFactory(_record_factory)
    werkzeug = logging.getLogger("werkzeug")
    if not any(isinstance(f, AccessLogMask) for f in werkzeug.filters):
        werkzeug.addFilter(AccessLogMask())
    limits = logging.getLogger("flask-limiter")
    if not any(isinstance(f, RateLimitKeyMask) for f in limits.filters):
        limits.addFilter(RateLimitKeyMask())
