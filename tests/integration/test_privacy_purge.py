"""Retention: ``eventsvc purge`` and the outbox worker erase an event's personal data N days after
it ends — exactly that, keeping anonymous statistics, survey results and the event."""

from __future__ import annotations

from datetime import timedelta

import pytest
from flask import current_app
from sqlalchemy import func, select

from eventsvc.audit.models import AuditEntry
from eventsvc.checkin.models import Checkin
from eventsvc.config import from_environment
from eventsvc.core.clock import to_jst
from eventsvc.events.models import Event
from eventsvc.extensions import db
from eventsvc.outbox import worker
from eventsvc.outbox.models import Delivery
from eventsvc.registration import privacy
from eventsvc.registration import service as registrations
from eventsvc.registration.models import Registration, RegistrationSettings
from eventsvc.surveys import service as surveys
from eventsvc.surveys.models import SurveyAnswer, SurveyResponse
from eventsvc.teams.models import Team, TeamAssignment, TeamMember
from tests.integration.privacy_support import (
    check_in,
    find_in_database,
    past_event,
    person,
    registration_stats,
    scan_unknown,
)
from tests.integration.test_slack_support import region_channel, send_all

pytest_plugins = ["tests.integration.test_slack_support"]  # the slack fixture


def _iso(dt) -> str:
    return to_jst(dt).replace(tzinfo=None).isoformat(timespec="minutes")  # Japan time, no offset


@pytest.fixture
def world(app, make, organizer, token, api, slack, monkeypatch):
    """An event that ended 200 days ago, with everything that holds personal data filled in:
    registrations (with free-text answers), check-ins from a named device and an unknown scan,
    Slack links and a report that names people, e-mails, a named survey, published teams."""
    event, at = past_event(make, organizer, days_ago=200)
    channel = slack.add_channel("kyushu-okinawa")["id"]
    region_channel("kyushu_okinawa", channel)
    a = person(make, event, at, "カナリア", slack_user="UKANARIA01")
    b = person(make, event, at, "ツグミ")
    c = person(make, event, at, "メジロ", status="cancelled")
    day = event.starts_at + timedelta(minutes=10)
    check_in(event, a.reg, organizer, device="desk-kanaria-phone", at=day)
    check_in(event, b.reg, organizer, device="desk-kanaria-phone", at=day)
    scan_unknown(event, organizer, device="desk-kanaria-phone", at=day, text="ヒバリの名刺")

    # a named survey: A answers (the answers are results and stay)
    r = api("PUT", f"/events/{event.slug}/survey", token, json={
        "title": "アンケート", "anonymous": False,
        "questions": [{"kind": "rating", "text": "満足度", "required": True},
                      {"kind": "text", "text": "感想"}]})
    assert r.status_code == 200, r.get_json()
    q_rating, q_text = (q["id"] for q in r.get_json()["questions"])
    r = api("POST", f"/events/{event.slug}/survey/responses", a.token,
            json={"answers": [{"question_id": q_rating, "value": 5}, {"question_id": q_text, "value": "学びが多かった"}]})
    assert r.status_code in (200, 201), r.get_json()

    r = api("POST", f"/events/{event.slug}/team-assignments", token, json={"scope": "checked_in", "team_count": 1,
                                                                           "seed": 1})
    assert r.status_code == 201, r.get_json()
    assert api("POST", f"/events/{event.slug}/teams/publish", token, json={}).status_code == 200

    r = api("POST", f"/events/{event.slug}/followups", token, json={"kind": "report"})
    assert r.status_code == 200, r.get_json()
    monkeypatch.setitem(app.config, "RETENTION_DAYS", 0)  # the worker would purge it at once (see below)
    send_all()  # the report is sent; the e-mails are held (no SMTP)
    monkeypatch.setitem(app.config, "RETENTION_DAYS", 180)
    db.session.expire_all()
    secret = current_app.config["SECRET_KEY"]
    links = {p.reg.id: (registrations.link_token(p.reg), surveys.link_token(p.reg, secret)) for p in (a, b, c)}
    return {"event": event, "people": [a, b, c], "channel": channel, "links": links}


def _canaries(world) -> list[str]:
    return [c for p in world["people"] for c in p.canaries] + ["desk-kanaria-phone"]


def _survey_results(event) -> tuple[dict, list[str]]:
    """What the results page shows (counts, distributions, averages, texts), and the authors
    named next to free-text answers (named surveys only)."""
    res = surveys.results(surveys.require_survey(event))
    shown = {"responses": res.responses,
             "questions": [(q.count, q.distribution, q.average, q.nps, [t.text for t in q.texts], q.others)
                           for q in res.questions]}
    return shown, [t.author for q in res.questions for t in q.texts]


def test_purge_erases_every_trace_and_keeps_statistics_results_and_the_event(world, runner, api, client):
    event, a = world["event"], world["people"][0]
    before_hits = find_in_database(_canaries(world))
    found_in = {t for t, _c, _n in before_hits}
    # the scan does find them where they live (so a clean scan below means something)
    assert {"registrations", "deliveries", "slack_links", "checkins", "checkin_log"} <= found_in, found_in
    stats, (results, authors) = registration_stats(event), _survey_results(event)
    assert authors == ["比嘉カナリア（沖縄県那覇市）"]
    runs = db.session.scalars(select(TeamAssignment).where(TeamAssignment.event_id == event.id)).all()
    teams_before = db.session.scalar(select(func.count()).select_from(Team))
    members_before = db.session.scalar(select(func.count()).select_from(TeamMember))
    assert members_before == 2 and runs

    result = runner.invoke(args=["purge", "--now", _iso(event.ends_at + timedelta(days=181))])
    assert result.exit_code == 0, result.output
    assert event.slug in result.output and "registrations_erased=3" in result.output
    db.session.expire_all()

    assert find_in_database(_canaries(world)) == []
    # who admitted them is gone from the check-ins, the ids behind the labels too; when and how stay
    admissions = db.session.scalars(select(Checkin).where(Checkin.event_id == event.id)).all()
    assert len(admissions) == 2
    for row in admissions:
        assert (row.organizer_id, row.staff_link_id, row.actor_label, row.device_id) == (None, None, "", ""), row
        assert row.result == "checked_in" and row.method == "scanner" and row.scanned_at is not None
    # statistics stay: counts by status, participation type and organisation; check-ins; teams; results
    assert registration_stats(event) == stats
    assert _survey_results(event) == (results, [""])  # the same results, no longer named
    assert db.session.scalar(select(func.count()).select_from(Team)) == teams_before
    assert db.session.scalar(select(func.count()).select_from(TeamMember)) == 0
    run = db.session.get(TeamAssignment, runs[0].id)
    assert run.stats["member_counts"] == [2]
    assert db.session.get(Event, event.id).title == event.title
    # the named response is anonymous now; its answers are still there
    response = db.session.scalar(select(SurveyResponse))
    assert response.registration_id is None and response.submitted_at is None
    assert db.session.scalar(select(func.count()).select_from(SurveyAnswer)) == 2
    # each registration: placeholder name, no reading, no free text, choice answers kept
    for reg in db.session.scalars(select(Registration).where(Registration.event_id == event.id)):
        assert reg.erased_at is not None and reg.name == privacy.ERASED_NAME and reg.name_kana == ""
        assert reg.answers == {"kanshin": "窓口"}
        assert reg.email.endswith("@erased.invalid") and not reg.ticket_code.startswith("T1-")
    # every outbox row of the event is emptied; the unsent ones will never go
    for d in db.session.scalars(select(Delivery)):
        assert d.payload == privacy.ERASED_PAYLOAD and d.state in ("sent", "failed"), d.kind
        # rows to a person lose the address; a channel post keeps only where it went
        assert d.target == ("" if d.kind.startswith("mail.") else world["channel"]), d.kind
    # one audit entry, counts only
    (entry,) = db.session.scalars(select(AuditEntry).where(AuditEntry.action == "privacy.purge"))
    assert entry.actor_kind == "system" and entry.actor_label == "cli" and entry.target == f"event:{event.slug}"
    assert entry.details["counts"]["registrations_erased"] == 3
    assert entry.details["counts"]["slack_links_removed"] == 1
    assert db.session.get(RegistrationSettings, event.id).purged_at is not None

    # nothing reaches a purged registration any more: link, attendee token, ticket code, survey link
    link, survey_link = world["links"][a.reg.id]
    assert client.get(f"/my/{link}").status_code == 404
    assert api("GET", f"/events/{event.slug}/survey", a.token).status_code == 401
    organizer_token = world_token(event)
    scan = api("POST", f"/events/{event.slug}/checkins", organizer_token, json={"code": a.canaries[5]})
    assert scan.get_json()["result"] == "unknown_code"
    assert client.get(f"/events/{event.slug}/survey/r/{survey_link}").status_code == 404


def world_token(event) -> str:
    from tests import factories

    return factories.token(event.organizers[0])


def test_purge_is_idempotent(world, runner):
    event = world["event"]
    at = event.ends_at + timedelta(days=181)
    assert runner.invoke(args=["purge", "--now", _iso(at)]).exit_code == 0
    db.session.expire_all()
    codes = sorted(db.session.scalars(select(Registration.ticket_code)))
    entries = db.session.scalar(select(func.count()).select_from(AuditEntry))

    again = runner.invoke(args=["purge", "--now", _iso(at + timedelta(days=1))])
    assert again.exit_code == 0 and "nothing is due" in again.output
    assert privacy.purge_event(db.session.get(Event, event.id), at) == {}  # forced: nothing left to do
    db.session.commit()
    db.session.expire_all()
    assert sorted(db.session.scalars(select(Registration.ticket_code))) == codes  # not re-randomised
    assert db.session.scalar(select(func.count()).select_from(AuditEntry)) == entries


def test_dry_run_changes_nothing(world, runner):
    event = world["event"]
    before = find_in_database(_canaries(world))
    entries = db.session.scalar(select(func.count()).select_from(AuditEntry))
    result = runner.invoke(args=["purge", "--dry-run", "--now", _iso(event.ends_at + timedelta(days=181))])
    assert result.exit_code == 0, result.output
    assert event.slug in result.output and "registrations_erased=3" in result.output
    assert "nothing was changed" in result.output
    db.session.expire_all()
    assert find_in_database(_canaries(world)) == before
    assert db.session.scalar(select(func.count()).select_from(AuditEntry)) == entries
    settings = db.session.get(RegistrationSettings, event.id)
    assert settings is None or settings.purged_at is None


def test_not_due_yet_is_left_alone_and_the_per_event_period_wins(make, organizer, runner):
    recent, at = past_event(make, organizer, days_ago=100)
    kept = person(make, recent, at, "ヒバリ")
    short, at2 = past_event(make, organizer, days_ago=40)
    gone = person(make, short, at2, "ウグイス")
    privacy.set_retention_days(short, 30, at2)
    db.session.commit()

    result = runner.invoke(args=["purge"])  # now: the default 180 days keep `recent`; `short` keeps 30
    assert result.exit_code == 0, result.output
    assert short.slug in result.output and recent.slug not in result.output
    db.session.expire_all()
    assert find_in_database(gone.canaries) == []
    assert {n for _t, _c, n in find_in_database(kept.canaries)} == set(kept.canaries)


def test_bad_now_is_refused(runner):
    result = runner.invoke(args=["purge", "--now", "yesterday"])
    assert result.exit_code == 2 and "ISO 8601" in result.output


def test_the_outbox_worker_purges_on_its_own(make, organizer, app, monkeypatch):
    event, at = past_event(make, organizer, days_ago=20)
    p = person(make, event, at, "カナリア")
    monkeypatch.setitem(app.config, "RETENTION_DAYS", 30)
    worker.run_once(now=event.ends_at + timedelta(days=29))
    db.session.expire_all()
    assert {n for _t, _c, n in find_in_database(p.canaries)} == set(p.canaries)  # not yet

    worker.run_once(now=event.ends_at + timedelta(days=31))
    db.session.expire_all()
    assert find_in_database(p.canaries) == []
    (entry,) = db.session.scalars(select(AuditEntry).where(AuditEntry.action == "privacy.purge"))
    assert entry.actor_kind == "system" and entry.actor_label == "worker"
    assert entry.event_slug == event.slug

    worker.run_once(now=event.ends_at + timedelta(days=32))  # nothing more to do, no second entry
    assert db.session.scalar(select(func.count()).select_from(AuditEntry)) == 1


def test_zero_days_turns_the_automatic_purge_off(make, organizer, app, monkeypatch):
    event, at = past_event(make, organizer, days_ago=400)
    p = person(make, event, at, "カナリア")
    monkeypatch.setitem(app.config, "RETENTION_DAYS", 0)
    worker.run_once()
    db.session.expire_all()
    assert {n for _t, _c, n in find_in_database(p.canaries)} == set(p.canaries)


def test_retention_days_come_from_the_environment():
    assert from_environment({"EVENTSVC_RETENTION_DAYS": "30"})["RETENTION_DAYS"] == 30
    assert "RETENTION_DAYS" not in from_environment({})


def test_the_organizer_sets_the_event_retention_on_its_privacy_page(make, organizer, client, login):
    event = make.event(organizer)
    other = make.event(make.organizer())
    login(organizer)
    assert f"/manage/events/{event.slug}/privacy" in client.get(f"/manage/events/{event.slug}").get_data(as_text=True)
    page = client.get(f"/manage/events/{event.slug}/privacy")
    assert page.status_code == 200 and "180" in page.get_data(as_text=True)
    assert client.get(f"/manage/events/{other.slug}/privacy").status_code == 404
    bad = client.post(f"/manage/events/{event.slug}/privacy", data={"retention_days": "0"})
    assert bad.status_code == 422
    r = client.post(f"/manage/events/{event.slug}/privacy", data={"retention_days": "45"})
    assert r.status_code == 302
    db.session.expire_all()
    assert privacy.retention_days(db.session.get(Event, event.id)) == 45
    assert privacy.purge_at(db.session.get(Event, event.id)) == event.ends_at + timedelta(days=45)
    client.post(f"/manage/events/{event.slug}/privacy", data={"retention_days": ""})
    db.session.expire_all()
    assert privacy.retention_days(db.session.get(Event, event.id)) == 180
