"""The audit log: who did what, when — for organizers' pages and API calls, event staff at the
desk, and the command line; never any attendee's personal data; an admin-only page."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from eventsvc.audit import service as audit
from eventsvc.audit.models import AuditEntry
from eventsvc.checkin import service as checkin
from eventsvc.core.clock import now_utc
from eventsvc.extensions import db
from tests.integration.auth_support import enable_totp, login_with_totp, text_of
from tests.integration.privacy_support import find_in_database, past_event, person
from tests.integration.test_events_pages import FORM
from tests.integration.test_slack_support import region_channel

pytest_plugins = ["tests.integration.test_slack_support"]  # the slack fixture


def entries(action: str | None = None) -> list[AuditEntry]:
    db.session.expire_all()
    q = select(AuditEntry).order_by(AuditEntry.id)
    if action:
        q = q.where(AuditEntry.action == action)
    return list(db.session.scalars(q))


def one(action: str) -> AuditEntry:
    found = entries(action)
    assert len(found) == 1, (action, [e.action for e in entries()])
    return found[0]


def test_representative_organizer_actions_are_recorded_without_personal_data(
        make, organizer, token, api, client, login, slack, runner):
    login(organizer)
    # event create and publish (page, API)
    r = client.post("/manage/events/new", data=FORM)
    assert r.status_code == 302
    created_slug = r.headers["Location"].rstrip("/").rsplit("/", 1)[-1]
    created = one("events.manage_new")
    assert created.event_slug == created_slug and created.target == f"event:{created_slug}"
    assert created.actor_kind == "organizer" and created.organizer_id == organizer.id
    assert created.actor_label == organizer.name and created.details["method"] == "POST"
    assert created.ip == "127.0.0.0/24"  # the network, not the address
    assert api("POST", f"/events/{created_slug}/publish", token).status_code == 200
    published = one("api.events_publish_event")
    assert published.event_slug == created_slug and published.organizer_id == organizer.id

    # registration approve (page): a person from outside the allow-list, with canaries
    event, at = past_event(make, organizer, days_ago=1)
    region_channel("kyushu_okinawa", slack.add_channel("kyushu-okinawa")["id"])
    review = person(make, event, at, "カナリア", status="pending_review", domain="example.com")
    r = client.post(f"/manage/registrations/{review.reg.id}/approve", data={"message": ""})
    assert r.status_code == 302
    approved = one("registration.manage_action:approve")
    assert approved.target == f"registration:{review.reg.id}" and approved.event_slug == event.slug

    # check-in (API), team publish (API), survey save (API), Slack follow-up (page)
    r = api("POST", f"/events/{event.slug}/checkins", token, json={"code": review.reg.ticket_code})
    assert r.get_json()["result"] == "checked_in"
    assert entries("api.checkin_post_checkin") == []  # scans are in the check-in log, not the audit log
    assert api("DELETE", f"/events/{event.slug}/checkins/{review.reg.id}", token).status_code == 200
    assert one("api.checkin_delete_checkin").event_slug == event.slug  # an undo is an organizer's correction
    api("POST", f"/events/{event.slug}/checkins", token, json={"code": review.reg.ticket_code})
    assert api("POST", f"/events/{event.slug}/team-assignments", token,
               json={"scope": "checked_in", "team_count": 1}).status_code == 201
    assert api("POST", f"/events/{event.slug}/teams/publish", token, json={}).status_code == 200
    assert one("api.teams_post_publish").event_slug == event.slug
    r = api("PUT", f"/events/{event.slug}/survey", token, json={
        "title": "アンケート", "questions": [{"kind": "rating", "text": "満足度"}]})
    assert r.status_code == 200
    assert one("api.surveys_put_survey").event_slug == event.slug
    preview = client.get(f"/manage/events/{event.slug}/slack/followups/report").get_data(as_text=True)
    digest = re.search(r'name="digest"[^>]*value="([^"]*)"', preview) or re.search(
        r'value="([^"]*)"[^>]*name="digest"', preview)
    r = client.post(f"/manage/events/{event.slug}/slack/followups/report",
                    data={"channel": "", "digest": digest.group(1)})
    assert r.status_code == 302, text_of(r)[:300]
    followup = one("slack.manage_queue:report")
    assert followup.event_slug == event.slug and followup.target == f"event:{event.slug}"

    # purge (command line)
    result = runner.invoke(args=["purge", "--now", (event.ends_at + timedelta(days=181)).isoformat()])
    assert result.exit_code == 0, result.output
    purge = one("privacy.purge")
    assert purge.actor_kind == "system" and purge.event_slug == event.slug and purge.details["counts"]

    # nothing anybody typed about themselves is in the log (the scan covers every table;
    # the registrations and outbox rows no longer hold them either, after the purge)
    assert find_in_database(review.canaries) == []


def test_no_entry_for_reads_refusals_and_failures(make, organizer, token, api, client, login):
    event = make.event(organizer)
    login(organizer)
    client.get(f"/manage/events/{event.slug}")
    api("GET", f"/events/{event.slug}", token)
    assert api("POST", f"/events/{event.slug}/publish", "wrong-token").status_code == 401
    other = make.event(make.organizer())
    assert api("POST", f"/events/{other.slug}/publish", token).status_code == 404
    assert client.post("/manage/events/new", data={**FORM, "title": ""}).status_code == 422
    # a refused action that redirects with an error message (cancelling twice is fine; promoting a
    # confirmed person is refused)
    reg = make.registration(event)
    r = client.post(f"/manage/registrations/{reg.id}/promote", data={"message": ""})
    assert r.status_code == 302
    assert [e.action for e in entries()] == ["auth.login"]  # the login itself is recorded; nothing else


def test_staff_at_the_desk_are_recorded_by_their_link_label(client, make, organizer):
    """Scans go to the check-in log (one row each, by the link's label); what staff change
    otherwise (an undo) goes to the audit log under the same label."""
    from eventsvc.checkin.models import CheckinLog

    event = make.event(organizer)
    reg, other = make.registration(event), make.registration(event)
    _link, staff_token = checkin.create_staff_link(event, "受付2", expires_at=now_utc() + timedelta(hours=6),
                                                   created_by=organizer, now=now_utc())
    db.session.commit()
    client.get(f"/staff/{staff_token}")
    r = client.post(f"/events/{event.slug}/checkin/", data={"code": reg.ticket_code})
    assert r.status_code == 200
    headers = {"Authorization": f"Bearer {staff_token}"}
    r = client.post(f"/api/v1/events/{event.slug}/checkins", json={"code": other.ticket_code}, headers=headers)
    assert r.status_code == 200
    assert entries("checkin.desk_scan") == [] and entries("api.checkin_post_checkin") == []
    logged = db.session.scalars(select(CheckinLog).order_by(CheckinLog.id)).all()
    assert [(row.registration_id, row.actor_label) for row in logged] == [(reg.id, "受付2"), (other.id, "受付2")]
    r = client.delete(f"/api/v1/events/{event.slug}/checkins/{other.id}", headers=headers)
    assert r.status_code == 200
    entry = one("api.checkin_delete_checkin")
    assert entry.actor_kind == "staff" and entry.actor_label == "受付2" and entry.organizer_id is None
    assert entry.event_slug == event.slug


def test_command_line_actions_are_recorded(runner, make, organizer):
    from eventsvc.events import service as events

    r = runner.invoke(args=["organizer", "create", "--email", "new@city.naha.lg.jp", "--name", "新任 太郎",
                            "--password", "a long enough password"])
    assert r.exit_code == 0, r.output
    created = one("cli.organizer_create")
    assert created.actor_kind == "system" and created.actor_label == "cli"
    assert created.target.startswith("organizer:") and created.details == {"admin": False}
    r = runner.invoke(args=["token", "create", "--email", "new@city.naha.lg.jp"])
    assert r.exit_code == 0
    token_entry = one("cli.token_create")
    assert token_entry.target == created.target
    assert r.output.strip().splitlines()[-1] not in str(token_entry.details)  # the token itself is not kept
    lottery = make.event(organizer, selection="lottery", ticket_types=[events.TicketTypeData("venue", "会場", 1)])
    make.registration(lottery)
    r = runner.invoke(args=["lottery", "run", lottery.slug, "--seed", "s"])
    assert r.exit_code == 0, r.output
    drawn = one("cli.lottery_run")
    assert drawn.event_slug == lottery.slug and drawn.details["draws"][0]["won"] == 1


def test_a_failing_audit_write_does_not_undo_the_action(make, organizer, token, api, monkeypatch):
    event = make.event(organizer, status="draft")

    def broken(*_a, **_k):
        raise RuntimeError("disk full")

    monkeypatch.setattr(audit, "record", broken)
    r = api("POST", f"/events/{event.slug}/publish", token)
    assert r.status_code == 200
    db.session.expire_all()
    assert event.status == "published"
    assert entries() == []


def test_ip_addresses_are_truncated():
    assert audit.truncate_ip("192.0.2.77") == "192.0.2.0/24"
    assert audit.truncate_ip("2001:db8:1234:5678::1") == "2001:db8:1234::/48"
    assert audit.truncate_ip("not an address") == ""


# ------------------------------------------------------------------ the page
@pytest.fixture
def admin(make):
    a = make.organizer(name="管理 花子", admin=True)
    secret, _codes = enable_totp(a)
    return a, secret


def test_the_audit_page_is_for_admins(client, app, make, organizer, login, admin):
    r = client.get("/admin/audit")
    assert r.status_code == 302 and "/login" in r.headers["Location"]
    login(organizer)
    assert client.get("/admin/audit").status_code == 403
    assert "/admin/audit" not in client.get("/manage").get_data(as_text=True)  # no link for organizers
    admin_client = app.test_client()
    login_with_totp(admin_client, *admin)
    page = admin_client.get("/admin/audit")
    assert page.status_code == 200 and page.headers["Cache-Control"] == "no-store"
    assert 'href="/admin/audit"' in admin_client.get("/manage").get_data(as_text=True)  # in the header


def test_the_audit_page_filters_and_pages(client, app, make, organizer, token, api, admin):
    other = make.organizer(name="別の 主催者")
    mine, theirs = make.event(organizer, status="draft"), make.event(other, status="draft")
    api("POST", f"/events/{mine.slug}/publish", token)
    api("POST", f"/events/{theirs.slug}/publish", make.token(other))
    for i in range(55):
        audit.record("test.bulk", actor=audit.CLI, target=f"event:{mine.slug}", event_slug=mine.slug,
                     details={"n": i}, now=now_utc() - timedelta(days=1, seconds=i))
    db.session.commit()
    login_with_totp(client, *admin)
    total = db.session.scalar(select(func.count()).select_from(AuditEntry))
    assert total == 58  # two publishes, the bulk, the admin's login

    everything = text_of(client.get("/admin/audit"))
    assert "58件" in everything and "1 / 2ページ" in everything
    assert 'href="/admin/audit?page=2" rel="next"' in client.get("/admin/audit").get_data(as_text=True)
    assert "api.events_publish_event" in everything and "主催 太郎" in everything
    second = text_of(client.get("/admin/audit?page=2"))
    assert "n=54" in second and "n=0" not in second  # newest first: the oldest bulk entries come last

    by_org = text_of(client.get(f"/admin/audit?who={other.id}"))
    assert "1件" in by_org and "別の 主催者" in by_org and theirs.slug in by_org
    by_event = text_of(client.get(f"/admin/audit?event={theirs.slug}"))
    assert "1件" in by_event
    by_action = text_of(client.get("/admin/audit?action=api.events_publish_event"))
    assert "2件" in by_action
    system = text_of(client.get("/admin/audit?who=system"))
    assert "55件" in system
    assert client.get("/admin/audit?page=abc&who=<script>").status_code == 200  # bad filters are ignored
    assert db.session.scalar(select(func.count()).select_from(AuditEntry)) == total  # reading adds nothing


def test_logout_is_recorded_for_the_organizer_it_ended(client, login, organizer):
    login(organizer)
    assert client.post("/logout").status_code == 302
    (entry,) = entries("auth.logout")
    assert entry.organizer_id == organizer.id and entry.actor_label == organizer.name
