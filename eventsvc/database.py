"""Database engine setup: SQLite pragmas and write transactions, PostgreSQL locking helpers.

On SQLite every request that may write begins with ``BEGIN IMMEDIATE``: the write
lock is taken before anything is read, so a count made under it (capacity, check-in)
is still true when the row is inserted, and WAL readers never block. Safe methods
(GET/HEAD) begin a plain deferred transaction.

Writers to one SQLite file wait in line for that lock (:class:`WriterQueue`): threads
of a process on a lock, processes on ``flock`` of a file beside the database. SQLite's
own busy handler polls instead, sleeping up to 100 ms between tries, so a writer that
came first could wait for many that came later: under a burst of check-ins from two
server processes that made the slowest answers half a second. Where there is no ``flock``
(Windows: no ``fcntl``) only the threads queue, and processes are left to SQLite's busy
handler, as when the lock file cannot be made (``serve --processes`` is POSIX-only anyway).
"""

from __future__ import annotations

import contextlib
import contextvars
import dataclasses
import functools
import logging
import os
import sqlite3
import threading
import time

from sqlalchemy import event, exc, inspect
from sqlalchemy.engine import Engine

try:
    import fcntl
except ImportError:  # Windows: processes do not queue (see the module's docstring)
    fcntl = None

log = logging.getLogger(__name__)
_immediate = contextvars.ContextVar("eventsvc_sqlite_immediate", default=True)


#: how long a writer waits in line before it leaves the line to SQLite's busy handler (its own 30 s)
QUEUE_TIMEOUT = 30.0


class WriterQueue:
    """The writers of one SQLite file, served in turn.

    Threads of this process wait on a lock; then the process takes an exclusive ``flock``
    of ``<database>-writers`` (the kernel lets go of it by itself when a process dies),
    asking again at most every millisecond while another process has it. A writer that
    has waited :data:`QUEUE_TIMEOUT` in all goes ahead without its turn, and SQLite's busy
    timeout decides, as it would without the queue — a write transaction left open by
    mistake makes the others fail after a while, as before, rather than wait for ever.
    """

    _all: dict[str, WriterQueue] = {}
    _all_lock = threading.Lock()

    def __init__(self, path: str):
        self.path = path + "-writers"
        self._threads = threading.Lock()
        self._fd: int | None = None

    @classmethod
    def for_file(cls, path: str) -> WriterQueue:
        with cls._all_lock:
            queue = cls._all.get(path)
            if queue is None:
                queue = cls._all[path] = cls(path)
            return queue

    def enter(self) -> bool:
        """Wait for this writer's turn; False when it went ahead without one (see above)."""
        deadline = time.monotonic() + QUEUE_TIMEOUT
        if not self._threads.acquire(timeout=QUEUE_TIMEOUT):
            return False
        try:
            if self._fd is None:
                self._fd = self._open()
            if self._fd < 0 or self._lock_file(deadline):
                return True
        except BaseException:
            self._threads.release()
            raise
        self._threads.release()
        log.warning("an SQLite writer waited %.0f s for its turn and goes ahead without it", QUEUE_TIMEOUT)
        return False

    def _lock_file(self, deadline: float) -> bool:
        pause = 0.00005
        while True:
            try:
                fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return True
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    return False
                time.sleep(pause)
                pause = min(pause * 2, 0.001)

    def leave(self) -> None:
        try:
            if self._fd is not None and self._fd >= 0:
                fcntl.flock(self._fd, fcntl.LOCK_UN)
        finally:
            with contextlib.suppress(RuntimeError):  # a connection carried over a fork: its turn is gone
                self._threads.release()

    def _open(self) -> int:
        """The lock file's descriptor, or -1 when it cannot be made or locked (then only threads queue)."""
        if fcntl is None:
            return -1
        try:
            return os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        except OSError as err:
            log.warning("SQLite writers of other processes will not queue (%s: %s)", self.path, err.strerror)
            return -1

    @classmethod
    def _forget_after_fork(cls) -> None:
        """In a forked child: fresh locks and descriptors of its own (a lock another thread held at
        the fork would stay held, and an inherited descriptor shares the parent's ``flock``)."""
        for queue in cls._all.values():
            queue._threads = threading.Lock()
            queue._fd = None
        cls._all_lock = threading.Lock()


if hasattr(os, "register_at_fork"):  # POSIX; where processes are not forked there is nothing to forget
    os.register_at_fork(after_in_child=WriterQueue._forget_after_fork)


class QueuedConnection(sqlite3.Connection):
    """A SQLite connection that holds its file's :class:`WriterQueue` turn from ``BEGIN IMMEDIATE``
    until its commit, rollback or close has finished (SQLAlchemy's events fire before them)."""

    writer_queue: WriterQueue | None = None
    _in_turn = False

    def enter_turn(self) -> None:
        if self.writer_queue is not None and not self._in_turn:
            self._in_turn = self.writer_queue.enter()

    def leave_turn(self) -> None:
        if self._in_turn:
            self._in_turn = False
            self.writer_queue.leave()

    def commit(self):
        try:
            return super().commit()
        finally:
            self.leave_turn()

    def rollback(self):
        try:
            return super().rollback()
        finally:
            self.leave_turn()

    def close(self):
        try:
            return super().close()
        finally:
            self.leave_turn()


def sqlite_connect_args() -> dict:
    """``connect_args`` for a SQLite engine: threads share pooled connections; writers queue."""
    return {"timeout": 30, "check_same_thread": False, "factory": QueuedConnection}


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
    if isinstance(dbapi_connection, QueuedConnection):
        path = next((row[2] for row in cur.execute("PRAGMA database_list") if row[1] == "main"), "")
        if path:  # an in-memory database has no file, and no other process
            dbapi_connection.writer_queue = WriterQueue.for_file(path)
    cur.close()


@event.listens_for(Engine, "begin")
def _sqlite_begin(conn):
    if conn.dialect.name != "sqlite":
        return
    if not _immediate.get():
        conn.exec_driver_sql("BEGIN")
        return
    dbapi = conn.connection.dbapi_connection
    queued = isinstance(dbapi, QueuedConnection)
    if queued:
        dbapi.enter_turn()
    try:
        conn.exec_driver_sql("BEGIN IMMEDIATE")
    except BaseException:
        if queued:
            dbapi.leave_turn()
        raise


#: a pooled connection returned less than this long ago is handed out without a ping (HikariCP's
#: ``aliveBypassWindowMs`` has the same 500 ms): under load every checkout finds one just used
PING_AFTER_IDLE = 0.5
_RETURNED_AT = "eventsvc_returned_at"


@event.listens_for(Engine, "do_connect")
def _psycopg_connect(dialect, _record, cargs, cparams):
    """PostgreSQL through psycopg: connections whose transactions send ``BEGIN`` with their first statement."""
    if dialect.name == "postgresql" and dialect.driver == "psycopg":
        connection_class, cursor_class = _begin_with_first_statement()
        return connection_class.connect(*cargs, **{"cursor_factory": cursor_class, **cparams})
    return None


@functools.cache
def _begin_with_first_statement():
    """psycopg connection and cursor classes that send a transaction's ``BEGIN`` together with its
    first statement: one round trip less for every transaction (every request).

    psycopg sends ``BEGIN`` on its own and waits for its answer before it sends the statement
    (in pipeline mode too: it syncs after a ``BEGIN``). This cursor runs a transaction's first
    statement in pipeline mode, and the connection queues the ``BEGIN`` there without syncing, so
    both travel in one batch; the cursor leaves the pipeline before it returns, so the statement's
    result (or error) is there as after a plain ``execute`` — SQLAlchemy sees no difference.
    Statements inside a transaction, ``executemany`` and autocommit connections run as psycopg
    runs them. (``_start_query``, ``_exec_command`` and ``_get_tx_start_command`` are psycopg's
    private methods, as of 3.3: check them on an upgrade; ``tests/integration/test_database_pool.py``
    and the hot paths' round-trip tests count what is sent.)"""
    import psycopg
    from psycopg.pq import TransactionStatus

    idle = TransactionStatus.IDLE

    class Connection(psycopg.Connection):
        def _start_query(self):
            if self._autocommit or self.pgconn.transaction_status != idle:
                return
            yield from self._exec_command(self._get_tx_start_command())  # queued with the statement in a pipeline

    class Cursor(psycopg.Cursor):
        def execute(self, query, params=None, *, prepare=None, binary=None):
            conn = self._conn
            if conn._pipeline is None and not conn._autocommit and conn.pgconn.transaction_status == idle:
                with conn.pipeline():
                    super().execute(query, params, prepare=prepare, binary=binary)
                return self
            return super().execute(query, params, prepare=prepare, binary=binary)

    return Connection, Cursor


def ping_idle_connections(engine: Engine) -> None:
    """Check a pooled connection before it is used, but only one that has been idle.

    SQLAlchemy's ``pool_pre_ping`` pings on every checkout: a round trip per request, in a
    registration one of eight. Here a connection is pinged only when it was returned more than
    :data:`PING_AFTER_IDLE` ago (one opened just now is not pinged: it has just answered). A
    failed ping is handled as ``pool_pre_ping`` handles it: the pool is invalidated (the server
    restarted, say) and the checkout tries a new connection."""
    dialect = engine.dialect

    @event.listens_for(engine, "checkin")
    def _returned(_dbapi_connection, record):
        if record is not None:
            record.info[_RETURNED_AT] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _ping_if_idle(dbapi_connection, record, _proxy):
        returned_at = record.info.get(_RETURNED_AT)
        if returned_at is None or time.monotonic() - returned_at < PING_AFTER_IDLE:
            return
        try:
            dialect.do_ping(dbapi_connection)
        except dialect.loaded_dbapi.Error as err:
            if dialect.is_disconnect(err, dbapi_connection, None):
                raise exc.InvalidatePoolError() from err
            raise


def set_write_intent(writes: bool) -> contextvars.Token:
    """Say whether the transactions that follow (in this context) may write."""
    return _immediate.set(writes)


def reset_write_intent(token: contextvars.Token) -> None:
    _immediate.reset(token)


@contextlib.contextmanager
def keep_loaded(session):
    """Commits inside the block do not expire what was loaded: an answer can be built from it
    after the commit (no reload, and no lock held while building it)."""
    before = session.expire_on_commit
    session.expire_on_commit = False
    try:
        yield
    finally:
        session.expire_on_commit = before


def write_on_its_own(session, write) -> None:
    """End the read transaction (what it loaded stays loaded) and run ``write()`` in a short write
    transaction of its own, committed at once: a note (a token's last use) that a request makes while
    it otherwise only reads, or takes its write lock later, never upgrades a read transaction on
    SQLite, and it stays even if the request then fails."""
    with keep_loaded(session):
        session.commit()
        intent = set_write_intent(True)
        try:
            write()
            session.commit()
        finally:
            reset_write_intent(intent)


@contextlib.contextmanager
def write_after_read(session):
    """Run the block as the write part of a request whose first part only read.

    On SQLite the reading part ran as a plain read transaction (the request said so with
    ``set_write_intent(False)`` before its first query); it is ended here, and the block's first
    query begins ``BEGIN IMMEDIATE``: the write lock, which every writer waits for, is held only
    for the block. What was read stays loaded (the commit does not expire it). Anything read
    before can have changed by then: the block must re-read under its lock what it decides on.
    Yields whether the request was split (False on PostgreSQL, where nothing changes: one
    transaction throughout, locks taken row by row).
    """
    split = session.get_bind().dialect.name == "sqlite"
    if split and session.in_transaction():  # (none when nothing was read: a reused caller or event)
        with keep_loaded(session):
            session.commit()  # nothing written yet: this only ends the reading part
    token = _immediate.set(True)
    try:
        yield split
    finally:
        _immediate.reset(token)


@contextlib.contextmanager
def read_only():
    """Transactions begun inside this block take no write lock on SQLite."""
    token = _immediate.set(False)
    try:
        yield
    finally:
        _immediate.reset(token)



@dataclasses.dataclass(frozen=True, slots=True)
class _Compiled:
    """A statement compiled for a driver cursor (:func:`first_row`, :func:`first_rows_pipelined`)."""

    sql: str
    fixed: dict
    converters: dict
    #: a positional dialect's (SQLite's) parameter names in order; None for named ones
    order: tuple | None
    #: per result column, what SQLAlchemy would do to its value (UTC times, SQLite's datetimes…) or None
    processors: tuple

    def parameters(self, params: dict):
        values = {**self.fixed, **{k: self.converters[k](v) if k in self.converters else v
                                   for k, v in params.items()}}
        return [values[k] for k in self.order] if self.order is not None else values

    def row(self, row):
        return tuple(p(v) if p is not None else v for p, v in zip(self.processors, row, strict=True))


def _compiled(dialect, statement, params: dict) -> _Compiled:
    """``statement`` compiled once per dialect and parameter names (kept by identity)."""
    key = (dialect.name, id(statement), tuple(params))
    hit = _pipeline_compiled.get(key)
    if hit is None or hit[0] is not statement:
        compiled = statement.compile(dialect=dialect, column_keys=list(params))  # an INSERT names what it is given
        state = compiled.construct_expanded_state(params)
        fixed = {k: v for k, v in state.parameters.items() if k not in params}
        # what SQLAlchemy's execute would apply (JSON, UTC times…): its compiler's bind processors
        converters = {k: fn for k, fn in compiled._bind_processors.items() if k in params and callable(fn)}
        processors = tuple(c.type.dialect_impl(dialect).result_processor(dialect, None)
                           for c in statement.exported_columns)
        order = tuple(state.positiontup) if dialect.positional else None
        hit = (statement, _Compiled(state.statement, fixed, converters, order, processors))
        _pipeline_compiled[key] = hit
    return hit[1]


def first_row(session, statement, params: dict):
    """The first row of ``statement`` (a ``SELECT``, or a write with ``RETURNING``; None when it
    returns none) run on ``session``'s connection straight through the driver's cursor: compiled
    once, the values converted both ways as SQLAlchemy would, no result object — about half the
    client's work of ``session.connection().execute(…)`` for the hot paths' statements. The
    statement must be built once (it is kept by identity). A write without ``RETURNING`` returns None. Errors are
    raised as SQLAlchemy raises them (:class:`sqlalchemy.exc.DBAPIError` subclasses)."""
    connection = session.connection()
    compiled = _compiled(connection.dialect, statement, params)
    cursor = connection.connection.driver_connection.cursor()
    try:
        cursor.execute(compiled.sql, compiled.parameters(params))
        row = cursor.fetchone() if compiled.processors else None
    except connection.dialect.loaded_dbapi.Error as error:
        _raise_as_sqlalchemy(connection, error)
    finally:
        cursor.close()
    return compiled.row(row) if row is not None else None


def _raise_as_sqlalchemy(connection, error):
    """Raise a driver's error as SQLAlchemy's ``execute`` would (an invalidated connection if it broke)."""
    dbapi = connection.dialect.loaded_dbapi
    if connection.dialect.is_disconnect(error, connection.connection.dbapi_connection, None):
        connection.invalidate(error)  # as SQLAlchemy does on a lost connection: not back to the pool
    raise exc.DBAPIError.instance(None, None, error, dbapi.Error,
                                  connection_invalidated=connection.invalidated,
                                  dialect=connection.dialect) from error


#: (dialect name, id(statement), parameter names) → (statement, :class:`_Compiled`); the statement
#: is kept so that its id cannot be reused by another
_pipeline_compiled: dict = {}


def first_rows_pipelined(session, statements, *, commit: bool = False) -> list:
    """Run ``[(statement, params), …]`` on ``session``'s connection, then commit if asked, and
    return each statement's first row (None when it returned none): on PostgreSQL in one round
    trip (psycopg's pipeline mode), elsewhere one after the other.

    The server still runs them in order, each with a snapshot of its own (READ COMMITTED): a
    statement after a ``SELECT … FOR UPDATE`` sees what the lock's previous holder committed.
    An error rolls the whole transaction back and is raised (as
    :class:`sqlalchemy.exc.DBAPIError`, like any statement's). For hot paths: the statements
    must be built once (they are compiled once and kept by identity). ``commit`` leaves the
    session's own commit with nothing to send; call it after this to end the session's
    transaction."""
    connection = session.connection()
    if connection.dialect.name != "postgresql":
        rows = [connection.execute(stmt, params).first() for stmt, params in statements]
        if commit:
            session.commit()
        return rows
    raw = connection.connection.driver_connection
    cursors = []
    returning = []
    try:
        with raw.pipeline():
            for stmt, params in statements:
                compiled = _compiled(connection.dialect, stmt, params)
                cursor = raw.cursor()
                cursor.execute(compiled.sql, compiled.parameters(params))
                cursors.append(cursor)
                returning.append(bool(compiled.processors))  # it has result columns
            if commit:  # a statement in the batch, not raw.commit(): that would wait for one more sync
                cursor = raw.cursor()
                cursor.execute(b"COMMIT")
                cursors.append(cursor)
        # (known from the statement, not asked of the cursor: its description builds a column object for each)
        return [cursor.fetchone() if rows else None for cursor, rows in zip(cursors[:len(statements)], returning, strict=True)]
    except connection.dialect.loaded_dbapi.Error as error:
        _raise_as_sqlalchemy(connection, error)
    finally:
        for cursor in cursors:
            cursor.close()


# ---------------------------------------------------------------- detached copies (a reused API caller)
def loaded_columns(obj) -> dict | None:
    """The column values of a loaded ORM object (None if one is not loaded: expired or deferred)."""
    state = inspect(obj)
    keys = state.mapper.column_attrs.keys()
    if state.unloaded.intersection(keys):
        return None
    return {k: state.dict[k] for k in keys}


def detached(cls, values: dict):
    """A detached instance of ``cls`` holding ``values`` as if loaded (from :func:`loaded_columns`):
    its columns read as they were, its relationships raise if touched, and it belongs to no
    session, so each request gets its own. Mutable values (JSON columns) are copied."""
    from sqlalchemy.orm import make_transient_to_detached

    obj = inspect(cls).class_manager.new_instance()
    # as the ORM's loader fills a new instance: loaded values live in its __dict__, with no history
    obj.__dict__.update({k: v.copy() if isinstance(v, (dict, list)) else v for k, v in values.items()})
    make_transient_to_detached(obj)
    return obj
