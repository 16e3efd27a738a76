"""Capacity under real concurrency: a real server process (waitress, 16 threads) on PostgreSQL.

50 people press "register" at the same moment for 10 seats, 20 rounds: exactly 10 confirmed and
40 waitlisted at positions 1..40, never a 5xx. The control run switches the lock off (test-only
switch, with a short pause between counting and writing) and must overbook — proof that the
first test can fail. The same address 10× at once gives one registration.
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

pytestmark = [pytest.mark.postgres, pytest.mark.slow]
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


@pytest.fixture
def pg(postgres_app, postgres_database):
    from tests import factories
    from tests.conftest import _empty_tables

    ctx = postgres_app.app_context()
    ctx.push()
    try:
        yield postgres_app, postgres_database, factories
    finally:
        db.session.remove()
        ctx.pop()
        _empty_tables(postgres_app)


def seats_event(make, capacity=10):
    e = make.event(ticket_types=[events.TicketTypeData("venue", "会場参加", capacity)])
    db.session.commit()
    return e


def outcome(event):
    db.session.expire_all()
    regs = db.session.scalars(select(Registration).where(Registration.event_id == event.id)).all()
    positions = service.waitlist_positions(event)
    return Counter(r.status for r in regs), sorted(positions.values())


def test_fifty_at_once_for_ten_seats_twenty_rounds(pg):
    _app, url, make = pg
    server = Server(url)
    try:
        for round_ in range(20):
            event = seats_event(make)
            results = burst(server.base, event.slug, [f"r{round_}p{i}@city.naha.lg.jp" for i in range(50)])
            codes = Counter(code for code, _ in results)
            assert codes == {201: 50}, (round_, codes, [b for c, b in results if c != 201][:3])
            statuses, positions = outcome(event)
            assert statuses == {"confirmed": 10, "waitlisted": 40}, (round_, statuses)
            assert positions == list(range(1, 41)), round_
            reported = sorted(b["waitlist_position"] for _, b in results if b["status"] == "waitlisted")
            assert reported == list(range(1, 41)), round_
    finally:
        server.stop()


def test_without_the_lock_it_overbooks(pg):
    """The control: same burst, capacity lock switched off → more than 10 confirmed."""
    _app, url, make = pg
    server = Server(url, "--unlocked", "0.05")
    tries, confirmed = 3, []
    try:
        for attempt in range(tries):
            event = seats_event(make)
            results = burst(server.base, event.slug, [f"u{attempt}p{i}@city.naha.lg.jp" for i in range(50)])
            assert all(code < 500 for code, _ in results)
            statuses, _positions = outcome(event)
            confirmed.append(statuses["confirmed"])
            if statuses["confirmed"] > 10:
                return
    finally:
        server.stop()
    pytest.skip(f"the unlocked control did not overbook by chance in {tries} tries (confirmed: {confirmed}); "
                "the locked test above is then not proven able to fail on this machine")


def test_same_address_ten_times_at_once_gives_one_registration(pg):
    _app, url, make = pg
    server = Server(url)
    try:
        for round_ in range(3):
            event = seats_event(make)
            results = burst(server.base, event.slug, [f"same{round_}@city.naha.lg.jp"] * 10)
            codes = Counter(code for code, _ in results)
            assert codes == {201: 1, 409: 9}, codes
            assert {b["error"] for c, b in results if c == 409} == {"already_registered"}
            statuses, _ = outcome(event)
            assert sum(statuses.values()) == 1
    finally:
        server.stop()
