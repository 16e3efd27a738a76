"""Benchmark: a post-event Slack fan-out — 500 survey DMs + 8 regional channel posts — through
the real outbox worker and the real ``slack_sdk.WebClient`` against the fake Slack Web API
with Slack's rate limits switched on.

    .venv/bin/python bench/slack_fanout.py                    # the figures in bench/README-slack.md
    .venv/bin/python bench/slack_fanout.py --scale 4          # Slack "4x faster": same ratio, ~15 s
    .venv/bin/python bench/slack_fanout.py --unpaced          # no workspace pacing: 429s + Retry-After
    .venv/bin/python bench/slack_fanout.py --database postgresql://postgres@127.0.0.1/postgres

Limits modelled by the fake (tests/fakeslack/ratelimit.py): ``chat.postMessage`` 1/s per channel
(bursts of 3) and a workspace-wide post limit (``--workspace-per-minute``, bursts of 10; Slack
does not publish it — several hundred a minute is what people report), every Web API tier for
the other methods. ``--scale`` multiplies every rate (Retry-After stays whole seconds).

What is measured: from the first worker pass to the last delivery settled (sent or failed).
The lower bound is ``RateLimits.lower_bound`` for exactly the posts that had to be made (the
least time Slack's buckets allow, from full buckets). Duplicates: a delivery whose metadata
appears on more than one message in the fake; losses: a delivery not ``sent`` or with no
message. Targets: ratio ≤ 1.1, duplicates/losses 0/0. Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections import Counter
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
for _var in ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy"):
    os.environ.pop(_var, None)
os.environ.setdefault("EVENTSVC_INSTANCE_PATH", tempfile.mkdtemp(prefix="eventsvc-bench-slack-"))

from flask_migrate import upgrade  # noqa: E402
from sqlalchemy import select  # noqa: E402

from eventsvc import create_app  # noqa: E402
from eventsvc.auth import service as auth_service  # noqa: E402
from eventsvc.checkin import service as checkin  # noqa: E402
from eventsvc.core.clock import JST, now_utc  # noqa: E402
from eventsvc.events import service as events  # noqa: E402
from eventsvc.extensions import db  # noqa: E402
from eventsvc.outbox import worker  # noqa: E402
from eventsvc.outbox.models import Delivery  # noqa: E402
from eventsvc.registration import service as registrations  # noqa: E402
from eventsvc.slack import sender as slack_sender  # noqa: E402
from eventsvc.slack import service as slack  # noqa: E402
from eventsvc.surveys import service as surveys  # noqa: E402
from tests.fakeslack import FakeSlack  # noqa: E402

#: one channel per region, and an event in a prefecture of it
REGION_EVENTS = {"hokkaido": "01", "tohoku": "04", "kanto": "13", "chubu": "23", "kinki": "27",
                 "chugoku": "34", "shikoku": "38", "kyushu_okinawa": "47"}


def _event(org, title: str, pref: str, start, now):
    data = events.EventData(title=title, starts_at=start, ends_at=start + timedelta(hours=3), prefecture_code=pref,
                            venue_name="会場", ticket_types=[events.TicketTypeData("venue", "会場参加", 1000)])
    event = events.create_event(data, org, now)
    events.set_status(event, "published", org, now)
    return event


def seed(app, fake: FakeSlack, dms: int) -> tuple[list[int], float]:
    """Organizer, 8 regional channels and events, a finished event with ``dms`` linked attendees
    who checked in and a survey; then queue the fan-out. Returns the delivery ids and the time
    queuing took."""
    with app.app_context():
        now = now_utc()
        org = auth_service.create_organizer("bench@digital.go.jp", "ベンチ", "correct horse battery staple")
        channels = {region: fake.add_channel(f"region-{region}")["id"] for region in REGION_EVENTS}
        slack.set_region_channels(channels, org, now)
        upcoming = [_event(org, f"{region} の勉強会", pref, now + timedelta(days=30), now)
                    for region, pref in REGION_EVENTS.items()]
        start = (now - timedelta(days=1)).astimezone(JST).replace(hour=13, minute=0, second=0, microsecond=0)
        held = _event(org, "自治体職員の勉強会 in 那覇", "47", start, start - timedelta(days=7))
        surveys.create_survey(held, org, now)
        for i in range(dms):
            email = f"attendee{i:04d}@city.naha.lg.jp"
            fake.add_user(email=email, real_name=f"参加者 {i:04d}")
            reg, _token = registrations.register(held, registrations.RegistrationData(
                name=f"参加者 {i:04d}", name_kana="サンカシャ", email=email, organization_code="472018",
                consent_privacy=True, consent_slack_mention=True), start - timedelta(days=7))
            checkin.check_in(held, reg.ticket_code, device_id="bench", nonce=f"b{i}", scanned_at=start,
                             method="scanner", actor=checkin.Actor.organizer(org), now=start)
        db.session.commit()
        summary = slack.link_accounts(held, slack.gateway(app.config), org, now)
        db.session.commit()
        assert summary.linked == dms, summary
        worker.run_once(batch=1000)  # the confirmation e-mails: held (no SMTP), out of the way
        started = time.perf_counter()
        rows = slack.queue_followup(held, "survey_dm", org, now_utc())
        for event in upcoming:
            rows += slack.queue_followup(event, "announcement", org, now_utc())
        db.session.commit()
        return [r.id for r in rows], time.perf_counter() - started


def run(args) -> None:
    fake = FakeSlack()
    base_url = fake.start()
    database = args.database or "sqlite:///" + os.path.join(os.environ["EVENTSVC_INSTANCE_PATH"], "bench.db")
    drop = None
    if database.startswith("postgres"):
        from sqlalchemy import create_engine, text
        from sqlalchemy.engine import make_url

        from eventsvc.config import normalize_database_url

        server = normalize_database_url(database)
        name = f"eventsvc_bench_{os.getpid()}"
        admin = create_engine(server, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        database = make_url(server).set(database=name).render_as_string(hide_password=False)

        def drop() -> None:
            with admin.connect() as conn:
                conn.execute(text(f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}'"))
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
            admin.dispose()
    rate = args.workspace_per_minute * args.scale
    app = create_app({
        "SQLALCHEMY_DATABASE_URI": database, "SECRET_KEY": "bench", "RATELIMIT_ENABLED": False,
        "OUTBOX_WORKER": False, "BASE_URL": "https://events.example.lg.jp",
        "SLACK_BOT_TOKEN": fake.bot_token, "SLACK_API_URL": base_url, "SLACK_SIGNING_SECRET": "bench",
        "SLACK_CHANNEL_INTERVAL": 1.0 / args.scale,
        # what the operator tells the pacer: the workspace limit (unless --unpaced)
        "SLACK_POST_RATE_PER_MINUTE": None if args.unpaced else rate,
    })
    with app.app_context():
        upgrade()
    ids, queue_time = seed(app, fake, args.dms)
    fake.reset()
    limits = fake.enable_rate_limits(scale=args.scale, post_workspace_per_minute=args.workspace_per_minute,
                                     post_workspace_burst=args.workspace_burst)
    slack_sender.reset_pacers()

    started = time.perf_counter()
    with app.app_context():
        pending = set(ids)
        passes = 0
        while pending and passes < 100_000:
            worker.run_once(batch=args.batch, periodic=False)
            passes += 1
            rows = db.session.execute(select(Delivery.id, Delivery.state).where(Delivery.id.in_(list(pending))))
            pending -= {rid for rid, state in rows if state in ("sent", "failed")}
            db.session.remove()
    elapsed = time.perf_counter() - started

    with app.app_context():
        rows = list(db.session.scalars(select(Delivery).where(Delivery.id.in_(ids))))
        states = Counter(r.state for r in rows)
        targets = [(r.kind, r.target) for r in rows]
    by_outbox = Counter(((m.get("metadata") or {}).get("event_payload") or {}).get("outbox_id")
                        for m in fake.messages() if m.get("bot_id"))
    duplicates = sum(n - 1 for n in by_outbox.values() if n > 1)
    losses = sum(1 for r in rows if r.state != "sent" or by_outbox.get(str(r.id), 0) == 0)
    # the least time Slack's buckets allow for these posts (a DM lands in its own D… channel)
    calls = [("chat.postMessage", fake.dm_channel(target) or target if kind == "slack.survey_dm" else target)
             for kind, target in targets]
    bound = limits.lower_bound(calls)
    posts = fake.calls("chat.postMessage")
    refused = sum(1 for c in posts if c.status == 429)
    other = Counter(c.method for c in fake.calls() if c.method != "chat.postMessage")
    print(f"slack fan-out: {args.dms} survey DMs + {len(REGION_EVENTS)} channel posts "
          f"({'unpaced' if args.unpaced else f'paced at {rate:g}/min'}), database {database.split(':')[0]}")
    print(f"  limits         chat.postMessage {1 * args.scale:g}/s per channel (burst 3), workspace "
          f"{args.workspace_per_minute * args.scale:g}/min (burst {args.workspace_burst}); scale {args.scale:g}")
    print(f"  queued in      {queue_time:.2f} s ({len(ids)} deliveries, preview-identical content)")
    print(f"  total time     {elapsed:.2f} s  ({len(ids) / elapsed:.1f} posts/s, {passes} worker passes)")
    print(f"  lower bound    {bound:.2f} s")
    print(f"  ratio          {elapsed / bound:.3f}  (target <= 1.1)" if bound else "  ratio          n/a")
    print(f"  duplicates     {duplicates}   losses {losses}   (target 0/0)   states {dict(states)}")
    print(f"  Slack calls    chat.postMessage {len(posts)} ({refused} answered 429)"
          + "".join(f", {m} {n}" for m, n in sorted(other.items())))
    fake.stop()
    if drop is not None:
        with app.app_context():
            db.engine.dispose()
        drop()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--dms", type=int, default=500)
    p.add_argument("--workspace-per-minute", type=float, default=500.0)
    p.add_argument("--workspace-burst", type=int, default=10)
    p.add_argument("--scale", type=float, default=1.0)
    p.add_argument("--batch", type=int, default=20, help="rows a worker pass claims (the worker's default)")
    p.add_argument("--unpaced", action="store_true", help="no workspace pacing: rely on 429 + Retry-After")
    p.add_argument("--database", help="SQLAlchemy URL (default: a temporary SQLite file)")
    run(p.parse_args())


if __name__ == "__main__":
    main()
