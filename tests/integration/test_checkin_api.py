"""The check-in JSON API on SQLite and PostgreSQL: the contract, who may call it, bad input,
and real concurrency (threads against the app served over HTTP)."""

from __future__ import annotations

import json
import threading
import urllib.error
import urllib.request
from datetime import timedelta

import pytest
from sqlalchemy import func, select, update

from eventsvc.checkin import service
from eventsvc.checkin.models import Checkin, CheckinLog, StaffLink
from eventsvc.core.clock import now_utc
from eventsvc.extensions import db
from eventsvc.registration.tickets import make_code

from .trace_support import round_trips_of, without_ping

RESULT_KEYS = {"result", "reason", "message", "registration", "checked_in_at", "checked_in_by", "duplicate",
               "replayed", "nonce", "admissible_now", "taken_back"}


@pytest.fixture
def event(make, organizer):
    return make.event(organizer)


@pytest.fixture
def staff_token(event, organizer):
    _link, token = service.create_staff_link(event, "受付2", expires_at=now_utc() + timedelta(hours=6),
                                             created_by=organizer, now=now_utc())
    db.session.commit()
    return token


def checkin(api, event, token, **body):
    return api("post", f"/events/{event.slug}/checkins", token, json=body)


# ------------------------------------------------------------------ the contract
def test_every_result_code_through_the_api(api, make, event, token):
    ok = make.registration(event, name="山田 花子", name_kana="ヤマダ ハナコ", organization_code="472018")
    cancelled = make.registration(event, status="cancelled")
    pending = make.registration(event, status="pending_review")
    other = make.registration(make.event())

    r = checkin(api, event, token, code=ok.ticket_code)
    assert r.status_code == 200 and set(r.json) == RESULT_KEYS
    assert r.json["result"] == "checked_in" and r.json["message"] == "受付しました"
    assert r.json["registration"] == {"id": ok.id, "name": "山田 花子", "name_kana": "ヤマダ ハナコ",
                                      "organization": "沖縄県那覇市", "ticket_type": "会場参加",
                                      "ticket_type_code": "venue", "status": "confirmed", "team": None}
    assert r.json["checked_in_by"] == "主催 太郎" and r.json["checked_in_at"].endswith("Z")

    r = checkin(api, event, token, code=ok.ticket_code)
    assert r.json["result"] == "already_checked_in" and "主催 太郎" in r.json["message"]

    r = checkin(api, event, token, code=cancelled.ticket_code)
    assert (r.json["result"], r.json["reason"]) == ("not_admitted", "cancelled")
    assert r.json["registration"]["id"] == cancelled.id
    r = checkin(api, event, token, code=pending.ticket_code)
    assert (r.json["result"], r.json["reason"]) == ("not_admitted", "pending_review")

    r = checkin(api, event, token, code=other.ticket_code)
    assert r.json["result"] == "wrong_event"
    assert r.json["registration"] is None and r.json["checked_in_at"] is None and other.name not in r.text

    r = checkin(api, event, token, code=make_code())
    assert r.json["result"] == "unknown_code" and r.json["registration"] is None


def test_undo_through_the_api(api, make, event, token):
    reg = make.registration(event)
    assert api("delete", f"/events/{event.slug}/checkins/{reg.id}", token).json["error"] == "not_checked_in"
    checkin(api, event, token, code=reg.ticket_code)
    r = api("delete", f"/events/{event.slug}/checkins/{reg.id}", token)
    assert r.status_code == 200 and r.json["result"] == "undone"
    assert checkin(api, event, token, code=reg.ticket_code).json["result"] == "checked_in"
    other = make.registration(make.event())
    assert api("delete", f"/events/{event.slug}/checkins/{other.id}", token).status_code == 404


def test_nonce_and_device_time_through_the_api(api, make, event, token):
    reg = make.registration(event)
    body = {"code": reg.ticket_code, "nonce": "scan-0001", "device_id": "ipad-1", "scanned_at": "2030-01-01T10:00:00"}
    first, again = checkin(api, event, token, **body), checkin(api, event, token, **body)
    assert first.json["result"] == again.json["result"] == "checked_in"
    assert (first.json["replayed"], again.json["replayed"]) == (False, True)
    row = db.session.scalar(select(Checkin))
    assert row.device_id == "ipad-1" and row.nonce == "scan-0001"
    assert row.scanned_at <= now_utc()  # a device clock in the future is not believed
    assert db.session.scalar(select(func.count()).select_from(CheckinLog)) == 1


def test_a_nonce_reused_for_another_ticket_checks_that_ticket_in(api, make, event, token, staff_token):
    """The outside tester's report: ticket B sent with ticket A's nonce was answered "checked_in,
    replayed" with A's name, and B was never checked in. The nonce names one scan of one ticket."""
    a = make.registration(event, name="比嘉 太郎", name_kana="ヒガ タロウ")
    b = make.registration(event, name="知念 花子", name_kana="チネン ハナコ")
    first = checkin(api, event, token, code=a.ticket_code, nonce="n1", device_id="dev1")
    assert (first.json["result"], first.json["replayed"]) == ("checked_in", False)
    r = checkin(api, event, staff_token, code=b.ticket_code, nonce="n1", device_id="dev2")
    assert (r.json["result"], r.json["replayed"]) == ("checked_in", False)
    assert r.json["registration"]["id"] == b.id and "比嘉" not in r.text
    assert r.json["checked_in_by"] == "受付2"
    assert api("get", f"/events/{event.slug}/checkins/counters", token).json["checked_in"] == 2
    log = api("get", f"/events/{event.slug}/checkins/log", token).json
    assert sorted((e["registration"]["id"], e["result"], e["device_id"]) for e in log["entries"]) == [
        (a.id, "checked_in", "dev1"), (b.id, "checked_in", "dev2")]
    # each retry is told its own first answer
    again = checkin(api, event, staff_token, code=b.ticket_code, nonce="n1", device_id="dev2").json
    assert (again["result"], again["replayed"], again["registration"]["id"]) == ("checked_in", True, b.id)
    assert again["checked_in_at"] == r.json["checked_in_at"]
    # and so through the offline upload: a third ticket with that nonce is its own scan
    c = make.registration(event)
    now = now_utc()
    body = {"device_id": "dev3", "scans": [
        {"code": c.ticket_code, "nonce": "n1", "scanned_at": (now - timedelta(minutes=3)).isoformat()},
        {"code": a.ticket_code.lower(), "nonce": "n1", "scanned_at": (now - timedelta(minutes=2)).isoformat()}]}
    results = api("post", f"/events/{event.slug}/checkins/sync", staff_token, json=body).json["results"]
    assert [(x["result"], x["replayed"], x["registration"]["id"]) for x in results] == [
        ("checked_in", False, c.id), ("checked_in", True, a.id)]
    assert db.session.scalar(select(func.count()).select_from(CheckinLog)) == 3
    assert db.session.scalar(select(func.count()).select_from(Checkin).where(Checkin.nonce == "n1")) == 3


def test_a_retry_after_undo_repeats_the_first_answer_with_its_time_and_says_it_was_taken_back(
        api, make, event, token):
    """The device missed the first answer, so it gets it again as it was — and ``taken_back``, so that
    it does not show a ✓ for someone whose check-in an organizer undid meanwhile."""
    reg = make.registration(event)
    first = checkin(api, event, token, code=reg.ticket_code, nonce="n1").json
    rescan = checkin(api, event, token, code=reg.ticket_code, nonce="n2").json
    assert rescan["result"] == "already_checked_in" and rescan["checked_in_at"] == first["checked_in_at"]
    assert checkin(api, event, token, code=reg.ticket_code, nonce="n1").json["taken_back"] is False  # still valid
    assert api("delete", f"/events/{event.slug}/checkins/{reg.id}", token).json["result"] == "undone"
    for body, answer in (({"nonce": "n1"}, first), ({"nonce": "n2"}, rescan)):
        again = checkin(api, event, token, code=reg.ticket_code, **body).json
        assert again["replayed"] is True and again["checked_in_at"] is not None and again["taken_back"] is True
        assert {k: again[k] for k in ("result", "checked_in_at", "checked_in_by")} == {
            k: answer[k] for k in ("result", "checked_in_at", "checked_in_by")}
        assert again["message"] == answer["message"] + " その後、この受付は取り消されました（いまは受付されていません）。"
    assert api("get", f"/events/{event.slug}/checkins/counters", token).json["checked_in"] == 0  # the undo stands
    # checked in again: a replay of the first scan still names the first, undone admission
    assert checkin(api, event, token, code=reg.ticket_code, nonce="n3").json["result"] == "checked_in"
    assert checkin(api, event, token, code=reg.ticket_code, nonce="n1").json["taken_back"] is True


def test_check_in_by_registration_id_from_a_name_search(api, make, event, token):
    reg = make.registration(event)
    r = checkin(api, event, token, registration_id=reg.id, method="search")
    assert r.json["result"] == "checked_in"
    other = make.registration(make.event())
    r = checkin(api, event, token, registration_id=other.id, method="search")
    assert r.json["result"] == "unknown_code" and r.json["registration"] is None
    assert checkin(api, event, token, code=reg.ticket_code, registration_id=reg.id).status_code == 422
    assert checkin(api, event, token).status_code == 422


def test_sync_counters_snapshot_and_search(api, make, event, token, staff_token):
    a, b = make.registration(event, name="山田 花子", name_kana="ヤマダ ハナコ"), make.registration(event)
    checkin(api, event, token, code=b.ticket_code)
    now = now_utc()
    body = {"device_id": "phone-2", "scans": [
        {"code": a.ticket_code, "nonce": "o1", "scanned_at": (now - timedelta(minutes=9)).isoformat()},
        {"code": b.ticket_code, "nonce": "o2", "scanned_at": (now - timedelta(minutes=8)).isoformat()},
    ]}
    r = api("post", f"/events/{event.slug}/checkins/sync", staff_token, json=body)
    assert r.status_code == 200
    assert [(x["result"], x["duplicate"]) for x in r.json["results"]] == [("checked_in", False),
                                                                         ("already_checked_in", True)]
    assert r.json["counters"]["checked_in"] == 2 and r.json["counters"]["duplicates"] == 1
    r2 = api("post", f"/events/{event.slug}/checkins/sync", staff_token, json=body)
    assert [x["replayed"] for x in r2.json["results"]] == [True, True]
    assert db.session.scalar(select(func.count()).select_from(Checkin)) == 3

    snap = api("get", f"/events/{event.slug}/checkins/snapshot", staff_token).json
    assert {t["id"] for t in snap["tickets"]} == {a.id, b.id}
    assert a.ticket_code not in json.dumps(snap) and a.email not in json.dumps(snap)
    assert api("get", f"/events/{event.slug}/checkins/counters", staff_token).json["expected"] == 2
    hits = api("get", f"/events/{event.slug}/checkins/search?q=ﾔﾏﾀﾞ", staff_token).json
    assert [h["registration"]["name"] for h in hits] == ["山田 花子"] and hits[0]["checked_in_by"] == "受付2"


def test_sync_logs_what_a_device_refused_offline(api, make, event, staff_token):
    cancelled, promoted = make.registration(event, status="cancelled"), make.registration(event)
    at = (now_utc() - timedelta(minutes=5)).isoformat()
    body = {"device_id": "phone-2", "scans": [
        {"code": cancelled.ticket_code, "nonce": "x1", "scanned_at": at, "refused_locally": "not_admitted"},
        {"code": promoted.ticket_code, "nonce": "x2", "scanned_at": at, "refused_locally": "not_admitted"},
        {"code": "T1-NOPE", "nonce": "x3", "scanned_at": at, "refused_locally": "unknown_code"},
    ]}
    r = api("post", f"/events/{event.slug}/checkins/sync", staff_token, json=body)
    assert r.status_code == 200
    assert [(x["result"], x["reason"], x["admissible_now"]) for x in r.json["results"]] == [
        ("refused_offline", "not_admitted", False), ("refused_offline", "not_admitted", True),
        ("refused_offline", "unknown_code", False)]
    assert "今は受付できます" in r.json["results"][1]["message"]
    assert r.json["counters"]["checked_in"] == 0
    assert db.session.scalar(select(func.count()).select_from(Checkin)) == 0
    assert db.session.scalar(select(func.count()).select_from(CheckinLog)) == 3
    body["scans"][0]["refused_locally"] = "checked_in"  # not a refusal
    assert api("post", f"/events/{event.slug}/checkins/sync", staff_token, json=body).status_code == 422


def test_scan_log_for_organizers_of_the_event(api, make, event, token, staff_token):
    ok = make.registration(event, name="山田 花子")
    checkin(api, event, token, code=ok.ticket_code, device_id="tab-1")
    checkin(api, event, token, code="not-a-ticket", device_id="tab-1")
    checkin(api, event, staff_token, code=ok.ticket_code, device_id="tab-2")
    r = api("get", f"/events/{event.slug}/checkins/log", token)
    assert r.status_code == 200 and (r.json["total"], r.json["page"], r.json["per_page"]) == (3, 1, 100)
    assert [(e["result"], e["device_id"]) for e in r.json["entries"]] == [
        ("already_checked_in", "tab-2"), ("unknown_code", "tab-1"), ("checked_in", "tab-1")]
    first = r.json["entries"][2]
    assert first["registration"] == {"id": ok.id, "name": "山田 花子", "organization": ok.organization_name}
    assert first["actor"] == "主催 太郎" and first["input_hash"] is None
    assert r.json["entries"][1]["registration"] is None and len(r.json["entries"][1]["input_hash"]) == 16
    assert api("get", f"/events/{event.slug}/checkins/log?result=unknown_code", token).json["total"] == 1
    assert api("get", f"/events/{event.slug}/checkins/log?device_id=tab-2", token).json["total"] == 1
    assert api("get", f"/events/{event.slug}/checkins/log?page=2", token).json["entries"] == []
    assert api("get", f"/events/{event.slug}/checkins/log?result=bogus", token).status_code == 422
    assert api("get", f"/events/{event.slug}/checkins/log", staff_token).status_code == 401  # reception: no log
    other_token = make.token(make.organizer())
    assert api("get", f"/events/{event.slug}/checkins/log", other_token).status_code == 404


def test_openapi_documents_the_check_in_calls(api):
    doc = api("get", "/openapi.json").json
    for path, method in [("/events/{slug}/checkins", "post"), ("/events/{slug}/checkins/{registration_id}", "delete"),
                         ("/events/{slug}/checkins/sync", "post"), ("/events/{slug}/checkins/snapshot", "get"),
                         ("/events/{slug}/checkins/log", "get"),
                         ("/events/{slug}/staff-links", "post")]:
        assert doc["paths"][path][method]["security"] == [{"bearer": []}]


# ------------------------------------------------------------------ who may call
def test_staff_token_works_for_its_event_only(api, make, organizer, event, staff_token):
    reg = make.registration(event)
    assert checkin(api, event, staff_token, code=reg.ticket_code).json["checked_in_by"] == "受付2"
    other = make.event(organizer)  # same organizer, another event
    assert checkin(api, other, staff_token, code="x").status_code == 404
    assert api("get", f"/events/{other.slug}/checkins/snapshot", staff_token).status_code == 404
    # only check-in: not the organizer's calls
    assert api("get", f"/events/{event.slug}/staff-links", staff_token).status_code == 401
    assert api("patch", f"/events/{event.slug}", staff_token, json={"title": "x"}).status_code == 401
    assert api("get", f"/events/{event.slug}/registrations", staff_token).status_code == 401


def test_revoked_or_expired_staff_token_stops_at_once(api, event, token, staff_token):
    assert checkin(api, event, staff_token, code="x").status_code == 200
    link = db.session.scalar(select(StaffLink))
    db.session.execute(update(StaffLink).where(StaffLink.id == link.id).values(expires_at=now_utc() - timedelta(seconds=1)))
    db.session.commit()
    assert checkin(api, event, staff_token, code="x").status_code == 401
    db.session.execute(update(StaffLink).where(StaffLink.id == link.id).values(expires_at=now_utc() + timedelta(hours=1)))
    db.session.commit()
    assert checkin(api, event, staff_token, code="x").status_code == 200
    r = api("delete", f"/events/{event.slug}/staff-links/{link.id}", token)
    assert r.status_code == 200 and r.json["active"] is False
    assert checkin(api, event, staff_token, code="x").status_code == 401


def _reused(app) -> dict:
    return app.extensions.get("eventsvc.reused_principals", {})


def _revoke_token(organizer, event):
    from eventsvc.auth import service as auth

    for row in auth.list_tokens(organizer):
        auth.revoke_token(organizer, row.id, now_utc())


def _deactivate(organizer, event):
    organizer.is_active_account = False


def _take_off_the_event(organizer, event):
    from eventsvc.events.models import event_organizers

    db.session.execute(event_organizers.delete().where(event_organizers.c.organizer_id == organizer.id))


def _rename_the_event(organizer, event):
    event.slug = event.slug + "-renamed"


@pytest.mark.parametrize(("change", "status"), [(_revoke_token, 401), (_deactivate, 401),
                                                (_take_off_the_event, 404), (_rename_the_event, 404)])
def test_a_scanning_organizer_is_checked_again_by_every_scan(app, api, make, organizer, event, token, change, status):
    """A desk's next scans reuse its caller (no lookup of the token), but each checks, in the same
    statement that locks the ticket, that the token still holds for the event: a revoked token, a
    deactivated organizer, an organizer taken off the event or a renamed event answers as a fresh
    call would (401 / 404), at once and in every server process, and nothing is written."""
    slug, reg = event.slug, make.registration(event)
    _reused(app).clear()  # (the app serves the whole session's tests)
    assert api("post", f"/events/{slug}/checkins", token, json={"code": "x"}).json["result"] == "unknown_code"
    assert len(_reused(app)) == 1  # the next scan reuses the caller
    logged = db.session.scalar(select(func.count()).select_from(CheckinLog))
    change(organizer, event)
    db.session.commit()
    for body in ({"code": reg.ticket_code}, {"code": ""}, {"registration_id": reg.id}, {"registration_id": 0}):
        assert api("post", f"/events/{slug}/checkins", token, json=body).status_code == status, body
    db.session.rollback()
    assert db.session.scalar(select(func.count()).select_from(CheckinLog)) == logged
    assert db.session.scalar(select(func.count()).select_from(Checkin)) == 0
    assert len(_reused(app)) == 0


def test_reused_callers_are_kept_briefly_and_few(app, api, make, organizer, event, token, monkeypatch):
    """A reused caller is kept for ``jsonapi.REUSE_SECONDS`` (then looked up again, which also
    notes the token's use) and at most ``REUSE_MAX`` are kept, the oldest going first."""
    from eventsvc import jsonapi

    _reused(app).clear()
    monkeypatch.setattr(jsonapi, "REUSE_MAX", 2)
    tokens = [token, make.token(organizer), make.token(organizer)]
    db.session.commit()
    for bearer in tokens:
        assert checkin(api, event, bearer, code="x").status_code == 200
    kept = _reused(app)
    assert len(kept) == 2 and jsonapi._reuse_key(token, event.slug) not in kept
    from eventsvc.auth import service as auth

    lookups = []
    resolve = auth.resolve_token_row
    monkeypatch.setattr(auth, "resolve_token_row", lambda *a, **k: lookups.append(1) or resolve(*a, **k))
    for seconds, looked_up in ((30.0, 1), (0.0, 3)):  # kept for no time: every call looks the caller up
        monkeypatch.setattr(jsonapi, "REUSE_SECONDS", seconds)
        kept.clear()
        lookups.clear()
        for _ in range(3):
            assert checkin(api, event, tokens[0], code="x").status_code == 200
        assert len(lookups) == looked_up, seconds


def test_a_reused_caller_scans_as_a_fresh_one(app, api, make, event, token, staff_token):
    """Reusing the caller changes no answer: the same result, the same name in the log."""
    for bearer, label in ((token, None), (staff_token, "受付2")):
        _reused(app).clear()
        first, second = make.registration(event), make.registration(event)
        a = api("post", f"/events/{event.slug}/checkins", bearer, json={"code": first.ticket_code}).json
        assert _reused(app)
        b = api("post", f"/events/{event.slug}/checkins", bearer, json={"code": second.ticket_code}).json
        assert a["result"] == b["result"] == "checked_in"
        assert a["checked_in_by"] == b["checked_in_by"] == (label or a["checked_in_by"])
        actors = db.session.scalars(select(CheckinLog.actor_label).where(
            CheckinLog.registration_id.in_([first.id, second.id]))).all()
        assert len(set(actors)) == 1 and len(actors) == 2


def test_other_organizers_and_anonymous_callers_get_nothing(api, make, event):
    reg = make.registration(event)
    stranger = make.token(make.organizer())
    assert checkin(api, event, stranger, code=reg.ticket_code).status_code == 404
    assert checkin(api, event, None, code=reg.ticket_code).status_code == 401
    assert checkin(api, event, "stf_" + "A" * 43, code=reg.ticket_code).status_code == 401
    assert db.session.scalar(select(func.count()).select_from(CheckinLog)) == 0


def test_staff_link_last_used_is_noted_when_its_token_is_used(api, make, event, token, staff_token):
    """The organizer spots a lost device by when its link was last used: every use through the
    token counts (scans, search, counters…), written at most once a minute per link."""
    def last_used():
        [listed] = api("get", f"/events/{event.slug}/staff-links", token).json
        return listed["last_used_at"]

    assert last_used() is None
    reg = make.registration(event)
    assert checkin(api, event, staff_token, code=reg.ticket_code).json["result"] == "checked_in"
    first = last_used()
    assert first is not None
    for path in ("/checkins/search?q=x", "/checkins/counters", "/checkins/snapshot"):
        db.session.execute(update(StaffLink).values(last_used_at=None))
        db.session.commit()
        assert api("get", f"/events/{event.slug}{path}", staff_token).status_code == 200
        assert last_used() is not None, path
    # at most once a minute: more calls within the minute write nothing
    noted = db.session.scalar(select(StaffLink.last_used_at))
    for _ in range(3):
        checkin(api, event, staff_token, code=reg.ticket_code)
        api("get", f"/events/{event.slug}/checkins/counters", staff_token)
    assert db.session.scalar(select(StaffLink.last_used_at)) == noted
    # a minute later it moves again, even on a call that fails after the token was accepted
    db.session.execute(update(StaffLink).values(last_used_at=now_utc() - timedelta(seconds=61)))
    db.session.commit()
    older = db.session.scalar(select(StaffLink.last_used_at))
    assert api("delete", f"/events/{event.slug}/checkins/{make.registration(event).id}", staff_token).status_code == 409
    assert db.session.scalar(select(StaffLink.last_used_at)) > older


def test_staff_links_api(api, event, token):
    r = api("post", f"/events/{event.slug}/staff-links", token,
            json={"label": "受付3", "expires_at": (event.ends_at + timedelta(hours=2)).isoformat()})
    assert r.status_code == 201
    assert r.json["token"].startswith("stf_") and r.json["url"].endswith("/staff/" + r.json["token"])
    listed = api("get", f"/events/{event.slug}/staff-links", token).json
    assert [x["label"] for x in listed] == ["受付3"] and "token" not in listed[0] and listed[0]["active"]
    bad = api("post", f"/events/{event.slug}/staff-links", token, json={"label": "", "expires_at": "2020-01-01T00:00"})
    assert bad.status_code == 422 and {"label", "expires_at"} <= set(bad.json["fields"])


# ------------------------------------------------------------------ bad input: normalised, unknown, never a 500
def test_typed_codes_are_normalised(api, make, event, token):
    regs = [make.registration(event) for _ in range(4)]
    variants = [regs[0].ticket_code.replace("-", " "), regs[1].ticket_code.replace("-", ""),
                regs[2].ticket_code.lower(),
                regs[3].ticket_code.translate({ord(c): ord(c) + 0xFEE0 for c in "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ-"})]
    for v in variants:
        assert checkin(api, event, token, code=v).json["result"] == "checked_in", v


@pytest.mark.parametrize("code", [
    "", " ", "T1", "x" * 100_000, "\x00\x01\x02\x7f", "\u202eT1-AAAA", "😀" * 200, "' OR 1=1 --", "T1-" + "0" * 28,
    "https://evil.example/?q=" + "A" * 300,
])
def test_garbage_answers_unknown_code(api, event, token, code):
    r = checkin(api, event, token, code=code)
    assert r.status_code == 200 and r.json["result"] == "unknown_code"


def test_binary_and_broken_bodies_never_500(client, make, event, token):
    make.registration(event)
    url = f"/api/v1/events/{event.slug}/checkins"
    h = {"Authorization": f"Bearer {token}"}
    cases = [
        (b'{"code": "\\ud800\\udc00\\ud800"}', "application/json", 200),  # lone surrogate
        (b'{"code": "T1-\\u0000"}', "application/json", 200),
        (b"\xff\xfe\x00garbage", "application/json", 400),
        (b"code=T1", "application/x-www-form-urlencoded", 415),
        (b'{"code": 42}', "application/json", 422),
        (b'{"code": ["T1"]}', "application/json", 422),
        (b'{"code": null}', "application/json", 422),
        (b'{"code": "x", "extra": 1}', "application/json", 422),
        (b'{"code": "x", "nonce": "' + b"n" * 65 + b'"}', "application/json", 422),
        (b'{"code": "x", "scanned_at": "yesterday"}', "application/json", 422),
        (b'{"code": "x", "method": "teleport"}', "application/json", 422),
        (b'{"registration_id": "1; DROP"}', "application/json", 422),
        (b'{"registration_id": false}', "application/json", 422),  # a JSON boolean is not an id
        (b'{"registration_id": 99999999999999999999999}', "application/json", 200),
        (b"[" * 5000 + b"]" * 5000, "application/json", 400),
        (b'{"code": "' + b"A" * (3 * 1024 * 1024) + b'"}', "application/json", 413),
    ]
    for body, ctype, status in cases:
        r = client.post(url, data=body, headers={**h, "Content-Type": ctype})
        assert r.status_code == status, (body[:60], r.status_code, r.get_data(as_text=True)[:200])
        assert r.is_json and "error" in r.json or r.json.get("result") == "unknown_code"


def test_sync_bad_input(api, event, token):
    url = f"/events/{event.slug}/checkins/sync"
    assert api("post", url, token, json={"scans": [{"code": "x", "scanned_at": "2030-01-01T00:00"}]}).status_code == 422
    too_many = [{"code": "x", "nonce": f"n{i}", "scanned_at": "2030-01-01T00:00"} for i in range(501)]
    assert api("post", url, token, json={"scans": too_many}).status_code == 422
    r = api("post", url, token, json={"scans": [{"code": "\x00" * 10, "nonce": "ok", "scanned_at": "2030-01-01T00:00"}]})
    assert r.status_code == 200 and r.json["results"][0]["result"] == "unknown_code"


def test_thousand_random_codes_through_the_api_hit_nothing(api, make, event, token):
    for _ in range(10):
        make.registration(event, commit=False)
    db.session.commit()
    answers = {checkin(api, event, token, code=make_code()).json["result"] for _ in range(1000)}
    assert answers == {"unknown_code"}
    assert db.session.scalar(select(func.count()).select_from(Checkin)) == 0


# ------------------------------------------------------------------ concurrency: real threads, real HTTP
@pytest.fixture
def served(app):
    """The app of this backend served over HTTP by a threaded server (one thread per request)."""
    from werkzeug.serving import make_server

    srv = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{srv.server_port}/api/v1"
    srv.shutdown()
    thread.join(5)


def post_all(url: str, token: str, bodies: list[dict]) -> list[tuple[int, dict]]:
    """POST every body at once (a barrier releases them together); (status, json) per body."""
    barrier = threading.Barrier(len(bodies))
    out: list = [None] * len(bodies)

    def worker(i: int, body: dict):
        req = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST", headers={
            "Authorization": f"Bearer {token}", "Content-Type": "application/json"})
        barrier.wait()
        try:
            with urllib.request.urlopen(req, timeout=60) as res:
                out[i] = (res.status, json.loads(res.read()))
        except urllib.error.HTTPError as err:
            out[i] = (err.code, json.loads(err.read() or b"{}"))

    threads = [threading.Thread(target=worker, args=(i, b)) for i, b in enumerate(bodies)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(90)
    return out


def test_ten_parallel_scans_of_one_code_check_in_exactly_once(served, make, event, token, backend):
    reg = make.registration(event)
    answers = post_all(f"{served}/events/{event.slug}/checkins", token,
                       [{"code": reg.ticket_code, "device_id": f"dev-{i}"} for i in range(10)])
    assert [s for s, _ in answers] == [200] * 10, answers
    results = sorted(a["result"] for _, a in answers)
    assert results == ["already_checked_in"] * 9 + ["checked_in"], backend
    db.session.rollback()  # end this test session's own (older) read snapshot
    assert db.session.scalar(select(func.count()).select_from(Checkin).where(Checkin.registration_id == reg.id)) == 1
    assert db.session.scalar(select(func.count()).select_from(CheckinLog)) == 10


def test_ten_parallel_retries_of_one_nonce_count_once(served, make, event, token, backend):
    reg = make.registration(event)
    answers = post_all(f"{served}/events/{event.slug}/checkins", token,
                       [{"code": reg.ticket_code, "nonce": "same-scan"} for _ in range(10)])
    assert [s for s, _ in answers] == [200] * 10, answers
    assert {a["result"] for _, a in answers} == {"checked_in"}
    assert sorted(a["replayed"] for _, a in answers) == [False] + [True] * 9
    db.session.rollback()  # end this test session's own (older) read snapshot
    assert db.session.scalar(select(func.count()).select_from(Checkin)) == 1
    assert db.session.scalar(select(func.count()).select_from(CheckinLog)) == 1


def test_parallel_retries_of_an_unknown_code_never_500(served, event, token, backend):
    answers = post_all(f"{served}/events/{event.slug}/checkins", token,
                       [{"code": "not-a-ticket", "nonce": "same-garbage"} for _ in range(10)])
    assert [s for s, _ in answers] == [200] * 10, answers
    assert {a["result"] for _, a in answers} == {"unknown_code"}
    db.session.rollback()  # end this test session's own (older) read snapshot
    assert db.session.scalar(select(func.count()).select_from(CheckinLog)) == 1


def test_two_devices_syncing_the_same_ticket_keep_one_admission_and_one_duplicate(served, make, event, token):
    reg = make.registration(event)
    now = now_utc()
    bodies = [{"device_id": f"phone-{i}", "scans": [
        {"code": reg.ticket_code, "nonce": f"phone-{i}-1", "scanned_at": (now - timedelta(minutes=5 - i)).isoformat()}]}
        for i in range(2)]
    answers = post_all(f"{served}/events/{event.slug}/checkins/sync", token, bodies)
    assert [s for s, _ in answers] == [200, 200], answers
    flat = sorted((a["results"][0]["result"], a["results"][0]["duplicate"]) for _, a in answers)
    assert flat == [("already_checked_in", True), ("checked_in", False)]
    db.session.rollback()  # end this test session's own (older) read snapshot
    rows = db.session.scalars(select(Checkin.result).where(Checkin.registration_id == reg.id)).all()
    assert sorted(rows) == ["checked_in", "duplicate"]


def test_parallel_scans_of_different_tickets_with_one_nonce_each_check_in(served, make, event, token, backend):
    regs = [make.registration(event) for _ in range(6)]
    answers = post_all(f"{served}/events/{event.slug}/checkins", token,
                       [{"code": r.ticket_code, "nonce": "same-nonce", "device_id": f"dev-{i}"}
                        for i, r in enumerate(regs)] * 2)
    assert [s for s, _ in answers] == [200] * 12, answers
    by_reg: dict[int, list] = {}
    for _, a in answers:
        by_reg.setdefault(a["registration"]["id"], []).append((a["result"], a["replayed"]))
    assert {rid: sorted(v) for rid, v in by_reg.items()} == {
        r.id: [("checked_in", False), ("checked_in", True)] for r in regs}, backend
    db.session.rollback()  # end this test session's own (older) read snapshot
    assert db.session.scalar(select(func.count()).select_from(Checkin)) == 6
    assert db.session.scalar(select(func.count()).select_from(CheckinLog)) == 6


@pytest.mark.parametrize("rid", ["0", "99999999999999999999999", "2147483648"])
def test_absurd_ids_in_urls_are_404_not_500(api, event, token, rid):
    assert api("delete", f"/events/{event.slug}/checkins/{rid}", token).status_code == 404
    assert api("delete", f"/events/{event.slug}/staff-links/{rid}", token).status_code == 404


@pytest.mark.parametrize("app", ["postgres"], indirect=True)  # round trips: SQLite runs in the process
@pytest.mark.parametrize("who", ["organizer", "staff"])
def test_a_scan_on_postgresql_writes_and_commits_in_one_round_trip(app, api, make, event, token, staff_token, who):
    """The desk's hot path. A caller's first scan, three round trips: the caller's token with the
    event (and the transaction's BEGIN) in one query, the ticket under its lock, then the scan's
    writes with the COMMIT — and nothing is sent after them to build the answer. Their next scans
    reuse the caller (``jsonapi.principal_guard``): two round trips, the check that the token still
    holds riding on the ticket's locked read."""
    bearer = token if who == "organizer" else staff_token
    path = f"/events/{event.slug}/checkins"
    api("post", path, bearer, json={"code": "T1-UNKNOWN"})  # the token's first use notes it (once a minute)
    code = make.registration(event, email="taro@city.naha.lg.jp").ticket_code
    for expected, fresh in (("checked_in", True), ("already_checked_in", False), ("already_checked_in", True)):
        answer: dict = {}
        if fresh:  # as in another server process, or once the reused caller is too old
            app.extensions["eventsvc.reused_principals"].clear()

        def scan(answer=answer):
            r = api("post", path, bearer, json={"code": code, "nonce": make_code()})
            answer.update(r.json)
            return r

        trips, pinged = without_ping(round_trips_of(scan))
        assert answer["result"] == expected
        assert len(trips) == (3 if fresh else 2), trips
        assert pinged or trips[0][0] == "BEGIN", trips
        if fresh:  # (BEGIN,) the token with the event: one statement (shown as <prepared> once psycopg prepared it)
            assert trips[0][-1] == "<prepared>" or "events" in trips[0][-1], trips
        else:  # (BEGIN,) the ticket under its lock, with the check that the caller still may scan
            assert trips[0][-1] == "<prepared>" or "FOR UPDATE" in trips[0][-1], trips
        # the writes, then COMMIT (psycopg prepares a COMMIT it sent five times: <prepared>; as the
        # trips are counted, a COMMIT of its own would be one more)
        assert trips[-1][-1] in ("COMMIT", "<prepared>") and len(trips[-1]) >= 2, trips
        assert sum("FOR UPDATE" in s for trip in trips for s in trip) <= 1, trips


def test_the_desk_finds_only_events_its_caller_runs(api, make, event, token, staff_token):
    """The event comes with the caller's token: another organizer's event, an unknown slug and
    another event for a staff link are 404, an admin reaches any event."""
    from eventsvc.auth import service as auth

    other = make.event(make.organizer())
    body = {"code": "T1-UNKNOWN"}
    for bearer in (token, staff_token):
        assert api("post", f"/events/{other.slug}/checkins", bearer, json=body).status_code == 404
        assert api("post", "/events/no-such-event/checkins", bearer, json=body).status_code == 404
        assert api("get", f"/events/{other.slug}/checkins/counters", bearer).status_code == 404
        assert api("post", f"/events/{event.slug}/checkins", bearer, json=body).json["result"] == "unknown_code"
    admin = make.organizer(admin=True)
    admin_token = auth.create_token(admin, "desk")
    db.session.commit()
    assert api("post", f"/events/{other.slug}/checkins", admin_token, json=body).json["result"] == "unknown_code"
    assert api("post", "/events/no-such-event/checkins", admin_token, json=body).status_code == 404
