"""The SQLite rate-limit storage (``eventsvc+sqlite://``): counts, windows, and sharing one file."""

from __future__ import annotations

import sqlite3
import stat
import threading
import time

import pytest
from limits import parse
from limits.errors import ConfigurationError
from limits.storage import storage_from_string
from limits.strategies import FixedWindowRateLimiter

from eventsvc.core import ratelimit_storage
from eventsvc.core.ratelimit_storage import SQLiteStorage, storage_uri


class Clock:
    def __init__(self, now: float = 1_800_000_000.0):
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def path(tmp_path):
    return tmp_path / "instance" / "ratelimits.sqlite"


@pytest.fixture
def clock():
    return Clock()


def storage(path, clock=None) -> SQLiteStorage:
    s = storage_from_string(storage_uri(str(path)))
    assert isinstance(s, SQLiteStorage)
    if clock is not None:
        s.clock = clock
    return s


def test_the_scheme_is_registered_and_the_file_is_made_on_first_use(path):
    s = storage(path)
    assert not path.exists()  # an app with limits off never makes it
    assert s.incr("k", 60) == 1
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert s.check()


def test_relative_paths_as_in_sqlalchemy_urls(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert SQLiteStorage("eventsvc+sqlite:///rl.sqlite").path == str(tmp_path / "rl.sqlite")
    assert SQLiteStorage("eventsvc+sqlite:////abs/rl.sqlite").path == "/abs/rl.sqlite"
    for bad in ("eventsvc+sqlite://", "eventsvc+sqlite:///", "memory://"):
        with pytest.raises(ConfigurationError):
            SQLiteStorage(bad)


def test_counts_and_amounts(path, clock):
    s = storage(path, clock)
    assert [s.incr("a", 60) for _ in range(3)] == [1, 2, 3]
    assert s.incr("a", 60, amount=5) == 8
    assert s.get("a") == 8 and s.get("b") == 0
    assert s.incr("b", 60) == 1


def test_a_window_ends_and_the_next_hit_starts_a_new_one(path, clock):
    s = storage(path, clock)
    start = clock.now
    s.incr("a", 60)
    clock.now += 59
    assert s.incr("a", 60) == 2
    assert s.get_expiry("a") == start + 60  # later hits do not move the end of the window
    clock.now = start + 60
    assert s.get("a") == 0 and s.get_expiry("a") == clock.now
    assert s.incr("a", 60) == 1
    assert s.get_expiry("a") == clock.now + 60


def test_clear_and_reset(path, clock):
    s = storage(path, clock)
    for key in ("a", "b", "c"):
        s.incr(key, 60)
    s.clear("a")
    assert s.get("a") == 0 and s.get("b") == 1
    assert s.reset() == 2
    assert s.get("b") == 0 and s.get("c") == 0


def test_expired_rows_are_pruned_now_and_then(path, clock):
    s = storage(path, clock)
    for i in range(10):
        s.incr(f"old{i}", 10)
    clock.now += 11
    s.incr("new", 3600)  # within a minute of the last pruning: nothing deleted yet
    with sqlite3.connect(path) as conn:
        assert conn.execute("SELECT count(*) FROM ratelimits").fetchone()[0] == 11
    clock.now += ratelimit_storage.PRUNE_EVERY
    s.incr("new", 3600)
    with sqlite3.connect(path) as conn:
        assert conn.execute("SELECT count(*) FROM ratelimits").fetchone()[0] == 1


def test_the_file_holds_no_address(path):
    s = storage(path)
    s.incr("LIMITER/register-ip-email/10.20.30.40|staff0@city.naha.lg.jp/5/1/minute", 60)
    s._connection().execute("PRAGMA wal_checkpoint(TRUNCATE)")
    data = b"".join(p.read_bytes() for p in path.parent.iterdir())
    assert b"10.20.30.40" not in data and b"naha" not in data


def test_two_connections_count_together(path, clock):
    one, two = storage(path, clock), storage(path, clock)
    assert [one.incr("k", 60), two.incr("k", 60), one.incr("k", 60)] == [1, 2, 3]
    assert two.get("k") == 3
    two.clear("k")
    assert one.get("k") == 0


def test_threads_lose_no_hit(path):
    s, other = storage(path), storage(path)
    counts: list[int] = []

    def hammer(st):
        counts.extend(st.incr("k", 3600) for _ in range(200))

    threads = [threading.Thread(target=hammer, args=(s if i % 2 else other,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert s.get("k") == 1600
    assert sorted(counts) == list(range(1, 1601))  # every hit saw its own count


def test_a_forked_child_opens_its_own_connection(path):
    s = storage(path)
    s.incr("k", 60)
    parents = s._connection()
    s._local.pid = -1  # as after a fork: the connection is the parent's
    assert s.incr("k", 60) == 2
    assert s._connection() is not parents and parents in ratelimit_storage._inherited
    ratelimit_storage._inherited.remove(parents)
    parents.close()


def test_check_says_when_the_file_cannot_be_used(tmp_path):
    (tmp_path / "dir.sqlite").mkdir()
    assert not storage(tmp_path / "dir.sqlite").check()


def break_file(path, how: str) -> None:
    """Make the counters' file unusable in ways that hold for root too (chmod does not)."""
    if how == "directory":
        path.mkdir(parents=True)
    elif how == "garbage":
        path.parent.mkdir(parents=True)
        path.write_bytes(b"these bytes are not a database " * 300)
    elif how == "folder is a file":
        path.parent.parent.mkdir(parents=True, exist_ok=True)
        path.parent.write_bytes(b"")


@pytest.mark.parametrize(("how", "reason"), [
    ("directory", "SQLITE_CANTOPEN: unable to open database file"),
    ("garbage", "SQLITE_NOTADB: file is not a database"),
    ("folder is a file", "File exists"),
])
def test_an_unusable_file_raises_and_says_why_once(path, how, reason, caplog):
    break_file(path, how)
    s = storage(path)
    assert s.problem() == reason and not s.check()
    for _ in range(3):
        with pytest.raises((sqlite3.Error, OSError)):
            s.incr("LIMITER/register-ip-email/10.20.30.40|staff0@city.naha.lg.jp/5/1/minute", 60)
        with pytest.raises((sqlite3.Error, OSError)):
            s.get("LIMITER/register-ip-email/10.20.30.40|staff0@city.naha.lg.jp/5/1/minute")
    lines = [r for r in caplog.records if r.name == ratelimit_storage.__name__]
    assert [r.getMessage() for r in lines] == [f"rate-limit counters cannot be kept in {path} ({reason})"]
    assert lines[0].levelname == "WARNING"
    assert not [m for m in caplog.messages if "10.20.30.40" in m or "naha" in m]


def test_once_usable_again_the_next_failure_is_said_again(path, caplog):
    break_file(path, "directory")
    s = storage(path)
    with pytest.raises(sqlite3.Error):
        s.incr("k", 60)
    assert not s.check()  # still broken: nothing more is said
    path.rmdir()
    assert s.check() and s.incr("k", 60) == 1  # repaired: counted in the file again
    s._local.conn.close()  # broken again, for a new connection
    s._local.conn = None
    for leftover in path.parent.iterdir():
        leftover.unlink()
    path.mkdir()
    with pytest.raises(sqlite3.Error):
        s.incr("k", 60)
    assert len([r for r in caplog.records if r.name == ratelimit_storage.__name__]) == 2


def test_check_writes_as_a_hit_does_and_does_not_wait_long_for_a_lock(path):
    """A file that can be read but not written is not usable: check() writes. A writer that holds
    the file for long makes check() say so after CHECK_BUSY_TIMEOUT_MS, not after the busy timeout."""
    s = storage(path)
    s.incr("k", 60)
    holder = sqlite3.connect(path, isolation_level=None)
    try:
        holder.execute("BEGIN IMMEDIATE")
        started = time.monotonic()
        assert s.problem() == "SQLITE_BUSY: database is locked"
        assert time.monotonic() - started < 2
        assert s.get("k") == 1  # reading works meanwhile (WAL)
        busy_timeout = s._connection().execute("PRAGMA busy_timeout").fetchone()[0]
        assert busy_timeout == ratelimit_storage.BUSY_TIMEOUT_MS  # hits wait as long as before
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert s.check() and s.incr("k", 60) == 2


def test_a_full_database_is_said_to_be_full(path, caplog):
    s = storage(path)
    s.incr("first", 60)
    conn = s._connection()
    conn.execute(f"PRAGMA max_page_count={conn.execute('PRAGMA page_count').fetchone()[0]}")
    with pytest.raises(sqlite3.Error):
        for i in range(10_000):
            s.incr(f"key{i}", 60)
    assert "(SQLITE_FULL: database or disk is full)" in caplog.text


def test_the_fixed_window_strategy_on_it(path):
    limiter = FixedWindowRateLimiter(storage(path))
    item = parse("5 per minute")
    assert [limiter.hit(item, "10.0.0.1|a@x.lg.jp") for _ in range(6)] == [True] * 5 + [False]
    assert limiter.hit(item, "10.0.0.1|b@x.lg.jp")
    stats = limiter.get_window_stats(item, "10.0.0.1|a@x.lg.jp")
    assert stats.remaining == 0 and stats.reset_time > 0
    limiter.clear(item, "10.0.0.1|a@x.lg.jp")
    assert limiter.test(item, "10.0.0.1|a@x.lg.jp")
