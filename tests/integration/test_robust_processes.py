"""Crash safety and scale-out with real processes: gunicorn, ``eventsvc worker``, ``eventsvc serve``.

- PostgreSQL, killed: a fresh migrated database, gunicorn with three workers and two outbox
  workers sending mail to a local SMTP server; during a registration burst gunicorn's workers are
  killed with SIGKILL again and again, then three outbox workers each in the middle of a send
  (the row's claim names the process). Afterwards: confirmed ≤ capacity per participation
  type (and the seats are filled), every committed registration has exactly one mail row for its
  status and that mail arrived with one Message-ID, every row ends ``sent`` — a row a killed worker
  left mid-send is ``uncertain`` and is sent again only by an organizer (``outbox.service.retry``,
  as on the delivery page): the same Message-ID then arrives twice, never a second message.
- PostgreSQL, scaled out: two app processes and two workers take a registration burst split
  between them and a Slack fan-out (announcements of many events, queued through both apps) on
  the fake Slack Web API: no overbooking, each message posted once.
- SQLite, killed: ``eventsvc serve`` (waitress and its worker thread) is killed with SIGKILL and
  started again during a burst; the file passes ``PRAGMA integrity_check`` and the rules hold.
"""

from __future__ import annotations

import asyncio
import contextlib
import email
import email.policy
import http.client
import json
import os
import random
import secrets
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections import Counter
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import create_engine, select, text, update
from sqlalchemy.engine import make_url

from eventsvc import create_app, database
from eventsvc.events import service as events
from eventsvc.extensions import db
from eventsvc.outbox import service as outbox_service
from eventsvc.outbox import worker as outbox_worker
from eventsvc.outbox.models import Delivery
from eventsvc.registration.models import Registration
from tests import conftest

pytestmark = [pytest.mark.slow]
ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
CAPACITY = {"venue": 12, "online": 8}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# ------------------------------------------------------------------ a mail server that keeps everything
class Inbox:
    def __init__(self):
        self.lock = threading.Lock()
        self.received: list[tuple[str, str, str]] = []  # (recipient, Message-ID, subject)

    #: seconds between taking a message and saying so (a sender killed then cannot know it went out)
    delay = 0.0

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd's hook name
        msg = email.message_from_bytes(envelope.content, policy=email.policy.default)
        with self.lock:
            for rcpt in envelope.rcpt_tos:
                self.received.append((rcpt, str(msg["Message-ID"]), str(msg["Subject"])))
        if self.delay:
            await asyncio.sleep(self.delay)
        return "250 OK"


@pytest.fixture
def smtp():
    from aiosmtpd.controller import Controller

    inbox, port = Inbox(), free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    inbox.url = f"smtp://127.0.0.1:{port}?timeout=5"
    try:
        yield inbox
    finally:
        controller.stop()


# ------------------------------------------------------------------ databases and processes
@pytest.fixture
def fresh_pg():
    """A new, empty PostgreSQL database (migrated by the test's own ``eventsvc db upgrade``)."""
    server, reason = conftest._pg_server_url()
    if server is None:
        pytest.skip(reason)
    name = f"eventsvc_proc_{secrets.token_hex(4)}"
    admin = create_engine(server, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = make_url(server).set(database=name).render_as_string(hide_password=False)
    yield url
    with admin.connect() as conn:
        conn.execute(text(f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}'"))
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
    admin.dispose()


class Procs:
    """Processes of one test, all ended (SIGKILL) at teardown; their output in one log file."""

    def __init__(self, tmp_path: Path, env: dict):
        self.env = {**os.environ, "PYTHONPATH": str(ROOT), **env}
        self.log = open(tmp_path / "processes.log", "ab")  # noqa: SIM115 - closed in stop_all
        self.log_path = tmp_path / "processes.log"
        self.all: list[subprocess.Popen] = []

    def spawn(self, *args: str) -> subprocess.Popen:
        proc = subprocess.Popen([str(a) for a in args], cwd=ROOT, env=self.env, stdout=self.log,
                                stderr=subprocess.STDOUT, start_new_session=True)
        self.all.append(proc)
        return proc

    def run(self, *args: str) -> None:
        subprocess.run([str(a) for a in args], cwd=ROOT, env=self.env, check=True, capture_output=True, timeout=120)

    def wait_port(self, port: int, proc: subprocess.Popen, timeout: float = 40) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise RuntimeError(f"process died: {self.tail()}")
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                    return
            except OSError:
                time.sleep(0.1)
        raise RuntimeError(f"nothing answers on {port}: {self.tail()}")

    def tail(self) -> str:
        self.log.flush()
        return self.log_path.read_text(errors="replace")[-3000:]

    def stop_all(self) -> None:
        for proc in self.all:
            if proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(10)
        self.log.close()


def children(pid: int) -> list[int]:
    try:
        return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


def gunicorn(procs: Procs, workers: int) -> tuple[subprocess.Popen, str]:
    port = free_port()
    # --preload: workers fork from a master that has imported the app, so a killed one is back at once
    proc = procs.spawn(BIN / "gunicorn", "-w", str(workers), "--threads", "4", "--preload", "-b", f"127.0.0.1:{port}",
                       "--timeout", "60", "--graceful-timeout", "1", "--log-level", "error", "wsgi:app")
    procs.wait_port(port, proc)
    deadline = time.monotonic() + 30
    while len(children(proc.pid)) < workers and time.monotonic() < deadline:
        time.sleep(0.1)
    return proc, f"http://127.0.0.1:{port}"


def outbox_workers(procs: Procs, n: int) -> list[subprocess.Popen]:
    return [procs.spawn(BIN / "eventsvc", "worker", "--interval", "0.2") for _ in range(n)]


# ------------------------------------------------------------------ clients
def call(method: str, url: str, body=None, token: str | None = None, timeout: float = 30) -> tuple[int, dict]:
    data = json.dumps(body).encode() if body is not None else None
    headers = {"Content-Type": "application/json"} if data else {}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    req = urllib.request.Request(url, data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            raw = r.read()
            return r.status, json.loads(raw) if raw else {}
    except urllib.error.HTTPError as err:
        raw = err.read()
        try:
            return err.code, json.loads(raw or b"{}")
        except ValueError:
            return err.code, {"raw": raw[:200].decode(errors="replace")}


#: requests whose connection a kill cut (or that found no server), over the whole session
CUT: list[str] = []


def register_until_answered(bases: list[str], slug: str, email_: str, ticket_type: str, answers: list,
                            deadline: float) -> None:
    """Post one registration; a connection cut by a killed process is retried (possibly on another
    app process) until a real answer comes. ``answers`` gets (email, status, body)."""
    body = {"name": "参加 太郎", "name_kana": "サンカ タロウ", "email": email_, "organization_code": "472018",
            "ticket_type": ticket_type, "consent_privacy": True}
    attempt = 0
    while time.monotonic() < deadline:
        base = bases[attempt % len(bases)]
        attempt += 1
        try:
            status, out = call("POST", f"{base}/api/v1/events/{slug}/registrations", body)
        except (OSError, urllib.error.URLError, http.client.HTTPException):
            CUT.append(email_)  # the process serving it died (or was not back yet)
            time.sleep(0.2)
            continue
        answers.append((email_, status, out))
        return
    answers.append((email_, None, {}))


def burst(bases: list[str], slug: str, n: int, prefix: str, *, seconds: float = 60, pause: float = 0.3) -> list:
    answers: list = []
    deadline = time.monotonic() + seconds
    types = list(CAPACITY)
    threads = [threading.Thread(target=register_until_answered,
                                args=(bases, slug, f"{prefix}{i}@city.naha.lg.jp", types[i % len(types)], answers,
                                      deadline))
               for i in range(n)]
    for i, t in enumerate(threads):
        t.start()
        if i % 5 == 4:
            time.sleep(pause)  # in waves, so that the kills land in the middle of the burst
    for t in threads:
        t.join(seconds + 30)
    return answers


class Killer(threading.Thread):
    """SIGKILLs a random victim every ``pause`` seconds until stopped; ``victims()`` lists candidates."""

    def __init__(self, victims, respawn=None, pause=(0.4, 1.0)):
        super().__init__(daemon=True)
        self.victims, self.respawn, self.pause = victims, respawn, pause
        self.stop = threading.Event()
        self.kills = 0

    def run(self):
        rnd = random.Random(8)
        while not self.stop.wait(rnd.uniform(*self.pause)):
            pids = self.victims()
            if not pids:
                continue
            pid = rnd.choice(pids)
            try:
                os.kill(pid, signal.SIGKILL)
                self.kills += 1
            except ProcessLookupError:
                continue
            if self.respawn:
                self.respawn(pid)


# ------------------------------------------------------------------ checking the result
def seeded_app(url: str, **config):
    app = create_app(conftest.test_config(url, **config))
    return app


def seats_event(make, title="那覇の勉強会"):
    return make.event(title=title, ticket_types=[events.TicketTypeData(code, code, cap)
                                                 for code, cap in CAPACITY.items()])


def drain(app, *, timeout: float = 60) -> None:
    """Wait until no row is queued or sending (the workers are running)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        db.session.commit()
        busy = db.session.scalar(select(Delivery.id).where(Delivery.state.in_(("queued", "sending"))).limit(1))
        if busy is None:
            return
        time.sleep(0.3)
    states = Counter(db.session.scalars(select(Delivery.state)).all())
    raise AssertionError(f"outbox not drained: {states}")


def check_registrations(event_id: int, answers) -> list[Registration]:
    db.session.commit()
    assert all(status is not None for _e, status, _b in answers), "a client never got an answer"
    assert not [a for a in answers if a[1] >= 500], [a for a in answers if a[1] >= 500][:3]
    # every answer is 201, or 409 already_registered for a retry whose first try had committed
    assert {s for _e, s, _b in answers} <= {201, 409}, Counter(s for _e, s, _b in answers)
    assert {b.get("error") for _e, s, b in answers if s == 409} <= {"already_registered"}
    regs = db.session.scalars(select(Registration).where(Registration.event_id == event_id)).all()
    assert sorted(r.email for r in regs) == sorted(e for e, _s, _b in answers), "lost or phantom registrations"
    by_type = Counter((r.ticket_type.code, r.status) for r in regs)
    for code, cap in CAPACITY.items():
        wanted = sum(1 for r in regs if r.ticket_type.code == code)
        assert by_type[(code, "confirmed")] == min(cap, wanted), (code, by_type)
    return regs


def check_mail(regs, inbox: Inbox, *, uncertain_ids: set[int]) -> None:
    """One mail row per registration (its status's kind), sent; it arrived with one Message-ID
    (twice only if it was uncertain and sent again by hand)."""
    db.session.commit()
    rows = db.session.scalars(select(Delivery).where(Delivery.kind.like("mail.%"))).all()
    per_reg = Counter(r.registration_id for r in rows)
    assert {reg.id: per_reg[reg.id] for reg in regs} == {reg.id: 1 for reg in regs}
    kinds = {r.registration_id: r.kind for r in rows}
    for reg in regs:
        assert kinds[reg.id] == {"confirmed": "mail.confirmation", "waitlisted": "mail.waitlisted"}[reg.status]
    assert Counter(r.state for r in rows) == {"sent": len(rows)}, Counter(r.state for r in rows)
    with inbox.lock:
        received = list(inbox.received)
    ids_by_rcpt: dict[str, set[str]] = {}
    copies = Counter(mid for _r, mid, _s in received)
    for rcpt, mid, _subject in received:
        ids_by_rcpt.setdefault(rcpt, set()).add(mid)
    for row in rows:
        assert ids_by_rcpt.get(row.target) == {row.external_id}, (row.target, ids_by_rcpt.get(row.target))
        allowed = (1, 2) if row.id in uncertain_ids else (1,)
        assert copies[row.external_id] in allowed, (row.id, copies[row.external_id])
    assert len(ids_by_rcpt) == len(regs)


def settle_after_kills(app) -> set[int]:
    """What happens later, once every worker is gone: leases run out (recover as a worker would in
    five minutes), then an organizer sends the uncertain rows again from the delivery page."""
    db.session.commit()
    outbox_worker.recover_lost(outbox_worker.LEASE + timedelta(seconds=1) + _now())
    uncertain = db.session.scalars(select(Delivery).where(Delivery.state == "uncertain")).all()
    for row in uncertain:
        outbox_service.retry(row, _now())
    db.session.commit()
    return {row.id for row in uncertain}


def _now():
    from eventsvc.core.clock import now_utc

    return now_utc()


# ------------------------------------------------------------------ the tests
@pytest.mark.postgres
def test_kill_9_during_a_burst_on_postgresql(fresh_pg, smtp, tmp_path):
    from tests import factories as make

    started = time.monotonic()
    procs = Procs(tmp_path, {"EVENTSVC_DATABASE_URL": fresh_pg, "EVENTSVC_SECRET_KEY": "crash-test",
                             "EVENTSVC_INSTANCE_PATH": str(tmp_path), "EVENTSVC_RATELIMIT": "off",
                             "EVENTSVC_SMTP_URL": smtp.url, "EVENTSVC_LOG_LEVEL": "ERROR",
                             "EVENTSVC_MAIL_FROM": "事務局 <no-reply@events.example.lg.jp>"})
    app = seeded_app(fresh_pg)
    ctx = app.app_context()
    ctx.push()
    try:
        procs.run(BIN / "eventsvc", "db", "upgrade")
        event = seats_event(make)
        slug, event_id = event.slug, event.id
        master, base = gunicorn(procs, 3)
        workers = outbox_workers(procs, 2)
        mail_kills = []

        def respawn(pid):
            for i, w in enumerate(workers):
                if w.pid == pid:
                    mail_kills.append(pid)
                    workers[i] = procs.spawn(BIN / "eventsvc", "worker", "--interval", "0.2")

        smtp.delay = 0.2  # the outbox workers spend their time inside DATA: kills land mid-send
        killer = Killer(lambda: children(master.pid), respawn)
        killer.start()
        cut_before = len(CUT)
        # a registration takes a few milliseconds, so a kill may fall between requests: burst again
        # (new people) until kills have met requests in flight, as this test is about
        answers: list = []
        for round_ in range(20):
            answers += burst([base], slug, 100, f"k{round_}-", seconds=70, pause=0.1)
            if killer.kills >= 6 and len(CUT) > cut_before:
                break
        killer.stop.set()
        killer.join()
        assert killer.kills >= 6, killer.kills
        assert len(CUT) > cut_before, "no kill landed on a request in flight: the burst proved nothing"
        assert master.poll() is None, "gunicorn's master survives its workers' deaths"
        regs = check_registrations(event_id, answers)
        # then the mail: an outbox worker is killed in the middle of a send (the row says whose)
        deadline, mid_send = time.monotonic() + 40, 0
        while mid_send < 3 and time.monotonic() < deadline:
            db.session.commit()
            claims = db.session.scalars(select(Delivery.claimed_by).where(
                Delivery.state == "sending", Delivery.send_started_at.is_not(None))).all()
            live = [w.pid for w in workers]
            pid = next((int(c.split(":")[1]) for c in claims if int(c.split(":")[1]) in live), None)
            if pid is not None:
                os.kill(pid, signal.SIGKILL)
                respawn(pid)
                mid_send += 1
            time.sleep(0.05)
        assert mid_send == 3, "the mail was sent before three workers could be killed mid-send"
        # the workers end; later, leases run out and an organizer resends the uncertain rows
        for w in workers:
            w.kill()
            w.wait(10)
        uncertain = settle_after_kills(app)
        assert uncertain, "no worker died while sending: the uncertain path was not exercised"
        smtp.delay = 0.0
        outbox_workers(procs, 2)
        drain(app)
        check_mail(regs, smtp, uncertain_ids=uncertain)
        print(f"kills={killer.kills} mail kills={len(mail_kills)} mid-send={mid_send} cut={len(CUT) - cut_before} "
              f"uncertain={len(uncertain)}")
    finally:
        procs.stop_all()
        db.session.remove()
        ctx.pop()
    assert time.monotonic() - started < 150


@pytest.mark.postgres
def test_two_apps_two_workers_registrations_and_slack_fan_out(fresh_pg, smtp, fake_slack, tmp_path):
    from eventsvc.slack import service as slack_service
    from tests import factories as make

    fake, slack_url = fake_slack
    channel = fake.add_channel("kyushu-okinawa")["id"]
    procs = Procs(tmp_path, {"EVENTSVC_DATABASE_URL": fresh_pg, "EVENTSVC_SECRET_KEY": "scale-test",
                             "EVENTSVC_INSTANCE_PATH": str(tmp_path), "EVENTSVC_RATELIMIT": "off",
                             "EVENTSVC_SMTP_URL": smtp.url, "EVENTSVC_LOG_LEVEL": "ERROR",
                             "EVENTSVC_SLACK_API_URL": slack_url, "EVENTSVC_SLACK_BOT_TOKEN": fake.bot_token})
    app = seeded_app(fresh_pg)
    ctx = app.app_context()
    ctx.push()
    try:
        procs.run(BIN / "eventsvc", "db", "upgrade")
        owner = make.organizer()
        token = make.token(owner)
        event = seats_event(make)
        slug, event_id = event.slug, event.id
        others = [make.event(owner, title=f"勉強会 その{i}").slug for i in range(12)]
        slack_service.set_region_channels({"kyushu_okinawa": channel}, owner, _now())
        db.session.commit()
        (_m1, base1), (_m2, base2) = gunicorn(procs, 1), gunicorn(procs, 1)
        outbox_workers(procs, 2)
        # the fan-out, queued through both apps while the burst runs
        fanout: list = []

        def queue_all():
            for i, other in enumerate(others):
                base = (base1, base2)[i % 2]
                fanout.append(call("POST", f"{base}/api/v1/events/{other}/followups", {"kind": "announcement"},
                                   token))

        queuer = threading.Thread(target=queue_all)
        queuer.start()
        answers = burst([base1, base2], slug, 60, "s", seconds=60)
        queuer.join(60)
        assert len(fanout) == len(others) and all(s in (200, 201) for s, _b in fanout), fanout[:3]
        regs = check_registrations(event_id, answers)
        drain(app)
        check_mail(regs, smtp, uncertain_ids=set())
        rows = db.session.scalars(select(Delivery).where(Delivery.kind == "slack.announcement")).all()
        assert len(rows) == len(others) and {r.state for r in rows} == {"sent"}, Counter(r.state for r in rows)
        posts = fake.messages(channel)
        assert len(posts) == len(others), len(posts)
        assert fake.count("chat.postMessage") == len(others)
        assert sorted(f"{channel}:{m['ts']}" for m in posts) == sorted(r.external_id for r in rows)
    finally:
        procs.stop_all()
        db.session.remove()
        ctx.pop()


def test_kill_9_of_eventsvc_serve_on_sqlite(smtp, tmp_path):
    from tests import factories as make

    started = time.monotonic()
    url = "sqlite:///" + str(tmp_path / "eventsvc.db")
    port = free_port()
    procs = Procs(tmp_path, {"EVENTSVC_DATABASE_URL": url, "EVENTSVC_SECRET_KEY": "sqlite-crash",
                             "EVENTSVC_INSTANCE_PATH": str(tmp_path), "EVENTSVC_RATELIMIT": "off",
                             "EVENTSVC_SMTP_URL": smtp.url, "EVENTSVC_LOG_LEVEL": "ERROR"})
    procs.run(BIN / "eventsvc", "db", "upgrade")
    app = seeded_app(url)
    ctx = app.app_context()
    ctx.push()
    intent = database.set_write_intent(False)  # the test's reads must not hold SQLite's write lock
    try:
        event = seats_event(make)
        slug, event_id = event.slug, event.id
        db.session.remove()
        server = [procs.spawn(BIN / "eventsvc", "serve", "--port", str(port), "--threads", "8")]
        procs.wait_port(port, server[0])

        def restart(_pid):
            server[0].wait(10)
            server[0] = procs.spawn(BIN / "eventsvc", "serve", "--port", str(port), "--threads", "8")

        def up() -> list[int]:  # a server that answers (it takes a moment to start again)
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                    return [server[0].pid]
            except OSError:
                return []

        killer = Killer(up, restart, pause=(1.0, 2.0))
        killer.start()
        cut_before = len(CUT)
        answers = burst([f"http://127.0.0.1:{port}"], slug, 60, "q", seconds=80, pause=1.0)
        killer.stop.set()
        killer.join()
        assert killer.kills >= 3, killer.kills
        assert len(CUT) > cut_before, "no request met a killed server: the burst proved nothing"
        procs.wait_port(port, server[0])
        regs = check_registrations(event_id, answers)
        os.kill(server[0].pid, signal.SIGKILL)
        server[0].wait(10)
        db.session.commit()
        check = sqlite3.connect(tmp_path / "eventsvc.db")
        try:
            assert check.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        finally:
            check.close()
        # later: leases run out, an organizer resends what was uncertain; a server sends the rest
        uncertain = settle_after_kills(app)
        server[0] = procs.spawn(BIN / "eventsvc", "serve", "--port", str(port))
        procs.wait_port(port, server[0])
        drain(app)
        check_mail(regs, smtp, uncertain_ids=uncertain)
    finally:
        procs.stop_all()
        db.session.remove()
        database.reset_write_intent(intent)
        ctx.pop()
    assert time.monotonic() - started < 150


def test_the_message_id_is_the_same_each_time_a_row_is_sent(app, make):
    from eventsvc.outbox.mail import build_message

    event = make.event()
    reg = make.registration(event)
    row = db.session.scalar(select(Delivery).where(Delivery.registration_id == reg.id))
    first = build_message(row, "事務局 <no-reply@events.example.lg.jp>")["Message-ID"]
    again = build_message(row, "事務局 <no-reply@events.example.lg.jp>")["Message-ID"]
    assert first == again and first.endswith("@events.example.lg.jp>") and f".{row.id}." in first
    other = make.registration(event)
    row2 = db.session.scalar(select(Delivery).where(Delivery.registration_id == other.id))
    assert build_message(row2, "x <a@b.jp>")["Message-ID"] != first
    db.session.execute(update(Delivery).values(state="queued"))
