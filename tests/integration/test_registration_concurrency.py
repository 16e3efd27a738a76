"""Capacity under real concurrency: a real server process (waitress, 16 threads) on PostgreSQL.

50 people press "register" at the same moment for 10 seats, 20 rounds: exactly 10 confirmed and
40 waitlisted at positions 1..40, never a 5xx. The control run switches the lock off (test-only
switch, with a short pause between counting and writing) and must overbook — proof that the
first test can fail. The same address 10× at once gives one registration.

The same bursts run on SQLite too: there a registration reads and checks in a plain read
transaction and takes the write lock only to count and write (``database.write_after_read``),
so the counts must be taken again under the lock.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections import Counter
from pathlib import Path

import pytest
from sqlalchemy import select

from eventsvc.events import service as events
from eventsvc.extensions import db
from eventsvc.registration import service
from eventsvc.registration.models import Registration

pytestmark = [pytest.mark.slow]
ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    def __init__(self, url: str, *extra: str):
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        self.proc = subprocess.Popen([sys.executable, "-m", "tests.integration.registration_server", str(self.port),
                                      url, *extra], cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("server died: " + self.proc.stdout.read().decode(errors="replace")[-3000:])
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return
            except OSError:
                time.sleep(0.1)
        raise RuntimeError("server did not start")

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()


def post(url: str, body: dict) -> tuple[int, dict]:
    req = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST",
                                 headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=60) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read() or b"{}")


def burst(base: str, slug: str, emails: list[str]) -> list[tuple[int, dict]]:
    """Everyone waits at a barrier, then posts at once."""
    barrier = threading.Barrier(len(emails))
    results: list = [None] * len(emails)

    def one(i: int, email: str):
        body = {"name": f"参加 {i}", "name_kana": "サンカ", "email": email, "organization_code": "472018"}
        barrier.wait()
        results[i] = post(f"{base}/api/v1/events/{slug}/registrations", body)

    threads = [threading.Thread(target=one, args=(i, e)) for i, e in enumerate(emails)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    return results


def _served(app, url):
    from tests import factories
    from tests.conftest import _empty_tables

    ctx = app.app_context()
    ctx.push()
    try:
        yield app, url, factories
    finally:
        db.session.remove()
        ctx.pop()
        _empty_tables(app)


@pytest.fixture
def pg(postgres_app, postgres_database):
    yield from _served(postgres_app, postgres_database)


@pytest.fixture
def lite(sqlite_app, sqlite_database):
    yield from _served(sqlite_app, sqlite_database)


def seats_event(make, capacity=10):
    """A new event and its slug, read before the commit: afterwards no transaction of the test's
    stays open (on SQLite the test's own would hold the write lock the server waits for)."""
    e = make.event(ticket_types=[events.TicketTypeData("venue", "会場参加", capacity)])
    slug = e.slug
    db.session.commit()
    return e, slug


def outcome(event):
    db.session.expire_all()
    regs = db.session.scalars(select(Registration).where(Registration.event_id == event.id)).all()
    positions = service.waitlist_positions(event)
    return Counter(r.status for r in regs), sorted(positions.values())


@pytest.mark.postgres
def test_fifty_at_once_for_ten_seats_twenty_rounds(pg):
    fifty_at_once_for_ten_seats(pg, rounds=20)


def test_on_sqlite_fifty_at_once_for_ten_seats_five_rounds(lite):
    fifty_at_once_for_ten_seats(lite, rounds=5)


def fifty_at_once_for_ten_seats(served, rounds: int) -> None:
    _app, url, make = served
    server = Server(url)
    try:
        for round_ in range(rounds):
            event, slug = seats_event(make)
            results = burst(server.base, slug, [f"r{round_}p{i}@city.naha.lg.jp" for i in range(50)])
            codes = Counter(code for code, _ in results)
            assert codes == {201: 50}, (round_, codes, [b for c, b in results if c != 201][:3])
            statuses, positions = outcome(event)
            assert statuses == {"confirmed": 10, "waitlisted": 40}, (round_, statuses)
            assert positions == list(range(1, 41)), round_
            reported = sorted(b["waitlist_position"] for _, b in results if b["status"] == "waitlisted")
            assert reported == list(range(1, 41)), round_
    finally:
        server.stop()


@pytest.mark.postgres
def test_without_the_lock_it_overbooks(pg):
    """The control: same burst, capacity lock switched off → more than 10 confirmed."""
    _app, url, make = pg
    server = Server(url, "--unlocked", "0.05")
    tries, confirmed = 3, []
    try:
        for attempt in range(tries):
            event, slug = seats_event(make)
            results = burst(server.base, slug, [f"u{attempt}p{i}@city.naha.lg.jp" for i in range(50)])
            assert all(code < 500 for code, _ in results)
            statuses, _positions = outcome(event)
            confirmed.append(statuses["confirmed"])
            if statuses["confirmed"] > 10:
                return
    finally:
        server.stop()
    pytest.skip(f"the unlocked control did not overbook by chance in {tries} tries (confirmed: {confirmed}); "
                "the locked test above is then not proven able to fail on this machine")


@pytest.mark.postgres
def test_same_address_ten_times_at_once_gives_one_registration(pg):
    same_address_ten_times_at_once(pg)


def test_on_sqlite_the_same_address_ten_times_at_once_gives_one_registration(lite):
    same_address_ten_times_at_once(lite)


def same_address_ten_times_at_once(served) -> None:
    _app, url, make = served
    server = Server(url)
    try:
        for round_ in range(3):
            event, slug = seats_event(make)
            results = burst(server.base, slug, [f"same{round_}@city.naha.lg.jp"] * 10)
            codes = Counter(code for code, _ in results)
            assert codes == {201: 1, 409: 9}, codes
            assert {b["error"] for c, b in results if c == 409} == {"already_registered"}
            statuses, _ = outcome(event)
            assert sum(statuses.values()) == 1
    finally:
        server.stop()
