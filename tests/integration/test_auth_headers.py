"""Security headers on every response: no-store where personal data shows, the camera on
the scanner page only, cookie flags (secure when configured, for the session, the
remember-me cookie and the language cookie alike)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from eventsvc.checkin import service as checkin_service
from eventsvc.core.clock import now_utc
from eventsvc.extensions import db
from eventsvc.outbox.models import Delivery
from eventsvc.registration import service as reg_service
from tests.factories import PASSWORD
from tests.integration.auth_support import get_urls, own_app_fixture  # noqa: F401  (a fixture)

CSP = ("default-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'; "
       "frame-ancestors 'none'; form-action 'self'")


@pytest.fixture
def site(make, organizer):
    event = make.event(organizer)
    reg = make.registration(event)
    delivery = db.session.scalar(select(Delivery.id).where(Delivery.registration_id == reg.id))
    return {"event": event, "reg": reg, "delivery": delivery, "link": reg_service.link_token(reg)}


def walk(app, client, site, token=None):
    urls = get_urls(app, slug=site["event"].slug, reg_id=site["reg"].id, delivery_id=site["delivery"],
                    token=token or site["link"])
    assert len(urls) > 70
    return {endpoint: (url, client.get(url)) for endpoint, url in urls.items()}


def assert_common(endpoint, url, r):
    h = r.headers
    if endpoint != "api.openapi_json":
        assert h.get("Content-Security-Policy", "").startswith("default-src 'self'"), (endpoint, url)
    assert h["X-Content-Type-Options"] == "nosniff", url
    # a page may hold a form, and over HTTPS Flask-WTF needs a same-site Referer for it
    allowed = ("same-origin", "strict-origin") + (("no-referrer",) if 300 <= r.status_code < 400 else ())
    assert h["Referrer-Policy"] in allowed, (endpoint, url, h["Referrer-Policy"])
    assert h["X-Frame-Options"] == "DENY", url
    camera = "camera=(self)" if endpoint == "checkin.desk" and r.status_code == 200 else "camera=()"
    assert h["Permissions-Policy"].startswith(camera), (endpoint, url, h["Permissions-Policy"])


def test_logged_in_organizer_gets_no_store_on_every_page_and_the_camera_on_the_scanner_only(
        app, client, login, organizer, site):
    login(organizer)
    seen = walk(app, client, site)
    assert seen["checkin.desk"][1].status_code == 200
    for endpoint, (url, r) in seen.items():
        assert_common(endpoint, url, r)
        if endpoint != "api.openapi_json":
            assert "no-store" in r.headers.get("Cache-Control", ""), (endpoint, url, r.status_code)


def test_anonymous_visitors_get_no_store_on_personal_pages_and_cacheable_public_pages(app, client, site):
    seen = walk(app, client, site)
    personal = ("/my/", "/manage", "/account", "/admin", "/login", "/api/", "/s/")
    for endpoint, (url, r) in seen.items():
        assert_common(endpoint, url, r)
        is_personal = url.startswith(personal) or "/checkin/" in url or "/survey/r/" in url
        if is_personal and endpoint != "api.openapi_json":
            assert "no-store" in r.headers.get("Cache-Control", ""), (endpoint, url)
    # the attendee's own pages were really served (not a redirect), and carry no-store
    for endpoint in ("registration.attendee", "registration.attendee_edit", "registration.attendee_qr_png"):
        url, r = seen[endpoint]
        assert r.status_code == 200 and "no-store" in r.headers["Cache-Control"], endpoint
    # public pages stay cacheable for anonymous visitors
    for endpoint in ("events.index", "events.show", "events.ics", "events.poster"):
        url, r = seen[endpoint]
        assert r.status_code == 200 and "no-store" not in r.headers.get("Cache-Control", ""), endpoint
    assert seen["api.openapi_json"][1].status_code == 200


def test_a_staff_session_gets_no_store_everywhere(app, client, organizer, site):
    _link, token = checkin_service.create_staff_link(site["event"], "受付1", expires_at=now_utc() + timedelta(hours=3),
                                                     created_by=organizer, now=now_utc())
    db.session.commit()
    assert client.get(f"/staff/{token}").status_code == 302
    for endpoint in ("checkin.reception_list", "checkin.desk", "events.index", "events.show"):
        url = get_urls(app, slug=site["event"].slug, reg_id=0)[endpoint]
        r = client.get(url)
        assert r.status_code == 200 and "no-store" in r.headers["Cache-Control"], endpoint


def test_api_responses_with_personal_data_are_not_stored(api, make, organizer, token, site):
    slug = site["event"].slug
    r = api("post", f"/events/{slug}/registrations", json={
        "name": "比嘉 太郎", "name_kana": "ヒガ タロウ", "email": "higa@city.naha.lg.jp", "organization_code": "472018"})
    assert r.status_code == 201 and r.headers["Cache-Control"] == "no-store"
    for path in (f"/events/{slug}/registrations", f"/registrations/{site['reg'].id}", "/events"):
        r = api("get", path, token)
        assert r.status_code == 200 and r.headers["Cache-Control"] == "no-store", path
    assert api("get", f"/registrations/{site['reg'].id}").headers["Cache-Control"] == "no-store"  # 401 too


# ------------------------------------------------------------------ cookies
def _cookie_header(response, name):
    return next(v for k, v in response.headers.items() if k == "Set-Cookie" and v.startswith(name + "="))


def test_cookies_are_secure_when_configured(own_app, monkeypatch):
    from tests import factories

    monkeypatch.setenv("EVENTSVC_SECURE_COOKIES", "1")
    app = own_app()
    monkeypatch.delenv("EVENTSVC_SECURE_COOKIES")
    assert app.config["SESSION_COOKIE_SECURE"] is True
    assert app.config["REMEMBER_COOKIE_SECURE"] is True
    assert app.config["REMEMBER_COOKIE_HTTPONLY"] is True and app.config["REMEMBER_COOKIE_SAMESITE"] == "Lax"
    with app.app_context():
        organizer = factories.organizer()
        client = app.test_client()
        r = client.post("/login", data={"email": organizer.email, "password": PASSWORD}, base_url="https://localhost")
        session_cookie = _cookie_header(r, "session")
        for flag in ("Secure", "HttpOnly", "SameSite=Lax"):
            assert flag in session_cookie
        assert "remember_token" not in str(r.headers)  # never issued: sessions end with the browser
        lang = _cookie_header(client.get("/lang/en?next=/", base_url="https://localhost"), "lang")
        for flag in ("Secure", "HttpOnly", "SameSite=Lax"):
            assert flag in lang


def test_cookies_work_over_plain_http_by_default_for_lgwan_hosts(own_app):
    from tests import factories

    app = own_app()
    assert app.config["SESSION_COOKIE_SECURE"] is False and app.config["REMEMBER_COOKIE_SECURE"] is False
    with app.app_context():
        organizer = factories.organizer()
        client = app.test_client()
        r = client.post("/login", data={"email": organizer.email, "password": PASSWORD})
        session_cookie = _cookie_header(r, "session")
        assert "Secure" not in session_cookie and "HttpOnly" in session_cookie and "SameSite=Lax" in session_cookie
        lang = _cookie_header(client.get("/lang/en?next=/"), "lang")
        assert "Secure" not in lang and "HttpOnly" in lang and "SameSite=Lax" in lang
        assert client.get("/manage").status_code == 200


def test_csp_has_no_inline_script_allowance(client):
    r = client.get("/")
    assert r.headers["Content-Security-Policy"] == CSP
    assert "unsafe-inline" not in r.headers["Content-Security-Policy"]
