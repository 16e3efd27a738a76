"""Database engine setup: SQLite pragmas and write transactions, PostgreSQL locking helpers.

On SQLite every request that may write begins with ``BEGIN IMMEDIATE``: the write
lock is taken before anything is read, so a count made under it (capacity, check-in)
is still true when the row is inserted, and WAL readers never block. Safe methods
(GET/HEAD) begin a plain deferred transaction.
"""

from __future__ import annotations

import contextlib
import contextvars
import sqlite3

from sqlalchemy import event
from sqlalchemy.engine import Engine

_immediate = contextvars.ContextVar("eventsvc_sqlite_immediate", default=True)


@event.listens_for(Engine, "connect")
def _sqlite_connect(dbapi_connection, _record):
    if not isinstance(dbapi_connection, sqlite3.Connection):
        return
    dbapi_connection.isolation_level = None  # we emit BEGIN ourselves (below)
    cur = dbapi_connection.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA busy_timeout=30000")
    cur.close()


@event.listens_for(Engine, "begin")
def _sqlite_begin(conn):
    if conn.dialect.name == "sqlite":
        conn.exec_driver_sql("BEGIN IMMEDIATE" if _immediate.get() else "BEGIN")


def set_write_intent(writes: bool) -> contextvars.Token:
    """Say whether the transactions that follow (in this context) may write."""
    return _immediate.set(writes)


def reset_write_intent(token: contextvars.Token) -> None:
    _immediate.reset(token)


@contextlib.contextmanager
def read_only():
    """Transactions begun inside this block take no write lock on SQLite."""
    token = _immediate.set(False)
    try:
        yield
    finally:
        _immediate.reset(token)
