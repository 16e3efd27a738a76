"""``eventsvc lottery run SLUG`` and ``eventsvc worker --once``; the worker thread ``serve`` starts."""

from __future__ import annotations

import json

from sqlalchemy import select

from eventsvc import cli
from eventsvc.events import service as events
from eventsvc.extensions import db
from eventsvc.outbox.models import Delivery
from eventsvc.registration import lottery
from eventsvc.registration.models import Registration


def test_lottery_run_prints_a_verifiable_record(runner, make):
    e = make.event(selection="lottery", ticket_types=[events.TicketTypeData("venue", "会場", 2)])
    for _ in range(5):
        make.registration(e)
    result = runner.invoke(args=["lottery", "run", e.slug, "--seed", "cli-seed"])
    assert result.exit_code == 0, result.output
    head, record = result.output.strip().splitlines()[:2]
    assert head == "venue: seed=cli-seed won=2 waitlist=3"
    assert lottery.verify(json.loads(record))
    db.session.expire_all()
    assert sorted(db.session.scalars(select(Registration.status))) == ["confirmed"] * 2 + ["waitlisted"] * 3
    again = runner.invoke(args=["lottery", "run", e.slug])
    assert again.exit_code == 1 and "lottery_already_drawn" in again.output
    missing = runner.invoke(args=["lottery", "run", "no-such-event"])
    assert missing.exit_code == 1 and "event_not_found" in missing.output


def test_worker_once_holds_mail_without_smtp(runner, make):
    make.registration(make.event())
    result = runner.invoke(args=["worker", "--once"])
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == "outbox: nothing due"
    assert db.session.scalar(select(Delivery.state)) == "held"


def test_a_worker_without_base_url_says_where_its_links_will_point(runner, app):
    """The worker writes mails outside any request: with no EVENTSVC_BASE_URL their links go to the
    default address, which is said on its error output (once, at the start); with it, nothing."""
    said = runner.invoke(args=["worker", "--once"])
    assert "EVENTSVC_BASE_URL is not set" in said.stderr and "http://127.0.0.1:8000/" in said.stderr
    app.config["BASE_URL"] = "https://events.example.lg.jp"
    try:
        quiet = runner.invoke(args=["worker", "--once"])
    finally:
        app.config.pop("BASE_URL")
    assert quiet.exit_code == 0 and quiet.stderr == ""


def test_serve_starts_the_outbox_worker_thread(app):
    assert cli._start_outbox_worker in cli.BACKGROUND_STARTERS
    import threading

    stop = cli._start_outbox_worker(app)
    try:
        assert any(t.name == "outbox-worker" and t.is_alive() for t in threading.enumerate())
    finally:
        stop()
    assert not any(t.name == "outbox-worker" and t.is_alive() for t in threading.enumerate())
