"""Roles on the server: admin (every event), organizer (the events they organize), an event
staff link (check-in and the reception list of its one event), and the admin's organizer page."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from eventsvc.checkin import service as checkin_service
from eventsvc.core.clock import now_utc
from eventsvc.extensions import db
from eventsvc.jsonapi import OPERATIONS
from eventsvc.outbox.models import Delivery
from tests.factories import PASSWORD
from tests.integration.auth_support import enable_totp, get_urls, login_with_totp, text_of

#: pages a staff link may open (its own event only); every other page answers it as it answers anyone
DESK = {"checkin.desk", "checkin.reception_list", "checkin.desk_search_json", "checkin.desk_snapshot_json",
        "checkin.desk_state", "checkin.service_worker"}
@pytest.fixture
def world(make):
    """Two organizers with an event each (with a registration), and an admin with TOTP."""
    a, b = make.organizer(name="主催 A"), make.organizer(name="主催 B")
    event_a, event_b = make.event(a, title="A の勉強会"), make.event(b, title="B の勉強会")
    reg_a = make.registration(event_a)
    admin = make.organizer(name="管理 C", admin=True)
    secret, _ = enable_totp(admin)
    return {"a": a, "b": b, "event_a": event_a, "event_b": event_b, "reg_a": reg_a, "admin": admin,
            "admin_secret": secret}


def test_organizers_see_their_events_admins_see_all(client, app, login, world):
    login(world["a"])
    listing = text_of(client.get("/manage"))
    assert "A の勉強会" in listing and "B の勉強会" not in listing
    admin = app.test_client()
    login_with_totp(admin, world["admin"], world["admin_secret"])
    listing = text_of(admin.get("/manage"))
    assert "A の勉強会" in listing and "B の勉強会" in listing


def test_every_manage_page_of_an_event_is_404_for_another_organizer(client, app, login, world):
    """Same status for the organizer and an admin; 404 (existence private) for anyone else."""
    delivery = db.session.scalar(select(Delivery.id).where(Delivery.registration_id == world["reg_a"].id))
    urls = get_urls(app, slug=world["event_a"].slug, reg_id=world["reg_a"].id, delivery_id=delivery, prefix="/manage/")
    urls = {e: u for e, u in urls.items() if "<" not in u and (world["event_a"].slug in u or str(world["reg_a"].id) in u)}
    assert len(urls) >= 25
    owner, other, admin = client, app.test_client(), app.test_client()
    login(world["a"])
    assert other.post("/login", data={"email": world["b"].email, "password": PASSWORD}).status_code == 302
    login_with_totp(admin, world["admin"], world["admin_secret"])
    for endpoint, url in sorted(urls.items()):
        r = owner.get(url)
        mine = r.status_code  # 302: e.g. no survey yet → the survey page
        assert mine in (200, 302) and "/login" not in r.headers.get("Location", ""), (endpoint, url, mine)
        assert admin.get(url).status_code == mine, (endpoint, url)
        assert other.get(url).status_code == 404, (endpoint, url)


def test_every_organizer_api_call_on_an_event_is_404_for_another_organizers_token(api, make, world):
    token_a, token_b, token_admin = make.token(world["a"]), make.token(world["b"]), make.token(world["admin"])
    slug, reg_id = world["event_a"].slug, world["reg_a"].id
    checked = 0
    for op in OPERATIONS:
        if op.method != "GET" or "organizer" not in op.auth or op.auth_optional:
            continue
        if "<slug>" not in op.rule and "<int:reg_id>" not in op.rule:
            continue
        path = op.rule.replace("<slug>", slug).replace("<int:reg_id>", str(reg_id))
        mine = api("get", path, token_a).status_code
        assert mine in (200, 404), (op.rule, mine)  # 404: nothing there yet (no survey, no teams)
        assert api("get", path, token_admin).status_code == mine, op.rule
        r = api("get", path, token_b)
        assert r.status_code == 404, (op.rule, r.status_code)
        assert api("get", path).status_code == 401, op.rule
        checked += 1
    assert checked >= 10


def test_a_staff_link_reaches_the_desk_and_reception_list_of_its_event_only(app, make, world):
    event, other = world["event_a"], make.event(world["a"], title="同じ主催者の別のイベント")
    link, token = checkin_service.create_staff_link(event, "受付1", expires_at=now_utc() + timedelta(hours=6),
                                                    created_by=world["a"], now=now_utc())
    db.session.commit()
    staff, anon = app.test_client(), app.test_client()
    assert staff.get(f"/staff/{token}").status_code == 302
    reached = set()
    for target in (event, other):
        urls = get_urls(app, slug=target.slug, reg_id=world["reg_a"].id)
        for endpoint, url in sorted(urls.items()):
            s, a = staff.get(url).status_code, anon.get(url).status_code
            if target is event and endpoint in DESK:
                assert s == 200, (endpoint, s)
                reached.add(endpoint)
                continue
            # anything else: what anyone gets, or less (never a page anonymous users don't see)
            assert s == a or (s >= 400 and a >= 300), (endpoint, url, s, a)
    assert reached == DESK
    # its token on the JSON API: check-in calls of its event, nothing else
    for op in OPERATIONS:
        if op.method != "GET" or "<slug>" not in op.rule:
            continue
        for target in (event, other):
            path = "/api/v1" + op.rule.replace("<slug>", target.slug)
            s = staff.get(path, headers={"Authorization": f"Bearer {token}"}).status_code
            if op.auth_optional:  # a public read: the token shows no more than anyone sees
                assert s == anon.get(path).status_code, (op.rule, target.slug, s)
            elif target is event and "staff" in op.auth:
                assert s == 200, (op.rule, s)
            else:
                assert s in (401, 404), (op.rule, target.slug, s)


# ------------------------------------------------------------------ the admin's organizer page
def test_organizer_page_is_for_admins_only(client, login, world):
    login(world["a"])
    r = client.get("/admin/organizers")
    assert r.status_code == 403
    assert client.post("/admin/organizers", data={"email": "x@city.naha.lg.jp", "name": "x", "password": "x" * 12}).status_code == 403
    assert client.post(f"/admin/organizers/{world['b'].id}/deactivate").status_code == 403
    db.session.refresh(world["b"])
    assert world["b"].is_active_account
    assert "主催者アカウントの管理" not in text_of(client.get("/account"))


def test_admin_lists_creates_and_deactivates_organizers(client, app, api, make, world):
    login_with_totp(client, world["admin"], world["admin_secret"])
    page = client.get("/admin/organizers")
    assert page.status_code == 200 and page.headers["Cache-Control"] == "no-store"
    for o in (world["a"], world["b"], world["admin"]):
        assert o.email in text_of(page)
    # create
    r = client.post("/admin/organizers", data={"email": "New.Person@City.Naha.lg.jp", "name": "新任 太郎",
                                               "password": "initial password 1"})
    assert r.status_code == 302
    assert "新任 太郎" in text_of(client.get("/admin/organizers"))
    newbie = app.test_client()
    assert newbie.post("/login", data={"email": "new.person@city.naha.lg.jp", "password": "initial password 1"}).status_code == 302
    dup = client.post("/admin/organizers", data={"email": "new.person@city.naha.lg.jp", "name": "x", "password": "x" * 12})
    assert dup.status_code == 422 and "既に登録されています" in text_of(dup)
    short = client.post("/admin/organizers", data={"email": "y@city.naha.lg.jp", "name": "y", "password": "short"})
    assert short.status_code == 422 and "10文字以上" in text_of(short)
    long = client.post("/admin/organizers", data={"email": "y@city.naha.lg.jp", "name": "y", "password": "z" * 1001})
    assert long.status_code == 422 and "1000文字以内で入力してください" in text_of(long)
    assert "10文字以上にしてください" not in text_of(long)
    common = client.post("/admin/organizers", data={"email": "y@city.naha.lg.jp", "name": "y", "password": "password123"})
    assert common.status_code == 422 and "よく使われているパスワードのため使えません" in text_of(common)
    own = client.post("/admin/organizers", data={"email": "yamada@city.naha.lg.jp", "name": "山田 花子",
                                                 "password": "yamada-initial-1"})
    assert own.status_code == 422 and "メールアドレスや名前を含むパスワードは使えません" in text_of(own)
    # deactivate B: their open session and their API token stop at once
    b_browser = app.test_client()
    assert b_browser.post("/login", data={"email": world["b"].email, "password": PASSWORD}).status_code == 302
    b_token = make.token(world["b"])
    assert api("get", "/events", b_token).status_code == 200
    r = client.post(f"/admin/organizers/{world['b'].id}/deactivate")
    assert r.status_code == 302
    assert b_browser.get("/manage").status_code == 302
    assert api("get", "/events", b_token).status_code == 401
    assert b_browser.post("/login", data={"email": world["b"].email, "password": PASSWORD}).status_code == 422
    # reactivate
    client.post(f"/admin/organizers/{world['b'].id}/activate")
    assert api("get", "/events", b_token).status_code == 200
    assert b_browser.post("/login", data={"email": world["b"].email, "password": PASSWORD}).status_code == 302


def test_admin_cannot_deactivate_themselves(client, world):
    login_with_totp(client, world["admin"], world["admin_secret"])
    r = client.post(f"/admin/organizers/{world['admin'].id}/deactivate", follow_redirects=True)
    assert "自分のアカウントは無効にできません" in text_of(r)
    db.session.refresh(world["admin"])
    assert world["admin"].is_active_account
    assert client.post("/admin/organizers/999999/deactivate").status_code == 404


def test_an_admin_created_on_the_page_sets_up_totp_at_first_login(client, app, world):
    login_with_totp(client, world["admin"], world["admin_secret"])
    client.post("/admin/organizers", data={"email": "admin2@digital.go.jp", "name": "管理 二郎",
                                           "password": "initial password 2", "is_admin": "y"})
    second = app.test_client()
    r = second.post("/login", data={"email": "admin2@digital.go.jp", "password": "initial password 2"})
    assert r.headers["Location"].endswith("/account/two-factor")
