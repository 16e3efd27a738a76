"""Every Slack post lands exactly once: through 429s, 5xx, timeouts, dropped connections and
store-then-drop — the real outbox worker and the real WebClient against the fake."""

from __future__ import annotations

import threading
import time
from datetime import timedelta

import pytest
from flask import current_app

from eventsvc.core.clock import now_utc
from eventsvc.extensions import db
from eventsvc.outbox.models import Delivery
from eventsvc.slack import sender as slack_sender
from eventsvc.slack import service as slack_service
from eventsvc.slack.gateway import outbox_metadata
from tests.fakeslack import Fault
from tests.integration.test_slack_support import (
    later,
    posts,
    posts_of,
    region_channel,
    send_all,
)

pytest_plugins = ["tests.integration.test_slack_support"]


@pytest.fixture
def channel(slack):
    cid = slack.add_channel("kyushu-okinawa")["id"]
    region_channel("kyushu_okinawa", cid)
    return cid


def _announce(make, organizer, **kw) -> Delivery:
    event = make.event(organizer, **kw)
    (row,) = slack_service.queue_followup(event, "announcement", organizer, now_utc())
    db.session.commit()
    return row


def _row(row_id: int) -> Delivery:
    db.session.expire_all()
    return db.session.get(Delivery, row_id)


def _exactly_once(fake, row_id: int, channel: str) -> dict:
    row = _row(row_id)
    assert row.state == "sent", (row.state, row.last_error)
    found = posts_of(fake, row_id)
    assert len(found) == 1, f"{len(found)} posts of delivery {row_id}"
    assert row.external_id == f"{channel}:{found[0]['ts']}"
    return found[0]


# ------------------------------------------------------------------ 429
def test_429_is_retried_after_retry_after_and_posts_once(make, organizer, slack, channel):
    row = _announce(make, organizer)
    slack.inject("chat.postMessage", Fault("ratelimit", retry_after=1))
    started = time.monotonic()
    assert send_all() == {"sent": 1}
    assert time.monotonic() - started >= 0.9  # waited for Retry-After
    _exactly_once(slack, row.id, channel)
    assert slack.count("chat.postMessage") == 2


def test_a_long_retry_after_is_honoured_across_worker_passes(make, organizer, slack, channel, monkeypatch):
    monkeypatch.setattr(slack_sender, "MAX_INLINE_WAIT", 0.5)
    row = _announce(make, organizer)
    slack.inject("chat.postMessage", Fault("ratelimit", retry_after=2))
    assert send_all() == {"queued": 1}
    assert _row(row.id).state == "queued" and "送信制限" in _row(row.id).last_error
    # the worker comes back early: we still do not call Slack before Retry-After is over
    assert send_all(now=later(3600), rounds=1) == {"queued": 1}
    assert slack.count("chat.postMessage") == 1
    time.sleep(2.1)
    assert send_all(now=later(7200)) == {"sent": 1}
    _exactly_once(slack, row.id, channel)
    assert slack.count("chat.postMessage") == 2


# ------------------------------------------------------------------ 5xx
def test_500_without_effect_is_retried_after_checking(make, organizer, slack, channel):
    row = _announce(make, organizer)
    slack.inject("chat.postMessage", Fault("http_status", status=500), times=2)
    assert send_all() == {"sent": 1}
    _exactly_once(slack, row.id, channel)
    assert slack.count("chat.postMessage") == 3
    assert slack.count("conversations.history") == 2  # looked before each re-post


def test_500_after_storing_is_found_and_not_posted_again(make, organizer, slack, channel):
    row = _announce(make, organizer)
    slack.inject("chat.postMessage", Fault("apply_then_status", status=500))
    assert send_all() == {"sent": 1}
    _exactly_once(slack, row.id, channel)
    assert slack.count("chat.postMessage") == 1


def test_503_for_a_while_backs_off_then_sends_once(make, organizer, slack, channel):
    row = _announce(make, organizer)
    slack.inject("chat.postMessage", Fault("http_status", status=503), times=slack_sender.INLINE_TRIES)
    assert send_all() == {"queued": 1}
    queued = _row(row.id)
    assert queued.state == "queued" and queued.next_attempt_at > now_utc() + timedelta(seconds=10)  # backoff
    assert send_all(now=queued.next_attempt_at + timedelta(seconds=1)) == {"sent": 1}
    _exactly_once(slack, row.id, channel)


# ------------------------------------------------------------------ no answer
@pytest.mark.parametrize("fault", [Fault("drop"), Fault("http_status", status=502), Fault("error", error="fatal_error")],
                         ids=["drop", "502", "fatal_error"])
def test_no_answer_and_nothing_stored_is_checked_then_posted_once(make, organizer, slack, channel, fault):
    row = _announce(make, organizer)
    slack.inject("chat.postMessage", fault)
    assert send_all() == {"uncertain": 1}
    assert posts_of(slack, row.id) == []
    # not re-posted blindly: the next passes leave it alone until the reconcile delay is over
    assert send_all(now=later(30)) == {}
    assert slack.count("chat.postMessage") == 1
    send_all(now=later(61))  # reconcile: not in the channel → queued → looked again → posted
    _exactly_once(slack, row.id, channel)
    assert slack.count("chat.postMessage") == 2


def test_store_then_drop_is_found_and_never_duplicated(make, organizer, slack, channel):
    row = _announce(make, organizer)
    slack.inject("chat.postMessage", Fault("apply_then_drop"))
    assert send_all() == {"sent": 1}
    _exactly_once(slack, row.id, channel)
    assert slack.count("chat.postMessage") == 1
    send_all(now=later(3600))
    assert len(posts_of(slack, row.id)) == 1


def test_timeout_while_slack_is_still_storing_settles_as_sent(make, organizer, slack, channel, monkeypatch):
    monkeypatch.setitem(current_app.config, "SLACK_TIMEOUT", 1)
    row = _announce(make, organizer)
    slack.inject("chat.postMessage", Fault("slow", sleep=2.0))
    assert send_all() == {"uncertain": 1}
    time.sleep(1.5)  # the fake stores the message after our client gave up
    assert len(posts_of(slack, row.id)) == 1
    send_all(now=later(61))
    msg = _exactly_once(slack, row.id, channel)
    assert _row(row.id).external_id.endswith(msg["ts"])
    assert slack.count("chat.postMessage") == 1


def test_a_person_retrying_an_uncertain_post_does_not_duplicate_it(make, organizer, slack, channel, login, client):
    row = _announce(make, organizer)
    slack.inject("chat.postMessage", Fault("apply_then_drop"))
    slack.inject("conversations.history", Fault("http_status", status=403))  # cannot look right now
    assert send_all() == {"uncertain": 1}
    assert "確認できません" in _row(row.id).last_error
    login(organizer)
    slug = _row(row.id).payload["event"]
    r = client.post(f"/manage/events/{slug}/slack/deliveries/{row.id}/retry")
    assert r.status_code == 302
    assert send_all() == {"sent": 1}
    _exactly_once(slack, row.id, channel)
    assert slack.count("chat.postMessage") == 1


def test_when_slack_cannot_be_asked_the_reconcile_backs_off(make, organizer, slack, channel):
    row = _announce(make, organizer)
    slack.inject("chat.postMessage", Fault("apply_then_drop"))
    slack.inject("conversations.history", Fault("http_status", status=403), times=2)
    assert send_all() == {"uncertain": 1}  # the immediate look failed
    send_all(now=later(61))  # reconcile: the look fails again → wait before the next one
    assert slack.count("conversations.history") == 2 and _row(row.id).state == "uncertain"
    assert "もう一度確認します" in _row(row.id).last_error
    send_all(now=later(70))
    assert slack.count("conversations.history") == 2  # not hammered every pass
    send_all(now=later(130))
    _exactly_once(slack, row.id, channel)
    assert slack.count("chat.postMessage") == 1


def test_a_worker_that_died_after_posting_is_reconciled_not_reposted(make, organizer, slack, channel):
    row = _announce(make, organizer)
    # a worker claimed it, posted, and died before recording the outcome
    stored = _row(row.id)
    stored.state, stored.claimed_by = "sending", "dead-worker"
    stored.claimed_until, stored.send_started_at, stored.attempts = now_utc() - timedelta(minutes=1), now_utc(), 1
    db.session.commit()
    gw = slack_service.gateway(current_app.config)
    gw.post_message(channel, stored.payload["text"], stored.payload["blocks"], metadata=outbox_metadata(row.id))
    send_all()  # lease over → uncertain (the worker never re-sends a started row)
    assert _row(row.id).state == "uncertain"
    send_all(now=later(61))
    _exactly_once(slack, row.id, channel)
    assert slack.count("chat.postMessage") == 1


def test_the_database_stays_writable_while_the_reconcile_looks_in_slack(app, make, organizer, slack, channel):
    row = _announce(make, organizer)
    stored = _row(row.id)
    stored.state, stored.send_started_at, stored.attempts = "uncertain", now_utc(), 1
    db.session.commit()
    slack.inject("conversations.history", Fault("slow", sleep=1.5), times=None)
    results = []

    def look():
        with app.app_context():
            results.append(slack_sender.reconcile(later(61)))
            db.session.commit()

    thread = threading.Thread(target=look)
    thread.start()
    try:
        time.sleep(0.5)  # the look is under way
        started = time.monotonic()
        make.event(organizer)  # someone else writes meanwhile
        db.session.commit()
        assert time.monotonic() - started < 1.0
    finally:
        thread.join(20)
        slack.clear_faults()
    assert results == [{"sent": 0, "queued": 1}] and _row(row.id).state == "queued"


# ------------------------------------------------------------------ refusals
def test_not_in_channel_joins_then_posts(make, organizer, slack):
    cid = slack.add_channel("kyushu-okinawa", bot_member=False)["id"]
    region_channel("kyushu_okinawa", cid)
    row = _announce(make, organizer)
    assert send_all() == {"sent": 1}
    _exactly_once(slack, row.id, cid)
    assert slack.count("conversations.join") == 1


def test_a_missing_channel_fails_and_the_retry_button_sends_it(make, organizer, slack, login, client):
    event = make.event(organizer)
    slack_service.set_event_channel(event, "C0GONE0001", organizer, now_utc())
    (row,) = slack_service.queue_followup(event, "announcement", organizer, now_utc())
    db.session.commit()
    assert send_all() == {"failed": 1}
    assert "チャンネルが見つかりません" in _row(row.id).last_error
    login(organizer)
    page = client.get(f"/manage/events/{event.slug}/slack")
    assert page.status_code == 200 and f"/slack/deliveries/{row.id}/retry" in page.get_data(as_text=True)
    slack.add_channel("recreated", id="C0GONE0001")
    assert client.post(f"/manage/events/{event.slug}/slack/deliveries/{row.id}/retry").status_code == 302
    assert send_all() == {"sent": 1}
    _exactly_once(slack, row.id, "C0GONE0001")


def test_a_revoked_token_fails_with_a_configuration_message(make, organizer, slack, channel):
    row = _announce(make, organizer)
    slack.revoke(slack.bot_token)
    assert send_all() == {"failed": 1}
    assert "Slackの設定を確認" in _row(row.id).last_error and "token_revoked" in _row(row.id).last_error


# ------------------------------------------------------------------ pacing under Slack's limits
def _six_announcements(make, organizer):
    return [_announce(make, organizer, title=f"勉強会 {i}") for i in range(6)]


def test_posts_to_one_channel_are_paced_under_the_limit(make, organizer, slack, channel, monkeypatch):
    slack.enable_rate_limits(scale=5)  # 5 posts/s per channel, bursts of 3
    monkeypatch.setitem(current_app.config, "SLACK_CHANNEL_INTERVAL", 0.2)
    rows = _six_announcements(make, organizer)
    started = time.monotonic()
    assert send_all() == {"sent": 6}
    assert time.monotonic() - started >= 0.9  # 5 gaps of 0.2 s
    assert [c for c in slack.calls("chat.postMessage") if c.status == 429] == []
    for row in rows:
        _exactly_once(slack, row.id, channel)


def test_unpaced_bursts_hit_429_and_still_post_each_once(make, organizer, slack, channel):
    slack.enable_rate_limits(scale=5)
    rows = _six_announcements(make, organizer)  # SLACK_CHANNEL_INTERVAL = 0: no pacing
    assert send_all() == {"sent": 6}
    assert [c for c in slack.calls("chat.postMessage") if c.status == 429]  # the limiter refused some
    for row in rows:
        _exactly_once(slack, row.id, channel)
    assert len(posts(slack, channel)) == 6


def test_the_slack_sender_is_registered_for_every_slack_kind(app):
    from eventsvc.outbox.senders import sender_for

    for kind in (*slack_service.POST_KINDS, slack_service.UPDATE_KIND, slack_service.INVITE_KIND):
        assert sender_for(kind) is slack_sender.SENDER
