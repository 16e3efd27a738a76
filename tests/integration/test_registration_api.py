"""Registration through the JSON API: the contract, auth (organizer / attendee), bad input never 500."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from eventsvc.core.clock import now_utc
from eventsvc.events import service as events
from eventsvc.extensions import db
from eventsvc.outbox.models import Delivery
from eventsvc.registration import service
from eventsvc.registration.models import Registration

from .trace_support import round_trips_of, without_ping

BODY = {"name": "比嘉 太郎", "name_kana": "ひが たろう", "email": "taro@city.naha.lg.jp", "organization_code": "472018",
        "department": "デジタル推進課", "ticket_type": "venue"}


def count():
    return db.session.scalar(select(func.count()).select_from(Registration))


@pytest.fixture
def event(make, organizer):
    return make.event(org=organizer, ticket_types=[events.TicketTypeData("venue", "会場参加", 1),
                                                   events.TicketTypeData("online", "オンライン参加", 10)])


def test_register_returns_the_contract(api, event):
    r = api("post", f"/events/{event.slug}/registrations", json=BODY)
    assert r.status_code == 201, r.json
    body = r.json
    assert set(body) >= {"id", "status", "ticket_code", "attendee_token", "manage_url"}
    assert body["status"] == "confirmed"
    assert body["ticket_code"].startswith("T1-")
    assert body["attendee_token"].startswith("att_")
    assert "/my/" in body["manage_url"]
    second = api("post", f"/events/{event.slug}/registrations", json={**BODY, "email": "hanako@city.naha.lg.jp"})
    assert second.json["status"] == "waitlisted" and second.json["waitlist_position"] == 1
    other = api("post", f"/events/{event.slug}/registrations", json={**BODY, "email": "x@lg.jp.evil.com"})
    assert other.json["status"] == "pending_review"


def _statements_of(call) -> list[str]:
    """What SQLite ran for ``call`` — every statement, also those sent past SQLAlchemy
    (``database.first_row``): from the driver's own trace."""
    from sqlalchemy import event as sa_event

    seen: list[str] = []

    def note(statement):
        seen.append(" ".join(statement.split())[:80])

    def trace(dbapi_connection, *_args):
        dbapi_connection.set_trace_callback(note)

    def untrace(dbapi_connection, *_args):
        dbapi_connection.set_trace_callback(None)

    db.session.commit()
    sa_event.listen(db.engine, "checkout", trace)
    sa_event.listen(db.engine, "checkin", untrace)
    try:
        assert call().status_code == 201
    finally:
        sa_event.remove(db.engine, "checkout", trace)
        sa_event.remove(db.engine, "checkin", untrace)
    return [s for s in seen if s not in ("COMMIT", "ROLLBACK")]


LAST_TRIP = ["INSERT INTO registrations", "INSERT INTO deliveries", "COMMIT"]


def _kept_events(app):
    return app.extensions["eventsvc.registration_events"]


def test_a_registration_costs_few_statements_and_nothing_after_the_commit(api, event, app):
    """The hot path's budget: the event with its types and settings, the lock, one read under
    it, the two inserts (plus SQLite's ``BEGIN IMMEDIATE``) — and no reload of the row after
    the commit to build the answer. An event without a settings row does not ask for it again:
    the first query said it has none. A server process keeps the event it read for the next
    registrations (``registration.reuse``): they make no query for it.

    On PostgreSQL the lock is held for two round trips: the lock, the count and the new id in
    one, the row, its mail and the commit in the next; the transaction's BEGIN goes with its
    first query (``database.postgresql_connect_args``): three round trips in all, two when the
    event was kept."""
    path = f"/events/{event.slug}/registrations"
    api("post", path, json={**BODY, "email": "warm@city.naha.lg.jp"})
    with_settings = {**BODY, "email": "hanako@city.naha.lg.jp"}
    if app.config["SQLALCHEMY_DATABASE_URI"].startswith("postgresql"):
        for body, kept in ((BODY, True), (with_settings, False)):
            if not kept:  # as in another server process, or once the kept event is too old
                _kept_events(app).clear()
            trips, pinged = without_ping(round_trips_of(lambda body=body: api("post", path, json=body)))
            assert len(trips) == (2 if kept else 3) or (pinged and len(trips) <= 3), trips
            assert pinged or (trips[0][0] == "BEGIN" and len(trips[0]) == (4 if kept else 2)), trips
            # the lock, then one more round trip (psycopg shows a statement it has prepared, after
            # five uses, as <prepared>: the locking query among them)
            assert any("FOR UPDATE" in s or s == "<prepared>" for s in trips[-2]), trips
            assert not any("FOR UPDATE" in s for trip in trips[:-2] for s in trip), trips
            last = [s.split(" (")[0] for s in trips[-1]]
            assert len(last) == 3 and all(s in (w, "<prepared>") for s, w in zip(last, LAST_TRIP, strict=True)), trips
            service.update_settings(event, None, now_utc(), promotion_mode="auto", offer_hours=48, questions=[],
                                    lottery_at=None, privacy_purpose="受付と連絡のためだけに使います。")
            db.session.commit()
        return
    seen = _statements_of(lambda: api("post", path, json=BODY))  # the event kept by the first call
    ours = [s for s in seen if not s.startswith("BEGIN")]
    assert len(ours) <= 4 and not any(s.startswith("SELECT events.") for s in ours), seen
    assert ours[-1].startswith("INSERT INTO deliveries"), seen
    service.update_settings(event, None, now_utc(), promotion_mode="auto", offer_hours=48, questions=[],
                            lottery_at=None, privacy_purpose="受付と連絡のためだけに使います。")
    _kept_events(app).clear()
    seen = _statements_of(lambda: api("post", path, json=with_settings))
    ours = [s for s in seen if not s.startswith("BEGIN")]
    assert len(ours) <= 5 and ours[-1].startswith("INSERT INTO deliveries"), seen


def test_a_question_added_after_registrations_began_is_asked_at_the_next_one(api, event):
    """The hot path reads the event and its settings row in one query and trusts "no row"
    for that request only: a row made since (in this session or another) is honoured."""
    path = f"/events/{event.slug}/registrations"
    assert api("post", path, json=BODY).status_code == 201  # the event has no settings row yet
    service.update_settings(event, None, now_utc(), promotion_mode="auto", offer_hours=48,
                            questions=[service.Question("pc", "single", "ノートPC", ["持参", "なし"], True)],
                            lottery_at=None, privacy_purpose="")
    db.session.commit()
    r = api("post", path, json={**BODY, "email": "hanako@city.naha.lg.jp"})
    assert r.status_code == 422 and "answers.pc" in r.json["fields"], r.json
    r = api("post", path, json={**BODY, "email": "hanako@city.naha.lg.jp", "answers": {"pc": "持参"}})
    assert r.status_code == 201, r.json


@pytest.mark.parametrize("app", ["sqlite"], indirect=True)
def test_on_sqlite_checking_a_registration_waits_for_no_other_writer(api, event):
    """Reading the event and checking the input take no write lock: while another writer holds
    SQLite's one write lock, bad input is refused at once, and a good registration waits only
    for the part that counts and writes — then goes through."""
    import sqlite3
    import threading
    import time

    path = f"/events/{event.slug}/registrations"
    other = sqlite3.connect(db.engine.url.database, timeout=30, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    waiting = threading.Thread(target=lambda: answers.append(api("post", path, json=BODY)))
    answers: list = []
    try:
        started = time.monotonic()
        bad = api("post", path, json={**BODY, "email": "not-an-address"})
        assert bad.status_code == 422 and time.monotonic() - started < 5
        waiting.start()
        time.sleep(0.5)
        assert waiting.is_alive() and answers == []  # its admission waits for the lock
    finally:
        other.execute("ROLLBACK")
        other.close()
    waiting.join(30)
    assert answers[0].status_code == 201 and answers[0].json["status"] == "confirmed"


def test_minimal_body_is_enough(api, event):
    r = api("post", f"/events/{event.slug}/registrations",
            json={"name": "知念 花子", "name_kana": "チネン ハナコ", "email": "hanako@pref.okinawa.lg.jp"})
    assert r.status_code == 201, r.json
    reg = db.session.get(Registration, r.json["id"])
    assert reg.ticket_type.code == "venue" and reg.organization_name == ""


def test_duplicate_and_closed(api, event, make):
    assert api("post", f"/events/{event.slug}/registrations", json=BODY).status_code == 201
    r = api("post", f"/events/{event.slug}/registrations", json={**BODY, "email": " TARO@City.Naha.LG.JP "})
    assert r.status_code == 409 and r.json["error"] == "already_registered"
    closed = make.event(status="closed")
    r = api("post", f"/events/{closed.slug}/registrations", json=BODY)
    assert r.status_code == 409 and r.json["error"] == "registration_closed" and r.json["message"]
    draft = make.event(status="draft")
    assert api("post", f"/events/{draft.slug}/registrations", json=BODY).status_code == 404


def test_a_duplicate_that_slips_past_the_check_is_409_not_500(api, event, monkeypatch):
    """Two requests with one address for two participation types hold different locks: the
    unique index decides, and the loser hears ``already_registered``."""
    assert api("post", f"/events/{event.slug}/registrations", json=BODY).status_code == 201
    real = service._admission_facts


    def blind(e, tt, email, **kwargs):
        facts = real(e, tt, email, **kwargs)
        return (*facts[:4], None, *facts[5:])  # "no registration of this address yet"

    monkeypatch.setattr(service, "_admission_facts", blind)
    r = api("post", f"/events/{event.slug}/registrations", json={**BODY, "ticket_type": "online"})
    assert r.status_code == 409 and r.json["error"] == "already_registered" and r.json["fields"]["email"]
    assert count() == 1
    # and no mail for the refused one (its mail is written in the same round trip on PostgreSQL)
    assert db.session.scalar(select(func.count()).select_from(Delivery)) == 1
    assert api("post", f"/events/{event.slug}/registrations",
               json={**BODY, "email": "hanako@city.naha.lg.jp"}).status_code == 201


@pytest.mark.parametrize("change, field", [
    ({"name": "x" * 101}, "name"),
    ({"name": ""}, "name"),
    ({"name": "比嘉\x00太郎"}, "name"),
    ({"name": "比嘉\u202e太郎"}, "name"),
    ({"name": "比嘉\n太郎"}, "name"),
    ({"name": "\u200b"}, "name"),  # shows nothing: no name
    ({"name": "\u2060\u3164"}, "name"),
    ({"name_kana": "Higa"}, "name_kana"),
    ({"email": "not-an-address"}, "email"),
    ({"email": "a@b"}, "email"),
    ({"email": "taro@" + "a" * 250 + ".lg.jp"}, "email"),
    ({"ticket_type": "vip"}, "ticket_type"),
    ({"organization_code": "999999"}, "organization_code"),
    ({"department": "d" * 201}, "department"),
    ({"name": 42}, "name"),
    ({"unknown_field": 1}, "unknown_field"),
    ({"answers": {"nope": "x"}}, "answers.nope"),
    ({"consent_privacy": "yes"}, "consent_privacy"),  # a consent is true or false, nothing read into it
    ({"consent_slack_mention": 1}, "consent_slack_mention"),
    ({"consent_listing": "true"}, "consent_listing"),
])
def test_bad_input_is_a_clear_422_and_nothing_is_saved(api, event, change, field):
    r = api("post", f"/events/{event.slug}/registrations", json={**BODY, **change})
    assert r.status_code == 422, r.json
    assert r.json["error"] == "validation_error"
    assert field in r.json["fields"], r.json
    assert count() == 0
    assert db.session.scalar(select(func.count()).select_from(Delivery)) == 0


def test_malformed_json_and_wrong_type(api, event, client):
    url = f"/api/v1/events/{event.slug}/registrations"
    r = client.post(url, data="{not json", content_type="application/json")
    assert r.status_code == 400 and r.json["error"] == "malformed_json"
    r = client.post(url, data="name=x", content_type="application/x-www-form-urlencoded")
    assert r.status_code == 415
    r = client.post(url, data="[" * 5000 + "]" * 5000, content_type="application/json")
    assert r.status_code in (400, 422)
    assert count() == 0


def test_emoji_rare_kanji_and_html_round_trip(api, event, token):
    body = {**BODY, "name": "𠮷野 太郎🙂", "department": "<script>alert(1)</script>&課", "organization_code": None,
            "organization_name": "髙﨑市役所 ＤＸ推進室"}
    r = api("post", f"/events/{event.slug}/registrations", json=body)
    assert r.status_code == 201, r.json
    listed = api("get", f"/events/{event.slug}/registrations", token).json
    assert listed[0]["name"] == "𠮷野 太郎🙂"
    assert listed[0]["department"] == "<script>alert(1)</script>&課"
    assert listed[0]["organization_name"] == "髙﨑市役所 ＤＸ推進室"


def test_organizer_lists_filters_and_reviews(api, event, token, make):
    for i in range(3):
        api("post", f"/events/{event.slug}/registrations", json={**BODY, "email": f"p{i}@city.naha.lg.jp"})
    pending = api("post", f"/events/{event.slug}/registrations", json={**BODY, "email": "q@example.com"}).json
    everyone = api("get", f"/events/{event.slug}/registrations", token)
    assert everyone.status_code == 200 and len(everyone.json) == 4
    waiting = api("get", f"/events/{event.slug}/registrations?status=waitlisted", token).json
    assert [w["waitlist_position"] for w in waiting] == [1, 2]
    assert len(api("get", f"/events/{event.slug}/registrations?q=P1@", token).json) == 1
    assert api("get", f"/events/{event.slug}/registrations?status=bogus", token).status_code == 422
    assert api("get", f"/events/{event.slug}/registrations").status_code == 401
    other = make.token(make.organizer())
    assert api("get", f"/events/{event.slug}/registrations", other).status_code == 404
    assert api("post", f"/registrations/{pending['id']}/approve", other, json={}).status_code == 404
    r = api("post", f"/registrations/{pending['id']}/reject", token, json={"message": "対象外のため"})
    assert r.status_code == 200 and r.json["status"] == "rejected" and r.json["review_note"] == "対象外のため"
    # a call whose body has only optional fields may leave it out (``curl -X POST …/approve``)
    assert api("post", f"/registrations/{pending['id']}/approve", token).status_code == 409
    other_pending = api("post", f"/events/{event.slug}/registrations", json={**BODY, "email": "r@example.com"}).json
    r = api("post", f"/registrations/{other_pending['id']}/approve", token)
    assert r.status_code == 200 and r.json["status"] in ("confirmed", "waitlisted")
    # a body with required fields must be sent
    r = api("post", f"/events/{event.slug}/registrations")
    assert r.status_code == 415 and r.json["error"] == "unsupported_media_type"


def test_cancel_by_attendee_token_and_by_organizer(api, event, token):
    a = api("post", f"/events/{event.slug}/registrations", json=BODY).json
    b = api("post", f"/events/{event.slug}/registrations", json={**BODY, "email": "b@city.naha.lg.jp"}).json
    c = api("post", f"/events/{event.slug}/registrations", json={**BODY, "email": "c@city.naha.lg.jp"}).json
    # an attendee cannot touch someone else's registration
    assert api("post", f"/registrations/{b['id']}/cancel", a["attendee_token"]).status_code == 404
    assert api("get", f"/registrations/{b['id']}", a["attendee_token"]).status_code == 404
    assert api("get", f"/registrations/{a['id']}", a["attendee_token"]).json["status"] == "confirmed"
    r = api("post", f"/registrations/{a['id']}/cancel", a["attendee_token"])
    assert r.status_code == 200 and r.json["status"] == "cancelled"
    assert api("post", f"/registrations/{a['id']}/cancel", a["attendee_token"]).status_code == 200  # harmless
    assert api("get", f"/registrations/{b['id']}", token).json["status"] == "confirmed"
    r = api("post", f"/registrations/{c['id']}/cancel", token)
    assert r.status_code == 200 and r.json["status"] == "cancelled"
    # the attendee token is not an organizer token
    assert api("get", f"/events/{event.slug}/registrations", a["attendee_token"]).status_code == 401


def test_patch_facilitator_and_ticket_type(api, event, token):
    a = api("post", f"/events/{event.slug}/registrations", json=BODY).json
    r = api("patch", f"/registrations/{a['id']}", token, json={"facilitator": True})
    assert r.status_code == 200 and r.json["facilitator"] is True
    r = api("patch", f"/registrations/{a['id']}", token, json={"ticket_type": "online"})
    assert r.json["ticket_type"] == "online" and r.json["status"] == "confirmed"
    assert api("patch", f"/registrations/{a['id']}", token, json={"ticket_type": "nope"}).status_code == 422
    assert api("patch", f"/registrations/{a['id']}", a["attendee_token"], json={"facilitator": False}).status_code == 401
    # a cancelled registration keeps its participation type: said, not silently ignored
    api("post", f"/registrations/{a['id']}/cancel", token)
    r = api("patch", f"/registrations/{a['id']}", token, json={"ticket_type": "venue"})
    assert r.status_code == 409 and r.json["error"] == "registration_inactive"


def test_lottery_through_the_api(api, token, make, organizer):
    e = make.event(org=organizer, selection="lottery", ticket_types=[events.TicketTypeData("venue", "会場", 2)])
    for i in range(5):
        assert api("post", f"/events/{e.slug}/registrations",
                   json={**BODY, "email": f"l{i}@city.naha.lg.jp"}).json["status"] == "applied"
    r = api("post", f"/events/{e.slug}/lottery", token, json={"seed": "abc"})
    assert r.status_code == 200, r.json
    assert len(r.json[0]["won"]) == 2 and len(r.json[0]["waitlist"]) == 3 and r.json[0]["seed"] == "abc"
    assert api("post", f"/events/{e.slug}/lottery", token).json["error"] == "lottery_already_drawn"
    assert api("get", f"/events/{e.slug}/lottery", token).json[0]["record"]["algorithm"] == "org-fair-sha256-v1"


def test_deliveries_api(api, event, token):
    api("post", f"/events/{event.slug}/registrations", json=BODY)
    r = api("get", f"/events/{event.slug}/deliveries", token)
    assert r.status_code == 200
    (d,) = r.json
    assert {"id", "kind", "target", "state", "attempts", "last_error", "external_id"} <= set(d)
    assert (d["kind"], d["target"], d["state"]) == ("mail.confirmation", BODY["email"], "queued")
    assert api("get", f"/events/{event.slug}/deliveries?state=sent", token).json == []
    assert api("get", f"/events/{event.slug}/deliveries").status_code == 401


def test_openapi_documents_the_calls(api):
    doc = api("get", "/openapi.json").json
    for path in ("/events/{slug}/registrations", "/registrations/{reg_id}/approve", "/registrations/{reg_id}/cancel",
                 "/registrations/{reg_id}", "/events/{slug}/deliveries", "/events/{slug}/lottery"):
        assert path in doc["paths"], path
    assert "patch" in doc["paths"]["/registrations/{reg_id}"]


def test_an_attendee_cannot_cancel_once_the_event_has_started_but_an_organizer_can(api, make, organizer, token):
    start = (now_utc() - timedelta(hours=1)).replace(microsecond=0)
    started = make.event(org=organizer, starts_at=start, ends_at=start + timedelta(hours=3))
    reg = make.registration(started, now=start - timedelta(days=2))
    r = api("POST", f"/registrations/{reg.id}/cancel", token=reg.attendee_token)
    assert r.status_code == 409 and r.json["error"] == "cancellation_closed"
    r = api("POST", f"/registrations/{reg.id}/cancel", token=token)
    assert r.status_code == 200 and r.json["status"] == "cancelled"
