"""Deletion of one person: the attendee from their own page (cancel + erase at once), and an
organizer deleting one attendee everywhere (page and ``DELETE /registrations/{id}``); the
purpose of use on every form that collects personal data."""

from __future__ import annotations

import re
from datetime import timedelta
from html import unescape

import pytest
from flask import current_app
from sqlalchemy import func, select

from eventsvc.audit.models import AuditEntry
from eventsvc.checkin.models import Checkin, CheckinLog
from eventsvc.core.clock import now_utc
from eventsvc.events import service as events
from eventsvc.extensions import db
from eventsvc.outbox.models import Delivery
from eventsvc.registration import privacy
from eventsvc.registration import service as registrations
from eventsvc.registration.models import Registration
from eventsvc.slack.models import SlackLink
from eventsvc.surveys import service as surveys
from eventsvc.surveys.models import SurveyResponse
from eventsvc.teams.models import TeamMember
from tests.integration.privacy_support import (
    PURPOSE,
    check_in,
    find_in_database,
    person,
    set_questions,
)


def text_of(response) -> str:
    return " ".join(unescape(re.sub(r"<[^>]+>", " ", response.get_data(as_text=True))).split())


@pytest.fixture
def small(make, organizer):
    """A one-seat event with a registration question, its seat taken, and one person waiting."""
    event = make.event(organizer, ticket_types=[events.TicketTypeData("venue", "会場参加", 1),
                                                events.TicketTypeData("online", "オンライン参加", 100)])
    set_questions(event, organizer, now_utc())
    at = now_utc()
    seated = person(make, event, at, "カナリア", slack_user="UKANARIA01")
    waiting = person(make, event, at, "ツグミ")
    assert (seated.reg.status, waiting.reg.status) == ("confirmed", "waitlisted")
    return event, seated, waiting


# ------------------------------------------------------------------ the attendee's own request
def test_the_attendee_page_links_to_deletion_and_the_get_changes_nothing(client, small):
    event, seated, _waiting = small
    link = registrations.link_token(seated.reg)
    page = client.get(f"/my/{link}").get_data(as_text=True)
    assert f"/my/{link}/delete" in page
    confirm = client.get(f"/my/{link}/delete")
    assert confirm.status_code == 200 and "元に戻せません" in text_of(confirm)
    assert confirm.headers["Cache-Control"] == "private, no-store"
    db.session.expire_all()
    assert db.session.get(Registration, seated.reg.id).status == "confirmed"
    assert {n for _t, _c, n in find_in_database(seated.canaries)} == set(seated.canaries)


def test_without_the_confirmation_box_nothing_happens(client, small):
    _event, seated, _waiting = small
    link = registrations.link_token(seated.reg)
    r = client.post(f"/my/{link}/delete", data={})
    assert r.status_code == 422 and "確認のチェック" in text_of(r)
    db.session.expire_all()
    assert db.session.get(Registration, seated.reg.id).erased_at is None


def test_the_attendee_deletes_their_data_the_seat_moves_on_and_nothing_of_them_remains(client, api, small):
    event, seated, waiting = small
    link = registrations.link_token(seated.reg)
    survey_link = surveys.link_token(seated.reg, current_app.config["SECRET_KEY"])
    check_in(event, seated.reg, event.organizers[0], device="desk-kanaria-phone", at=now_utc())

    r = client.post(f"/my/{link}/delete", data={"confirm": "y"})
    assert r.status_code == 302 and "/my-data/deleted" in r.headers["Location"]
    done = client.get(r.headers["Location"])
    assert done.status_code == 200 and "削除しました" in text_of(done) and event.title in text_of(done)

    db.session.expire_all()
    reg = db.session.get(Registration, seated.reg.id)
    assert reg.status == "cancelled" and reg.erased_at is not None
    assert db.session.get(Registration, waiting.reg.id).status == "confirmed"  # the waitlist moved up
    assert find_in_database(seated.canaries + ["desk-kanaria-phone"]) == []
    # the other person is untouched, and their promotion mail is on its way
    assert {n for _t, _c, n in find_in_database(waiting.canaries)} == set(waiting.canaries)
    promoted = db.session.scalars(select(Delivery).where(Delivery.registration_id == waiting.reg.id)).all()
    assert any(d.state in ("queued", "held") and d.target == waiting.reg.email for d in promoted)
    # no cancellation mail goes to an address that no longer exists here
    for d in db.session.scalars(select(Delivery).where(Delivery.registration_id == seated.reg.id)):
        assert d.target == "" and d.state in ("failed", "sent")
    # the check-in count stays, without who admitted them (label, and the account behind it) or from where
    (admission,) = db.session.scalars(select(Checkin).where(Checkin.registration_id == seated.reg.id))
    assert admission.device_id == "" and admission.actor_label == "" and admission.nonce is None
    assert admission.organizer_id is None and admission.staff_link_id is None
    assert admission.result == "checked_in" and admission.method == "scanner"
    # no link, token, code or survey link reaches them
    assert client.get(f"/my/{link}").status_code == 404
    assert client.post(f"/my/{link}/delete", data={"confirm": "y"}).status_code == 404
    assert api("POST", f"/registrations/{seated.reg.id}/cancel", seated.token).status_code == 401
    assert client.get(f"/events/{event.slug}/survey/r/{survey_link}").status_code == 404
    # recorded, without personal data
    (entry,) = db.session.scalars(select(AuditEntry).where(AuditEntry.action == "privacy.attendee_delete"))
    assert entry.actor_kind == "attendee" and entry.target == f"registration:{seated.reg.id}"
    assert entry.event_slug == event.slug and entry.details["counts"]["registrations_erased"] == 1


def test_the_attendee_deletion_forgets_the_staff_link_that_admitted_them_and_undid_it(client, make, small):
    """Reception staff (a staff link) admitted them, took it back, admitted them again: after the
    deletion neither admission points at the link (nor an organizer); the link itself stays."""
    from eventsvc.checkin import service as checkin
    from eventsvc.checkin.models import StaffLink

    event, seated, _waiting = small
    at = now_utc()
    other = person(make, event, at, "ヒバリ", ticket_type="online")
    link, _token = checkin.create_staff_link(event, "受付カナリア", expires_at=at + timedelta(hours=2),
                                             created_by=event.organizers[0], now=at)
    staff = checkin.Actor.staff(link)
    for nonce in ("scan-1", "scan-2"):
        result = checkin.check_in(event, seated.reg.ticket_code, device_id="desk-2", nonce=nonce, scanned_at=at,
                                  method="camera", actor=staff, now=at)
        assert result.result == "checked_in", result.result
        if nonce == "scan-1":
            checkin.undo_checkin(event, seated.reg.id, actor=staff, now=at)
    check_in(event, other.reg, event.organizers[0], device="desk-1", at=at)  # someone else's: untouched
    db.session.commit()
    rows = db.session.scalars(select(Checkin).where(Checkin.registration_id == seated.reg.id)).all()
    assert len(rows) == 2 and all(r.staff_link_id == link.id for r in rows)

    r = client.post(f"/my/{registrations.link_token(seated.reg)}/delete", data={"confirm": "y"})
    assert r.status_code == 302
    db.session.expire_all()
    rows = db.session.scalars(select(Checkin).where(Checkin.registration_id == seated.reg.id)).all()
    assert len(rows) == 2
    for row in rows:
        assert (row.staff_link_id, row.organizer_id, row.actor_label, row.undone_by, row.device_id) == (
            None, None, "", "", ""), row
    # one taken back at the desk, the other by the cancellation the deletion makes before the event ends
    # (a cancelled registration is no longer checked in); both rows stay, as counts
    assert [row.undone_at is not None for row in rows] == [True, True]
    (theirs,) = db.session.scalars(select(Checkin).where(Checkin.registration_id == other.reg.id))
    assert theirs.organizer_id == event.organizers[0].id and theirs.actor_label
    assert db.session.get(StaffLink, link.id) is not None


def test_after_the_event_the_attendee_deletion_keeps_the_status_for_the_statistics(client, make, organizer):
    from tests.integration.privacy_support import past_event

    event, at = past_event(make, organizer, days_ago=3)
    p = person(make, event, at, "ヒバリ")
    r = client.post(f"/my/{registrations.link_token(p.reg)}/delete", data={"confirm": "y"})
    assert r.status_code == 302
    db.session.expire_all()
    reg = db.session.get(Registration, p.reg.id)
    assert reg.status == "confirmed" and reg.erased_at is not None  # attended: counted, not named
    assert find_in_database(p.canaries) == []


# ------------------------------------------------------------------ an organizer deletes one attendee everywhere
@pytest.fixture
def crowded(make, organizer, token, api, small):
    """The one-seat event after it started: check-ins, an anonymous survey both answered, teams,
    a Slack report copy naming the seated person."""
    event, seated, waiting = small
    other = person(make, event, now_utc(), "メジロ", ticket_type="online")
    for p in (seated, other):
        check_in(event, p.reg, event.organizers[0], device="desk-kanaria-phone", at=now_utc())
    r = api("PUT", f"/events/{event.slug}/survey", token, json={
        "title": "アンケート", "opens_at": "2020-01-01T00:00:00+09:00",  # open at once: the event is ahead
        "anonymous": True, "questions": [{"kind": "rating", "text": "満足度"}]})
    qid = r.get_json()["questions"][0]["id"]
    for p in (seated, other):
        assert api("POST", f"/events/{event.slug}/survey/responses", p.token,
                   json={"answers": [{"question_id": qid, "value": 4}]}).status_code in (200, 201)
    assert api("POST", f"/events/{event.slug}/team-assignments", token,
               json={"scope": "checked_in", "team_count": 1, "seed": 3}).status_code == 201
    report = Delivery(kind="slack.report", event_id=event.id, target="C0REPORT", state="sent",
                      payload={"text": f"参加者: <@UKANARIA01>、{seated.reg.name}（那覇市）、{other.reg.name}（那覇市）"},
                      external_id="C0REPORT:1.2")
    db.session.add(report)
    db.session.commit()
    return event, seated, waiting, other, report.id


def test_an_organizer_deletes_one_attendee_everywhere_from_the_detail_page(client, login, organizer, crowded):
    event, seated, waiting, other, report_id = crowded
    login(organizer)
    detail = client.get(f"/manage/registrations/{seated.reg.id}").get_data(as_text=True)
    assert f"/manage/registrations/{seated.reg.id}/delete" in detail
    confirm = client.get(f"/manage/registrations/{seated.reg.id}/delete")
    assert confirm.status_code == 200 and seated.reg.name in text_of(confirm)
    assert client.post(f"/manage/registrations/{seated.reg.id}/delete", data={}).status_code == 422
    db.session.expire_all()
    assert db.session.get(Registration, seated.reg.id) is not None

    survey = surveys.require_survey(event)
    secret = current_app.config["SECRET_KEY"]
    assert surveys.my_answers(survey, seated.reg, secret) is not None  # found again through its key (so far)
    key = surveys.owner_key(secret, survey, seated.reg)
    rid = seated.reg.id
    r = client.post(f"/manage/registrations/{seated.reg.id}/delete", data={"confirm": "y"})
    assert r.status_code == 302 and r.headers["Location"].endswith(f"/manage/events/{event.slug}/registrations")

    db.session.expire_all()
    assert db.session.get(Registration, rid) is None
    assert db.session.scalar(select(func.count()).select_from(Checkin).where(Checkin.registration_id == rid)) == 0
    assert db.session.scalar(select(func.count()).select_from(CheckinLog).where(CheckinLog.registration_id == rid)) == 0
    assert db.session.scalar(select(func.count()).select_from(TeamMember).where(TeamMember.registration_id == rid)) == 0
    assert db.session.get(SlackLink, rid) is None
    assert db.session.scalar(select(func.count()).select_from(Delivery).where(Delivery.registration_id == rid)) == 0
    # anonymous answers can't be traced and stay: both still counted, neither findable by its owner's key
    assert db.session.scalar(select(func.count()).select_from(SurveyResponse)) == 2
    assert not any(r.owner_key == key for r in db.session.scalars(select(SurveyResponse)))
    # the copy of the Slack report that named them is emptied
    assert db.session.get(Delivery, report_id).payload == privacy.ERASED_PAYLOAD
    assert find_in_database(seated.canaries) == []
    # the others keep everything; the waiting person got the seat
    assert {n for _t, _c, n in find_in_database(other.canaries)} == set(other.canaries)
    assert db.session.get(Registration, waiting.reg.id).status == "confirmed"
    assert surveys.my_answers(survey, other.reg, secret) is not None
    (entry,) = db.session.scalars(select(AuditEntry).where(AuditEntry.action == "privacy.registration_delete"))
    assert entry.actor_kind == "organizer" and entry.organizer_id == organizer.id
    assert entry.target == f"registration:{rid}" and entry.event_slug == event.slug


def test_a_named_survey_answer_is_deleted_with_its_author(make, organizer, token, api, small):
    event, seated, _waiting = small
    r = api("PUT", f"/events/{event.slug}/survey", token, json={
        "title": "アンケート", "opens_at": "2020-01-01T00:00:00+09:00",  # open at once: the event is ahead
        "anonymous": False, "questions": [{"kind": "text", "text": "感想"}]})
    qid = r.get_json()["questions"][0]["id"]
    api("POST", f"/events/{event.slug}/survey/responses", seated.token,
        json={"answers": [{"question_id": qid, "value": "カナリアの感想"}]})
    assert db.session.scalar(select(func.count()).select_from(SurveyResponse)) == 1
    assert api("DELETE", f"/registrations/{seated.reg.id}", token).status_code == 204
    db.session.expire_all()
    assert db.session.scalar(select(func.count()).select_from(SurveyResponse)) == 0
    assert find_in_database(seated.canaries + ["カナリアの感想"]) == []


def test_delete_through_the_api_is_for_the_events_organizers(make, organizer, token, api, small):
    _event, seated, _waiting = small
    stranger = make.token(make.organizer())
    assert api("DELETE", f"/registrations/{seated.reg.id}").status_code == 401
    assert api("DELETE", f"/registrations/{seated.reg.id}", seated.token).status_code == 401
    r = api("DELETE", f"/registrations/{seated.reg.id}", stranger)
    assert r.status_code == 404 and r.get_json()["error"] == "registration_not_found"
    db.session.expire_all()
    assert db.session.get(Registration, seated.reg.id) is not None

    rid = seated.reg.id
    r = api("DELETE", f"/registrations/{rid}", token)
    assert r.status_code == 204 and r.get_data() == b"" and "Content-Type" not in r.headers  # nothing to type
    db.session.expire_all()
    assert db.session.get(Registration, rid) is None
    assert find_in_database(seated.canaries) == []
    assert api("DELETE", f"/registrations/{rid}", token).status_code == 404
    (entry,) = db.session.scalars(select(AuditEntry).where(AuditEntry.action == "privacy.registration_delete"))
    assert entry.organizer_id == organizer.id and entry.details["counts"]["registrations_deleted"] == 1


def test_another_organizer_cannot_reach_the_delete_page(client, login, make, small):
    _event, seated, _waiting = small
    login(make.organizer())
    assert client.get(f"/manage/registrations/{seated.reg.id}/delete").status_code == 404
    assert client.post(f"/manage/registrations/{seated.reg.id}/delete", data={"confirm": "y"}).status_code == 404
    db.session.expire_all()
    assert db.session.get(Registration, seated.reg.id) is not None


# ------------------------------------------------------------------ purpose of use on every form
def test_the_purpose_of_use_is_on_every_form_that_collects_personal_data(client, login, organizer, small):
    event, seated, _waiting = small
    link = registrations.link_token(seated.reg)
    pages = {"register": client.get(f"/events/{event.slug}/register"),
             "attendee edit": client.get(f"/my/{link}/edit")}
    login(organizer)
    pages["walk-in at the desk"] = client.get(f"/events/{event.slug}/checkin/")
    for name, page in pages.items():
        text = text_of(page)
        assert page.status_code == 200, name
        assert "個人情報の利用目的" in text and PURPOSE in text, name
        assert "開催終了から180日後に削除" in text, name


def test_without_an_event_text_the_default_purpose_is_shown(client, make):
    event = make.event()
    text = text_of(client.get(f"/events/{event.slug}/register"))
    assert "個人情報の利用目的" in text and "運営（受付、名札、グループ分け、連絡、アンケート）" in text


def test_a_purge_date_follows_the_event_not_the_clock(make):
    event = make.event()
    privacy.set_retention_days(event, 30, now_utc())
    db.session.commit()
    assert privacy.purge_at(event) == event.ends_at + timedelta(days=30)
    with pytest.raises(Exception) as err:
        privacy.set_retention_days(event, 0, now_utc())
    assert getattr(err.value, "code", None) == "validation_error"


def test_the_purpose_of_use_is_on_named_surveys_and_the_slack_sign_in_page(client, token, api, small):
    event, seated, _waiting = small
    link = registrations.link_token(seated.reg)
    survey_link = surveys.link_token(seated.reg, current_app.config["SECRET_KEY"])
    slack_page = text_of(client.get(f"/my/{link}/slack"))
    assert "個人情報の利用目的" in slack_page and PURPOSE in slack_page

    api("PUT", f"/events/{event.slug}/survey", token, json={
        "title": "アンケート", "opens_at": "2020-01-01T00:00:00+09:00",  # open at once: the event is ahead
        "anonymous": False, "questions": [{"kind": "text", "text": "感想"}]})
    named = text_of(client.get(f"/events/{event.slug}/survey/r/{survey_link}"))
    assert "記名式" in named and PURPOSE in named
    api("PUT", f"/events/{event.slug}/survey", token, json={
        "title": "アンケート", "opens_at": "2020-01-01T00:00:00+09:00",  # open at once: the event is ahead
        "anonymous": True, "questions": [{"kind": "text", "text": "感想"}]})
    anonymous = text_of(client.get(f"/events/{event.slug}/survey/r/{survey_link}"))
    assert "匿名" in anonymous and PURPOSE not in anonymous  # nothing personal is collected there
