"""Rate-limit counters in a SQLite file, shared by every process and thread on one host.

A storage backend for the ``limits`` library (which Flask-Limiter uses), registered for the
URI scheme ``eventsvc+sqlite:///<path>`` — the path as in SQLAlchemy's ``sqlite:///`` URLs
(``eventsvc+sqlite:////abs/ratelimits.sqlite`` is absolute). It supports the fixed-window
strategy, Flask-Limiter's default and the one eventsvc uses.

One table, one row per counter: ``(key, count, expires_at)``. ``incr`` is one atomic
statement (an upsert that starts a new window when the old one has expired and returns the
count), so processes and threads counting the same key never lose a hit. The file is in WAL
mode (readers never wait for the writer) with ``synchronous=NORMAL`` (a commit does not wait
for the disk: a power cut may forget the last counts, which only lets a few requests more
through). Each thread has its own connection; a forked child opens new ones. Expired rows
are deleted now and then (at most once a minute per process, one statement).

Keys name who is limited (an IP address and an e-mail address for registrations), so they
are stored hashed (BLAKE2b, 128 bits): the file holds counts, not addresses. The file is
created on first use, readable by its owner only.

When the file cannot be used (a read-only folder, a file that is not a database, a full disk,
a lock held for longer than the busy timeout) the operations raise, as any ``limits`` storage
does when its server is down; the first failure is logged once with what went wrong (the
path and SQLite's or the OS's reason, never a key), until :meth:`SQLiteStorage.check` finds the
file usable again. Flask-Limiter then counts in memory (see ``Config``) and calls ``check``
now and then to know when to come back: ``check`` writes as a hit does, so that a file that
can be read but not written is not taken for a working one.

Imports nothing from Flask: it is tested and measured alone (``tests/unit/``).
"""

from __future__ import annotations

import hashlib
import logging
import os
import sqlite3
import threading
import time

from limits.errors import ConfigurationError
from limits.storage import Storage

log = logging.getLogger(__name__)

SCHEME = "eventsvc+sqlite"

#: seconds between two deletions of expired rows, per process
PRUNE_EVERY = 60.0

#: milliseconds a statement waits for another writer before it fails (they hold it for microseconds)
BUSY_TIMEOUT_MS = 10_000

#: milliseconds :meth:`SQLiteStorage.check` waits for another writer: Flask-Limiter calls it inside a
#: request while it counts in memory, and a file locked for long stays "not usable" until the next check
CHECK_BUSY_TIMEOUT_MS = 200

_SCHEMA = ("CREATE TABLE IF NOT EXISTS ratelimits (key BLOB PRIMARY KEY, count INTEGER NOT NULL, "
           "expires_at REAL NOT NULL) WITHOUT ROWID")

# a row whose window has ended counts again from ``amount`` in a new window; the right-hand
# sides of SET see the row as it was
_INCR = ("INSERT INTO ratelimits (key, count, expires_at) VALUES (?1, ?2, ?3 + ?4) "
         "ON CONFLICT (key) DO UPDATE SET "
         "count = CASE WHEN expires_at <= ?3 THEN excluded.count ELSE count + excluded.count END, "
         "expires_at = CASE WHEN expires_at <= ?3 THEN excluded.expires_at ELSE expires_at END "
         "RETURNING count")

#: connections left behind by a fork: kept (never closed) so that the child does not touch the
#: parent's SQLite state through them
_inherited: list[sqlite3.Connection] = []


def storage_uri(path: str) -> str:
    """The URI of the counters kept in the file ``path``."""
    return f"{SCHEME}:///{path}"


def hashed_key(key: str) -> bytes:
    return hashlib.blake2b(key.encode("utf-8", "surrogatepass"), digest_size=16).digest()


#: the counter :meth:`SQLiteStorage.check` hits (Flask-Limiter's keys start with its prefix, ``LIMITER``)
_CHECK_KEY = hashed_key("eventsvc/check")


def describe(err: BaseException) -> str:
    """What went wrong with the file, in words that name no value: SQLite's error name and message
    (``SQLITE_NOTADB: file is not a database``), or the OS's (``Read-only file system``)."""
    if isinstance(err, sqlite3.Error):
        name = getattr(err, "sqlite_errorname", None)
        return f"{name}: {err}" if name else f"{type(err).__name__}: {err}"
    if isinstance(err, OSError) and err.strerror:
        return err.strerror
    return type(err).__name__


class SQLiteStorage(Storage):
    """Fixed-window rate-limit counters in a SQLite file (see the module's docstring)."""

    STORAGE_SCHEME = [SCHEME]

    def __init__(self, uri: str | None = None, wrap_exceptions: bool = False, **options: float | str | bool):
        prefix = f"{SCHEME}:///"
        if not uri or not uri.startswith(prefix) or len(uri) == len(prefix):
            raise ConfigurationError(f"a rate-limit storage URI of the form {prefix}<path> is needed, not {uri!r}")
        self.path = os.path.abspath(uri[len(prefix):])
        #: the time source (seconds since the epoch); tests replace it
        self.clock = time.time
        self._local = threading.local()
        self._next_prune = 0.0
        self._failing = False  # a failure has been logged, and no check has succeeded since
        super().__init__(uri, wrap_exceptions=wrap_exceptions, **options)

    @property
    def base_exceptions(self) -> type[Exception] | tuple[type[Exception], ...]:
        return (sqlite3.Error, OSError)

    def _failed(self, err: BaseException) -> None:
        """Log the first failure (until a check succeeds): where and why, never the key."""
        if not self._failing:
            self._failing = True
            log.warning("rate-limit counters cannot be kept in %s (%s)", self.path, describe(err))

    # ------------------------------------------------------------ connections
    def _connection(self) -> sqlite3.Connection:
        local = self._local
        conn = getattr(local, "conn", None)
        if conn is not None and local.pid == os.getpid():
            return conn
        if conn is not None:  # opened before a fork: the parent's, not ours
            _inherited.append(conn)
        local.conn, local.pid = self._connect(), os.getpid()
        return local.conn

    def _connect(self) -> sqlite3.Connection:
        folder = os.path.dirname(self.path)
        if folder:
            os.makedirs(folder, exist_ok=True)
        if not os.path.exists(self.path):  # SQLite gives its -wal and -shm files the same mode
            os.close(os.open(self.path, os.O_WRONLY | os.O_CREAT, 0o600))
        conn = sqlite3.connect(self.path, isolation_level=None, timeout=BUSY_TIMEOUT_MS / 1000)
        try:
            conn.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
            conn.execute("PRAGMA synchronous=NORMAL")
            self._setup(conn)
        except BaseException:
            conn.close()
            raise
        return conn

    @staticmethod
    def _setup(conn: sqlite3.Connection) -> None:
        """WAL and the table, once per connection. Processes starting together on a new file may
        find it locked while another one changes the journal mode, which the busy timeout does
        not always cover: try again a few times."""
        for attempt in range(50):
            try:
                if conn.execute("PRAGMA journal_mode").fetchone()[0].lower() != "wal":
                    conn.execute("PRAGMA journal_mode=WAL")
                conn.execute(_SCHEMA)
                return
            except sqlite3.OperationalError as err:
                if "locked" not in str(err) or attempt == 49:
                    raise
                time.sleep(0.01)

    # ------------------------------------------------------------ the Storage interface
    def incr(self, key: str, expiry: int, amount: int = 1) -> int:
        """Add ``amount`` to the counter of ``key`` (a new window of ``expiry`` seconds when there is
        none, or it has ended) and return the count."""
        now = self.clock()
        try:
            conn = self._connection()
            count = conn.execute(_INCR, (hashed_key(key), amount, now, expiry)).fetchone()[0]
            if now >= self._next_prune:
                self._next_prune = now + PRUNE_EVERY
                conn.execute("DELETE FROM ratelimits WHERE expires_at <= ?", (now,))
        except (sqlite3.Error, OSError) as err:
            self._failed(err)
            raise
        return count

    def get(self, key: str) -> int:
        try:
            row = self._connection().execute(
                "SELECT count FROM ratelimits WHERE key = ? AND expires_at > ?", (hashed_key(key), self.clock())).fetchone()
        except (sqlite3.Error, OSError) as err:
            self._failed(err)
            raise
        return row[0] if row else 0

    def get_expiry(self, key: str) -> float:
        """When the window of ``key`` ends (seconds since the epoch); now when there is none."""
        now = self.clock()
        try:
            row = self._connection().execute(
                "SELECT expires_at FROM ratelimits WHERE key = ? AND expires_at > ?", (hashed_key(key), now)).fetchone()
        except (sqlite3.Error, OSError) as err:
            self._failed(err)
            raise
        return row[0] if row else now

    def problem(self) -> str | None:
        """Why the counters cannot be kept in the file now (see :func:`describe`), or None when they
        can: one write as a hit makes (a counter of its own), waiting :data:`CHECK_BUSY_TIMEOUT_MS`
        at most for another writer."""
        try:
            conn = self._connection()
            conn.execute(f"PRAGMA busy_timeout={CHECK_BUSY_TIMEOUT_MS}")
            try:
                conn.execute(_INCR, (_CHECK_KEY, 1, self.clock(), 1)).fetchone()
            finally:
                conn.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        except (sqlite3.Error, OSError) as err:
            return describe(err)
        self._failing = False
        return None

    def check(self) -> bool:
        """Whether the counters can be kept in the file now (:meth:`problem`)."""
        return self.problem() is None

    def reset(self) -> int | None:
        """Forget every counter; how many there were."""
        return self._connection().execute("DELETE FROM ratelimits").rowcount

    def clear(self, key: str) -> None:
        self._connection().execute("DELETE FROM ratelimits WHERE key = ?", (hashed_key(key),))
