"""The SQLite rate-limit storage (``eventsvc+sqlite://``): counts, windows, and sharing one file."""

from __future__ import annotations

import sqlite3
import stat
import threading

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


def test_the_fixed_window_strategy_on_it(path):
    limiter = FixedWindowRateLimiter(storage(path))
    item = parse("5 per minute")
    assert [limiter.hit(item, "10.0.0.1|a@x.lg.jp") for _ in range(6)] == [True] * 5 + [False]
    assert limiter.hit(item, "10.0.0.1|b@x.lg.jp")
    stats = limiter.get_window_stats(item, "10.0.0.1|a@x.lg.jp")
    assert stats.remaining == 0 and stats.reset_time > 0
    limiter.clear(item, "10.0.0.1|a@x.lg.jp")
    assert limiter.test(item, "10.0.0.1|a@x.lg.jp")
