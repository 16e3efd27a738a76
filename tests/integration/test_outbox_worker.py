"""The outbox worker: claim, send once, retry with backoff, hold without a channel, recover lost claims;
and real SMTP (aiosmtpd) receiving the confirmation with its .ics and QR attachments."""

from __future__ import annotations

import asyncio
import email
import io
import random
import re
import socket
import threading
import time
from datetime import timedelta
from email import policy

import pytest
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from eventsvc.core.clock import now_utc
from eventsvc.extensions import db
from eventsvc.outbox import renderers, worker
from eventsvc.outbox import service as outbox
from eventsvc.outbox.mail import parse_smtp_url
from eventsvc.outbox.models import Delivery
from eventsvc.outbox.senders import (
    PermanentError,
    TemporaryError,
    UncertainError,
    register_sender,
    sender_for,
    unregister_sender,
)


class RecordingSender:
    def __init__(self):
        self.sent: list[int] = []
        self.lock = threading.Lock()
        self.fail: dict[int, Exception] = {}
        self.available = True

    def unavailable(self, config):
        return None if self.available else "テスト用の送信先なし"

    def send(self, delivery, config):
        if delivery.id in self.fail:
            raise self.fail[delivery.id]
        with self.lock:
            self.sent.append(delivery.id)
        return f"ext-{delivery.id}"


@pytest.fixture
def sender():
    s = RecordingSender()
    register_sender("test.", s)
    yield s
    unregister_sender("test.")


def add(n=1, kind="test.ping", **kw):
    rows = [outbox.enqueue(kind, f"user{i}@city.naha.lg.jp", {"text": f"#{i}"}, **kw) for i in range(n)]
    db.session.commit()
    return rows


def state(row):
    db.session.expire_all()
    return db.session.get(Delivery, row.id)


def test_dedupe_key_makes_enqueue_idempotent(app):
    a = outbox.enqueue("test.x", "a@lg.jp", {}, dedupe_key="k1")
    b = outbox.enqueue("test.x", "a@lg.jp", {}, dedupe_key="k1")
    db.session.commit()
    assert a.id == b.id
    assert len(db.session.scalars(select(Delivery)).all()) == 1


def test_a_new_key_is_inserted_without_a_lookup_but_the_unique_index_still_refuses_a_duplicate(app):
    """``enqueue_new`` (the key names a row just inserted) inserts without looking first; if the
    promise is broken, the unique index refuses the second row rather than storing it."""
    new_id = outbox.enqueue_new("test.x", "a@lg.jp", {"text": "本文"}, dedupe_key="fresh:1")
    db.session.commit()
    row = db.session.get(Delivery, new_id)
    assert (row.state, row.attempts, row.payload, row.target) == ("queued", 0, {"text": "本文"}, "a@lg.jp")
    assert row.next_attempt_at == row.created_at
    with pytest.raises(IntegrityError):
        outbox.enqueue_new("test.x", "a@lg.jp", {}, dedupe_key="fresh:1")
    db.session.rollback()
    assert db.session.scalars(select(Delivery.dedupe_key)).all() == ["fresh:1"]
    # ``enqueue`` with the same key still answers with the existing row
    assert outbox.enqueue("test.x", "a@lg.jp", {}, dedupe_key="fresh:1").id == new_id


def test_sends_each_row_once_and_records_it(app, sender):
    rows = add(3)
    assert worker.run_once() == {"sent": 3}
    assert worker.run_once() == {}
    assert sorted(sender.sent) == [r.id for r in rows]
    d = state(rows[0])
    assert (d.state, d.attempts, d.external_id) == ("sent", 1, f"ext-{rows[0].id}")
    assert d.sent_at is not None and d.claimed_by == ""


def test_temporary_errors_back_off_then_fail(app, sender):
    (row,) = add()
    sender.fail[row.id] = TemporaryError("451 try later")
    now = now_utc()
    assert worker.run_once(now=now) == {"queued": 1}
    d = state(row)
    assert d.state == "queued" and d.attempts == 1 and "451" in d.last_error
    delay = (d.next_attempt_at - now).total_seconds()
    assert worker.BASE_DELAY * 0.5 - 1 <= delay <= worker.BASE_DELAY * 1.5 + 1
    assert worker.run_once(now=now) == {}  # not due yet
    for _ in range(worker.MAX_ATTEMPTS - 1):
        worker.run_once(now=state(row).next_attempt_at)
    d = state(row)
    assert d.state == "failed" and d.attempts == worker.MAX_ATTEMPTS
    assert sender.sent == []


def test_backoff_grows_exponentially_with_jitter_and_a_cap():
    rnd = random.Random(1)
    delays = [worker.backoff(n, rnd).total_seconds() for n in range(1, 12)]
    for n, d in enumerate(delays, start=1):
        base = min(worker.MAX_DELAY, worker.BASE_DELAY * 2 ** (n - 1))
        assert 0.5 * base <= d < 1.5 * base
    assert len({round(d) for d in delays}) == len(delays)


def test_a_rate_limit_is_retried_when_the_other_side_asks_and_does_not_use_up_attempts(app, sender):
    (row,) = add(1)
    now = now_utc()
    for _ in range(worker.MAX_ATTEMPTS + 2):
        sender.fail[row.id] = TemporaryError("429 ratelimited", retry_after=2)
        before = now_utc()
        worker.run_once(now=now)
        d = state(row)
        assert d.state == "queued"
        assert 2.0 <= (d.next_attempt_at - before).total_seconds() <= 2.2 + 1  # Retry-After, not 30 s+
        now = d.next_attempt_at
    sender.fail.clear()
    assert worker.run_once(now=now) == {"sent": 1}
    assert sender.sent.count(row.id) == 1


def test_permanent_and_uncertain_outcomes_are_never_retried(app, sender):
    a, b, c = add(3)
    sender.fail[a.id] = PermanentError("550 no such user")
    sender.fail[b.id] = UncertainError("connection lost during DATA")
    sender.fail[c.id] = RuntimeError("bug in a sender")
    assert worker.run_once() == {"failed": 1, "uncertain": 2}
    later = now_utc() + timedelta(days=2)
    assert worker.run_once(now=later) == {}
    assert [state(r).state for r in (a, b, c)] == ["failed", "uncertain", "uncertain"]
    # only a person's retry sends it again
    outbox.retry(state(b), now_utc())
    db.session.commit()
    sender.fail.clear()
    assert worker.run_once() == {"sent": 1}


def test_rows_without_a_channel_are_held_then_released(app, sender):
    rows = add(2)
    (other,) = add(kind="nochannel.ping")
    sender.available = False
    assert worker.run_once() == {}
    assert [state(r).state for r in rows] == ["held", "held"]
    assert state(rows[0]).last_error == "テスト用の送信先なし"
    assert state(other).state == "held" and "未登録" in state(other).last_error
    sender.available = True
    assert worker.run_once() == {"sent": 2}
    assert state(other).state == "held"


def test_a_dead_workers_claim_comes_back_unless_sending_had_started(app, sender):
    a, b = add(2)
    now = now_utc()
    assert sorted(worker.claim("dead-worker", now)) == sorted([a.id, b.id])
    # it died: 'a' never started, 'b' was being handed to SMTP
    db.session.execute(Delivery.__table__.update().where(Delivery.id == b.id).values(send_started_at=now))
    db.session.commit()
    assert worker.run_once(now=now + timedelta(minutes=1)) == {}  # lease still running
    after = now + worker.LEASE + timedelta(seconds=1)
    assert worker.run_once(now=after) == {"sent": 1}
    assert sender.sent == [a.id]
    assert state(b).state == "uncertain"


def test_a_stale_claim_cannot_send(app, sender):
    (row,) = add()
    worker.claim("w1", now_utc())
    # w1's lease was taken over (recovered and reclaimed by w2)
    db.session.execute(Delivery.__table__.update().where(Delivery.id == row.id).values(claimed_by="w2"))
    db.session.commit()
    assert worker.deliver(row.id, "w1") == "lost"
    assert sender.sent == []


def test_parallel_workers_never_send_a_row_twice(app, sender):
    rows = add(60)

    def work():
        with app.app_context():
            for _ in range(10):
                worker.run_once(batch=5, periodic=False)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert sorted(sender.sent) == sorted(r.id for r in rows)
    assert len(sender.sent) == len(set(sender.sent))


class BlockingSender(RecordingSender):
    """Sends only when told to: the test looks at the database meanwhile."""

    def __init__(self):
        super().__init__()
        self.entered, self.release = threading.Event(), threading.Event()

    def send(self, delivery, config):
        self.entered.set()
        assert self.release.wait(10)
        return super().send(delivery, config)


def test_the_database_stays_writable_while_a_delivery_is_being_sent(app):
    """A send may take seconds (a slow SMTP server, a Slack rate limit): registrations and
    check-ins must not wait for it (on SQLite: no write lock is held meanwhile)."""
    slow = BlockingSender()
    register_sender("slow.", slow)
    try:
        (row,) = add(kind="slow.x")

        def work():
            with app.app_context():
                worker.run_once(periodic=False)

        thread = threading.Thread(target=work)
        thread.start()
        try:
            assert slow.entered.wait(10)
            started = time.monotonic()
            other = outbox.enqueue("test.ping", "meanwhile@city.naha.lg.jp", {"text": "meanwhile"})
            db.session.commit()  # a write by someone else, while the send is in progress
            assert time.monotonic() - started < 2.0
            assert state(row).state == "sending"
            db.session.rollback()  # this test's own session lets go of the database too
        finally:
            slow.release.set()
            thread.join(20)
        assert state(row).state == "sent" and state(other).state == "queued"
    finally:
        unregister_sender("slow.")


def test_smtp_url_forms():
    s = parse_smtp_url("smtp://mail.example.lg.jp")
    assert (s.host, s.port, s.implicit_tls, s.starttls, s.username) == ("mail.example.lg.jp", 25, False, False, None)
    s = parse_smtp_url("smtp://u%40x:p%3Aw@host:587?starttls=1&timeout=5")
    assert (s.port, s.starttls, s.username, s.password, s.timeout) == (587, True, "u@x", "p:w", 5.0)
    s = parse_smtp_url("smtps://u:p@host")
    assert (s.port, s.implicit_tls, s.starttls) == (465, True, False)
    with pytest.raises(ValueError):
        parse_smtp_url("http://host")


def test_mail_sender_is_registered_for_mail_kinds():
    from eventsvc.outbox.mail import SmtpSender

    assert isinstance(sender_for("mail.confirmation"), SmtpSender)
    assert not isinstance(sender_for("slack.report"), SmtpSender)
    assert sender_for("mailbox.x") is None


# ---------------------------------------------------------------- real SMTP
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Inbox:
    def __init__(self):
        self.messages: list[email.message.EmailMessage] = []
        self.envelopes = []
        self.rcpt_reply = None
        self.data_delay = 0.0
        #: the next RCPT waits for this (set) before it is answered
        self.hold_rcpt: threading.Event | None = None
        self.held = threading.Event()

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):  # noqa: N802
        hold, self.hold_rcpt = self.hold_rcpt, None
        if hold is not None:
            self.held.set()
            while not hold.is_set():
                await asyncio.sleep(0.01)
        if self.rcpt_reply:
            return self.rcpt_reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):  # noqa: N802
        if self.data_delay:
            await asyncio.sleep(self.data_delay)
        self.envelopes.append(envelope)
        self.messages.append(email.message_from_bytes(envelope.content, policy=policy.default))
        return "250 Message accepted"


@pytest.fixture
def smtp_server(app):
    from aiosmtpd.controller import Controller

    inbox = Inbox()
    port = free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    app.config["SMTP_URL"] = f"smtp://127.0.0.1:{port}?timeout=1"
    app.config["MAIL_FROM"] = "勉強会事務局 <no-reply@events.example.lg.jp>"
    try:
        yield inbox
    finally:
        app.config.pop("SMTP_URL", None)
        app.config["MAIL_FROM"] = "eventsvc <no-reply@localhost>"
        controller.stop()


def test_confirmation_arrives_over_real_smtp_with_ics_and_qr(app, make, smtp_server):
    import vobject
    import zxingcpp
    from PIL import Image

    event = make.event(title="自治体職員の勉強会 in 那覇 𠮷")
    reg = make.registration(event, name="𠮷田 花子", email="hanako@city.naha.lg.jp")
    assert worker.run_once() == {"sent": 1}
    (msg,) = smtp_server.messages
    assert smtp_server.envelopes[0].rcpt_tos == ["hanako@city.naha.lg.jp"]
    assert str(msg["Subject"]) == "【参加確定】自治体職員の勉強会 in 那覇 𠮷"
    assert "勉強会事務局" in str(msg["From"])
    body = msg.get_body(preferencelist=("plain",)).get_content()
    assert "𠮷田 花子 様" in body and reg.ticket_code in body and "/my/" in body
    parts = {p.get_filename(): p for p in msg.iter_attachments()}
    ics = parts[f"{event.slug}.ics"]
    assert ics.get_content_type() == "text/calendar"
    cal = vobject.readOne(ics.get_payload(decode=True).decode("utf-8"))
    assert cal.vevent.summary.value == event.title
    assert cal.vevent.dtstart.value.utcoffset() == timedelta(hours=9)
    png = parts[f"ticket-{reg.ticket_code}.png"].get_payload(decode=True)
    assert zxingcpp.read_barcodes(Image.open(io.BytesIO(png)))[0].text == reg.ticket_code
    d = db.session.scalar(select(Delivery))
    assert d.state == "sent" and d.external_id == str(msg["Message-ID"])


def test_a_mail_is_made_when_it_leaves_and_the_row_keeps_what_left(app, make, smtp_server, client):
    reg = make.registration(make.event(), name="那覇 太郎")
    d = db.session.scalar(select(Delivery).where(Delivery.registration_id == reg.id))
    assert renderers.is_deferred(d.payload) and "text" not in d.payload  # the request wrote a recipe
    reg.name = "那覇 次郎"  # corrected before the worker ran: the mail says what is true when it leaves
    db.session.commit()
    assert worker.run_once() == {"sent": 1}
    (msg,) = smtp_server.messages
    body = msg.get_body(preferencelist=("plain",)).get_content()
    assert body.startswith("那覇 次郎 様")
    d = state(d)
    assert not renderers.is_deferred(d.payload) and d.payload["text"].strip() == body.strip()
    assert [a["filename"] for a in d.payload["attachments"]] == [f"ticket-{reg.ticket_code}.png",
                                                                  f"{reg.event.slug}.ics"]
    link = re.search(r"https?://\S+(/my/\S+)", body).group(1)  # signed when sent, and it works
    assert reg.name in client.get(link).get_data(as_text=True)


def test_a_mail_whose_registration_was_erased_before_it_left_fails_and_is_not_sent(app, make, smtp_server):
    reg = make.registration(make.event())
    reg.erased_at = now_utc()
    db.session.commit()
    assert worker.run_once() == {"failed": 1}
    assert smtp_server.messages == []
    d = db.session.scalar(select(Delivery).where(Delivery.registration_id == reg.id))
    assert "削除" in d.last_error and d.attempts == 0


def test_a_renderer_that_breaks_leaves_the_row_to_be_tried_again_not_lost(app, sender):
    def broken(delivery):
        raise ValueError("a template bug")

    renderers.register_renderer("broken", broken)
    try:
        row = outbox.enqueue("test.x", "a@city.naha.lg.jp", {"subject": "件名", "render": {"with": "broken"}})
        unknown = outbox.enqueue("test.y", "b@city.naha.lg.jp", {"render": {"with": "nobody"}})
        db.session.commit()
        assert worker.run_once() == {"queued": 1, "failed": 1}
        row, unknown = state(row), state(unknown)
        assert row.attempts == 1 and row.last_error == "rendering: ValueError: a template bug"
        assert renderers.is_deferred(row.payload) and row.next_attempt_at > now_utc()
        assert unknown.state == "failed" and "nobody" in unknown.last_error
        assert sender.sent == []
    finally:
        renderers.unregister_renderer("broken")


def test_smtp_refusals_and_drops(app, make, smtp_server):
    event = make.event()
    reg = make.registration(event)
    smtp_server.rcpt_reply = "550 5.1.1 no such user"
    assert worker.run_once() == {"failed": 1}
    d = db.session.scalar(select(Delivery).where(Delivery.registration_id == reg.id))
    assert "550" in d.last_error
    reg2 = make.registration(event)
    smtp_server.rcpt_reply = "451 4.3.0 try again later"
    assert worker.run_once() == {"queued": 1}
    smtp_server.rcpt_reply = None
    smtp_server.data_delay = 2.0  # longer than the client's timeout: did it arrive? unknown
    reg3 = make.registration(event, ticket_type="online")
    outcome = worker.run_once()
    assert outcome == {"uncertain": 1}
    d3 = db.session.scalar(select(Delivery).where(Delivery.registration_id == reg3.id))
    assert d3.state == "uncertain" and "DATA" in d3.last_error
    d2 = db.session.scalar(select(Delivery).where(Delivery.registration_id == reg2.id))
    assert d2.state == "queued" and d2.attempts == 1


def test_a_mail_worker_that_stops_before_data_leaves_a_row_that_is_simply_sent_again(app, make, smtp_server):
    """Before DATA nothing can have been delivered: a worker that dies (or loses its claim)
    there leaves a row that goes back to the queue by itself — not ``uncertain`` — and the
    stale worker, if it wakes up, sends nothing."""
    reg = make.registration(make.event())
    (row_id,) = worker.claim("w-stalled", now_utc())
    smtp_server.hold_rcpt = release = threading.Event()
    outcome = []

    def stalled():
        with app.app_context():
            outcome.append(worker.deliver(row_id, "w-stalled"))

    thread = threading.Thread(target=stalled)
    thread.start()
    try:
        assert smtp_server.held.wait(10)  # inside the SMTP session, before DATA
        row = db.session.get(Delivery, row_id)
        assert row.state == "sending" and row.send_started_at is None and row.attempts == 1
        db.session.rollback()
        # its lease runs out (as if it had been killed) and another worker takes over
        assert worker.run_once(now=now_utc() + worker.LEASE + timedelta(seconds=1), periodic=False) == {"sent": 1}
    finally:
        release.set()
        thread.join(20)
    assert outcome == ["lost"]  # the stalled worker stopped at DATA
    (msg,) = smtp_server.messages
    assert smtp_server.envelopes[0].rcpt_tos == [reg.email]
    row = db.session.scalar(select(Delivery).where(Delivery.id == row_id))
    db.session.refresh(row)
    assert row.state == "sent" and row.external_id == str(msg["Message-ID"])


def test_unreachable_smtp_is_retried_not_lost(app, make):
    app.config["SMTP_URL"] = f"smtp://127.0.0.1:{free_port()}?timeout=1"
    try:
        make.registration(make.event())
        assert worker.run_once() == {"queued": 1}
    finally:
        app.config.pop("SMTP_URL")
