"""The workspace directory the worker keeps: read a page at a time with Slack's rate limits,
only keyed hashes of addresses stored, and linking that needs no Slack call once it is there."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from flask import current_app
from sqlalchemy import func, select

from eventsvc.core.clock import now_utc
from eventsvc.extensions import db
from eventsvc.outbox import worker
from eventsvc.slack import directory
from eventsvc.slack import service as slack_service
from eventsvc.slack.models import DirectoryEntry, DirectoryState, SlackLink
from tests.fakeslack import Fault

pytest_plugins = ["tests.integration.test_slack_support"]


@pytest.fixture
def gw(slack):
    return slack_service.gateway(current_app.config)


def members(slack, n: int, prefix: str = "m") -> dict[str, str]:
    """``n`` members of the workspace: address → member id."""
    return {f"{prefix}{i}@city.naha.lg.jp": slack.add_user(email=f"{prefix}{i}@city.naha.lg.jp")["id"]
            for i in range(n)}


def read_all(gw, now, limit: int = 50) -> list[str]:
    """Refresh steps until the directory is complete (each step a page, 3 s apart)."""
    seen = []
    for _ in range(limit):
        seen.append(directory.refresh_step(gw, current_app.config, now))
        db.session.commit()
        if seen[-1] == "complete":
            return seen
        now += timedelta(seconds=directory.PAGE_INTERVAL)
    raise AssertionError(seen)


def test_the_directory_is_read_a_page_at_a_time_and_keeps_no_addresses(slack, gw):
    people = members(slack, 450)
    slack.add_user(email="robot@city.naha.lg.jp", is_bot=True)
    before = slack.count("users.list")
    steps = read_all(gw, now_utc())
    pages = slack.count("users.list") - before
    assert pages >= 3 and steps == ["page"] * (pages - 1) + ["complete"]  # 200 a page
    st = directory.ready()
    assert st is not None and st.members >= 450
    rows = db.session.scalars(select(DirectoryEntry)).all()
    assert all("@" not in r.email_hash and len(r.email_hash) == 64 for r in rows)
    assert directory.email_hash("robot@city.naha.lg.jp") not in {r.email_hash for r in rows}
    found = directory.lookup(["M7@City.Naha.LG.JP".lower(), "nobody@city.naha.lg.jp"])
    assert found["m7@city.naha.lg.jp"].user_id == people["m7@city.naha.lg.jp"]
    assert found["nobody@city.naha.lg.jp"] is None
    # and then nothing more until it is due again
    assert directory.refresh_step(gw, current_app.config, now_utc() + timedelta(hours=1)) == "idle"
    assert directory.refresh_step(gw, current_app.config, now_utc() + timedelta(hours=13)) == "page"


def test_a_rate_limit_pauses_the_reading_for_as_long_as_slack_asks(slack, gw):
    members(slack, 250)
    now = now_utc()
    slack.inject("users.list", Fault("ratelimit", retry_after=30), times=3)  # beyond the inline wait
    assert directory.refresh_step(gw, current_app.config, now) == "error"
    db.session.commit()
    st = directory.state()
    assert st.next_page_at >= now + timedelta(seconds=30) and st.last_error == "ratelimited"
    assert directory.refresh_step(gw, current_app.config, now + timedelta(seconds=10)) == "waiting"
    slack.clear_faults()
    assert read_all(gw, now + timedelta(seconds=31))[-1] == "complete"


def test_linking_needs_no_slack_call_once_the_directory_is_there(make, organizer, slack, gw):
    people = members(slack, 40)
    slack.add_user(email="left@city.naha.lg.jp", deleted=True)
    read_all(gw, now_utc())
    event = make.event(organizer)
    regs = [make.registration(event, email=e) for e in list(people)[:30]]
    gone = make.registration(event, email="left@city.naha.lg.jp")
    before = slack.count()
    summary = slack_service.link_accounts(event, gw, organizer, now_utc())
    db.session.commit()
    assert slack.count() == before  # 31 addresses, no call to Slack
    assert (summary.linked, summary.not_found) == (30, 1)
    assert all(db.session.get(SlackLink, r.id).slack_user_id == people[r.email] for r in regs)
    assert db.session.get(SlackLink, gone.id).status == "not_in_workspace"

    # someone who joined Slack after the directory was read: a few misses are looked up
    late = make.registration(event, email="late@city.naha.lg.jp")
    late_id = slack.add_user(email="late@city.naha.lg.jp")["id"]
    slack_service.link_accounts(event, gw, organizer, now_utc())
    db.session.commit()
    assert db.session.get(SlackLink, late.id).slack_user_id == late_id
    assert slack.count("users.lookupByEmail") == 1


def test_addresses_no_longer_in_the_workspace_are_dropped_when_the_next_pass_completes(slack, gw):
    people = members(slack, 5)
    read_all(gw, now_utc())
    leaving = "m3@city.naha.lg.jp"
    slack.update_user(people[leaving], email="m3-new@city.naha.lg.jp")  # the old address is gone
    read_all(gw, now_utc() + timedelta(hours=13))
    found = directory.lookup([leaving, "m1@city.naha.lg.jp"])
    assert found[leaving] is None and found["m1@city.naha.lg.jp"] is not None


def test_the_worker_reads_it_and_bulk_linking_asks_for_it(make, organizer, slack, gw, app):
    members(slack, 3)
    event = make.event(organizer)
    make.registration(event, email="m0@city.naha.lg.jp")
    assert directory.ready() is None
    slack_service.link_accounts(event, gw, organizer, now_utc())  # no directory yet: asks Slack
    db.session.commit()
    for _ in range(5):
        worker.run_once()
        if directory.ready() is not None:
            break
    assert directory.ready() is not None


def test_a_new_secret_key_starts_a_new_directory(slack, gw, app, monkeypatch):
    members(slack, 3)
    read_all(gw, now_utc())
    monkeypatch.setattr(app, "secret_key", "another-secret-key-for-this-test")
    assert directory.ready() is None and directory.lookup(["m1@city.naha.lg.jp"]) is None
    read_all(gw, now_utc())
    assert directory.lookup(["m1@city.naha.lg.jp"])["m1@city.naha.lg.jp"] is not None
    assert db.session.scalar(select(func.count()).select_from(DirectoryEntry)) == 3
    assert db.session.scalar(select(func.count()).select_from(DirectoryState)) == 1


def test_the_settings_page_says_how_far_the_directory_is(client, login, organizer, slack, gw):
    login(organizer)
    html = client.get("/manage/slack").get_data(as_text=True)
    assert re.search(r'<li id="directory">.*?まだありません', html, re.S)
    members(slack, 4)
    read_all(gw, now_utc())
    html = client.get("/manage/slack").get_data(as_text=True)
    item = re.search(r'<li id="directory">(.*?)</li>', html, re.S).group(1)
    assert re.search(r"\d+名（", item) and "メールアドレスや氏名は保存しません" in item


def test_without_the_email_scope_the_list_is_not_taken_for_an_empty_workspace(slack, gw):
    members(slack, 5)
    slack.withdraw("users:read.email")  # Slack then leaves the addresses out of users.list
    assert directory.refresh_step(gw, current_app.config, now_utc()) == "error"
    db.session.commit()
    assert directory.ready() is None and "users:read.email" in directory.state().last_error


def test_a_list_the_worker_stopped_refreshing_is_not_trusted(make, organizer, slack, gw):
    people = members(slack, 25)
    read_all(gw, now_utc())
    event = make.event(organizer)
    regs = [make.registration(event, email=e) for e in people]
    later = now_utc() + timedelta(days=2)  # no worker since: older than twice its period
    assert directory.lookup(list(people), later) is None
    before = slack.count("users.list")
    slack_service.link_accounts(event, gw, organizer, later)  # asks Slack itself
    db.session.commit()
    assert slack.count("users.list") == before + 1
    assert all(db.session.get(SlackLink, r.id).status == "linked" for r in regs)
