"""Fixtures and helpers shared by the Slack integration tests (no tests here).

``slack`` configures the app (for this test only) to talk to the fake Slack Web API through
the real ``slack_sdk.WebClient`` (``SLACK_API_URL``) and returns the fake. ``send_all``
runs the real outbox worker until nothing is due.
"""

from __future__ import annotations

import time
from datetime import datetime, timedelta

import pytest
from sqlalchemy import select

from eventsvc.core.clock import now_utc
from eventsvc.extensions import db
from eventsvc.outbox import worker
from eventsvc.outbox.models import Delivery
from eventsvc.slack import sender as slack_sender
from eventsvc.slack import service as slack_service
from eventsvc.slack.models import SlackLink

SIGNING_SECRET = "test-signing-secret-0123456789"


@pytest.fixture
def slack(app, fake_slack, monkeypatch):
    """The app pointed at the fake (bot token, signing secret, OIDC client); the fake."""
    fake, base_url = fake_slack
    settings = {
        "SLACK_BOT_TOKEN": fake.bot_token,
        "SLACK_API_URL": base_url,
        "SLACK_SIGNING_SECRET": SIGNING_SECRET,
        "SLACK_CLIENT_ID": fake.client_id,
        "SLACK_CLIENT_SECRET": fake.client_secret,
        "SLACK_TEAM_ID": None,
        "SLACK_RECONCILE_GRACE": 0,
        "SLACK_RECONCILE_AFTER": 60,
        "SLACK_CHANNEL_INTERVAL": 0,
        "SLACK_POST_RATE_PER_MINUTE": None,
        "SLACK_TIMEOUT": 5,
    }
    for key, value in settings.items():
        monkeypatch.setitem(app.config, key, value)
    slack_sender.reset_pacers()
    monkeypatch.setattr(slack_sender.SENDER, "sleep", lambda s: None)  # inline backoffs: no waiting
    yield fake
    slack_sender.reset_pacers()


@pytest.fixture
def no_slack(app, monkeypatch):
    """The app with Slack not configured at all."""
    for key in ("SLACK_BOT_TOKEN", "SLACK_API_URL", "SLACK_SIGNING_SECRET", "SLACK_CLIENT_ID",
                "SLACK_CLIENT_SECRET", "SLACK_TEAM_ID"):
        monkeypatch.setitem(app.config, key, None)
    return app


def _due(now: datetime) -> bool:
    return db.session.scalar(select(Delivery.id).where(Delivery.state == "queued", Delivery.next_attempt_at <= now)
                             .limit(1)) is not None


def send_all(now: datetime | None = None, rounds: int = 50) -> dict[str, int]:
    """Run the outbox worker until nothing is due (or ``rounds`` passes); totals per outcome
    (rows that only moved to ``held`` are not counted, as in the worker)."""
    total: dict[str, int] = {}
    for _ in range(rounds):
        at = now or now_utc()
        out = worker.run_once(now=at)
        for k, v in out.items():
            total[k] = total.get(k, 0) + v
        if not out and not _due(at):
            break
    return total


def deliveries(kind_prefix: str = "slack.") -> list[Delivery]:
    db.session.expire_all()
    return list(db.session.scalars(select(Delivery).where(Delivery.kind.startswith(kind_prefix))
                                   .order_by(Delivery.id)))


def link(reg, user_id: str, *, status: str = "linked") -> SlackLink:
    row = SlackLink(registration_id=reg.id, event_id=reg.event_id, status=status, slack_user_id=user_id,
                    method="manual", pinned=True, updated_by="test")
    db.session.add(row)
    db.session.commit()
    return row


def region_channel(region: str, channel_id: str) -> None:
    slack_service.set_region_channels({region: channel_id}, "test", now_utc(), replace=False)
    db.session.commit()


def posts(fake, channel: str | None = None) -> list[dict]:
    """Messages the bot posted (in ``channel``, or anywhere), oldest first."""
    return [m for m in fake.messages(channel) if m.get("bot_id")]


def posts_of(fake, delivery_id: int) -> list[dict]:
    """Messages carrying outbox metadata for ``delivery_id``."""
    return [m for m in fake.messages() if ((m.get("metadata") or {}).get("event_payload") or {})
            .get("outbox_id") == str(delivery_id)]


def wait_for(predicate, timeout: float = 10.0, interval: float = 0.05):
    """Poll until ``predicate()`` is truthy (background threads answer through response_url)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError("timed out waiting")


def later(seconds: float) -> datetime:
    return now_utc() + timedelta(seconds=seconds)
