"""Organizer login: throttling per account and per IP, session rotation, server-side logout,
idle timeout and absolute lifetime."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select, update

from eventsvc.auth import service
from eventsvc.auth.models import LoginThrottle, Organizer
from eventsvc.core.clock import now_utc
from eventsvc.extensions import db
from tests.factories import PASSWORD
from tests.integration.auth_support import age_session, own_app_fixture, text_of  # noqa: F401  (a fixture)

LOCKED = "ログインの失敗が続いたため"
WRONG = "メールアドレスまたはパスワードが正しくありません。"


def fail(client, email, password="wrong password!!"):
    return client.post("/login", data={"email": email, "password": password})


# ------------------------------------------------------------------ per account
def test_five_failures_lock_the_account_even_for_the_right_password(client, organizer):
    for _ in range(4):
        r = fail(client, organizer.email)
        assert r.status_code == 422 and WRONG in text_of(r)
    r = fail(client, organizer.email)
    assert r.status_code == 429 and LOCKED in text_of(r) and "1分ほど" in text_of(r)
    r = client.post("/login", data={"email": organizer.email, "password": PASSWORD})
    assert r.status_code == 429 and LOCKED in text_of(r)
    with client.session_transaction() as sess:
        assert "_user_id" not in sess
    # another account from the same browser is not affected
    from tests import factories

    other = factories.organizer()
    assert client.post("/login", data={"email": other.email, "password": PASSWORD}).status_code == 302


def test_unknown_address_gets_the_same_answers_as_a_real_account(client, organizer):
    """Nothing tells whether an address has an account: same statuses, same page text."""
    def answers(email):
        pages = [fail(client, email) for _ in range(6)]
        return [(p.status_code, text_of(p).replace(email, "EMAIL")) for p in pages]

    real = answers(organizer.email)
    unknown = answers("nobody-here@city.naha.lg.jp")
    assert real == unknown
    assert [s for s, _ in real] == [422] * 4 + [429] * 2


def test_deactivated_account_looks_unknown_too(client, make):
    gone = make.organizer()
    gone.is_active_account = False
    db.session.commit()
    r = client.post("/login", data={"email": gone.email, "password": PASSWORD})
    assert r.status_code == 422 and WRONG in text_of(r)


def test_lock_grows_with_each_further_failure_and_a_login_resets(client, organizer, app):
    key = service.throttle_key(organizer.email, app.config["SECRET_KEY"])

    def lock_seconds():
        row = db.session.get(LoginThrottle, key)
        db.session.refresh(row)
        return (row.locked_until - row.last_failed_at).total_seconds()

    def unlock():
        db.session.execute(update(LoginThrottle).where(LoginThrottle.key == key)
                           .values(locked_until=now_utc() - timedelta(seconds=1)))
        db.session.commit()

    for _ in range(5):
        fail(client, organizer.email)
    assert lock_seconds() == 60
    unlock()
    fail(client, organizer.email)
    assert lock_seconds() == 120
    unlock()
    fail(client, organizer.email)
    assert lock_seconds() == 240
    unlock()
    # the lock is over: the right password works, and the count starts again
    assert client.post("/login", data={"email": organizer.email, "password": PASSWORD}).status_code == 302
    assert db.session.get(LoginThrottle, key) is None
    client.post("/logout")
    for _ in range(4):
        assert fail(client, organizer.email).status_code == 422


def test_failures_are_counted_in_the_database_not_per_process(client, organizer, app):
    for _ in range(3):
        fail(client, organizer.email)
    row = db.session.get(LoginThrottle, service.throttle_key(organizer.email, app.config["SECRET_KEY"]))
    assert row.failures == 3 and row.locked_until is None
    # the address itself is not stored, only a keyed hash
    assert organizer.email not in row.key
    # a second client (another process would be the same) sees the same count
    other = app.test_client()
    for _ in range(2):
        fail(other, organizer.email)
    assert fail(client, organizer.email).status_code == 429


def test_the_address_is_normalised_before_counting(client, organizer):
    for variant in (organizer.email.upper(), " " + organizer.email, organizer.email.upper() + " ", organizer.email,
                    organizer.email.title()):
        fail(client, variant)
    assert client.post("/login", data={"email": organizer.email, "password": PASSWORD}).status_code == 429


def test_old_failures_are_forgotten(client, organizer, app):
    for _ in range(4):
        fail(client, organizer.email)
    db.session.execute(update(LoginThrottle).values(last_failed_at=now_utc() - timedelta(days=2)))
    db.session.commit()
    assert fail(client, organizer.email).status_code == 422  # counted from 1 again
    row = db.session.scalar(select(LoginThrottle))
    assert row.failures == 1


def test_lock_settings_come_from_the_config(sqlite_app):
    cfg = sqlite_app.config
    assert (cfg["LOGIN_MAX_FAILURES"], cfg["LOGIN_LOCK_SECONDS"], cfg["LOGIN_LOCK_MAX_SECONDS"]) == (5, 60, 3600)
    policy = service.LoginPolicy(max_failures=3, lock_seconds=10, max_lock_seconds=35)
    assert [policy.lock_for(n) for n in range(1, 7)] == [None, None, timedelta(seconds=10), timedelta(seconds=20),
                                                         timedelta(seconds=35), timedelta(seconds=35)]


# ------------------------------------------------------------------ per IP (Flask-Limiter) and ProxyFix
def _post_logins(client, n, **kw):
    return [client.post("/login", data={"email": f"user{i}@city.naha.lg.jp", "password": "x" * 12}, **kw).status_code
            for i in range(n)]


def test_login_posts_are_limited_per_ip(own_app):
    app = own_app(RATELIMIT_ENABLED=True, RATELIMIT_STORAGE_URI="memory://")
    with app.app_context():
        client = app.test_client()
        codes = _post_logins(client, 21, environ_base={"REMOTE_ADDR": "10.0.0.1"})
        assert codes[:20] == [422] * 20 and codes[20] == 429
        # another address is not affected; the page itself is never limited
        assert _post_logins(client, 1, environ_base={"REMOTE_ADDR": "10.0.0.2"}) == [422]
        assert client.get("/login", environ_base={"REMOTE_ADDR": "10.0.0.1"}).status_code == 200
        # the second step has its own limit per address
        codes = [client.post("/login/verify", data={"code": "000000"}, environ_base={"REMOTE_ADDR": "10.0.0.3"}).status_code
                 for _ in range(21)]
        assert codes[:20] == [302] * 20 and codes[20] == 429


def test_proxy_fix_takes_the_forwarded_address_only_when_configured(own_app):
    behind = own_app(RATELIMIT_ENABLED=True, RATELIMIT_STORAGE_URI="memory://", PROXY_COUNT=1)
    with behind.app_context():
        client = behind.test_client()
        for ip in ("192.0.2.10", "192.0.2.11"):  # two people behind one reverse proxy: separate limits
            codes = _post_logins(client, 20, headers={"X-Forwarded-For": ip}, environ_base={"REMOTE_ADDR": "10.9.9.9"})
            assert codes == [422] * 20, ip
        assert _post_logins(client, 1, headers={"X-Forwarded-For": "192.0.2.10"},
                            environ_base={"REMOTE_ADDR": "10.9.9.9"}) == [429]
    direct = own_app(RATELIMIT_ENABLED=True, RATELIMIT_STORAGE_URI="memory://")
    with direct.app_context():
        client = direct.test_client()
        # without EVENTSVC_PROXY_COUNT the header is not believed: one address, one limit
        codes = _post_logins(client, 20, headers={"X-Forwarded-For": "192.0.2.20"}, environ_base={"REMOTE_ADDR": "10.9.9.8"})
        assert codes == [422] * 20
        assert _post_logins(client, 1, headers={"X-Forwarded-For": "192.0.2.21"},
                            environ_base={"REMOTE_ADDR": "10.9.9.8"}) == [429]


def test_proxy_count_comes_from_the_environment(monkeypatch):
    from eventsvc.config import from_environment

    assert from_environment({"EVENTSVC_PROXY_COUNT": "2"})["PROXY_COUNT"] == 2


@pytest.mark.parametrize(("count", "expected"), [(1, "https://events.example.lg.jp/events/"),
                                                 (0, "http://localhost/events/")])
def test_proxy_fix_gives_the_forwarded_scheme_and_host_to_absolute_urls(own_app, count, expected):
    from tests import factories

    app = own_app(PROXY_COUNT=count)
    with app.app_context():
        event = factories.event()
        r = app.test_client().get(f"/events/{event.slug}/poster", headers={
            "X-Forwarded-Proto": "https", "X-Forwarded-Host": "events.example.lg.jp", "X-Forwarded-For": "192.0.2.1"})
        assert r.status_code == 200
        assert expected + event.slug in r.get_data(as_text=True)


# ------------------------------------------------------------------ the session
def test_login_starts_a_fresh_session(client, organizer):
    with client.session_transaction() as sess:
        sess["planted"] = "by someone else"
        sess["_user_id"] = "999:1"
    before = client.get_cookie("session").value
    r = client.post("/login", data={"email": organizer.email, "password": PASSWORD})
    assert r.status_code == 302
    after = client.get_cookie("session").value
    assert after != before
    with client.session_transaction() as sess:
        assert "planted" not in sess
        assert sess["_user_id"] == f"{organizer.id}:{organizer.session_version}"
        assert isinstance(sess["auth_at"], int) and sess["seen"] == sess["auth_at"]
    assert client.get("/manage").status_code == 200


def test_login_goes_back_to_the_page_asked_for_on_this_site_only(client, organizer):
    r = client.get("/manage?x=1")
    assert r.status_code == 302 and "/login?next=" in r.headers["Location"]
    r = client.post("/login", data={"email": organizer.email, "password": PASSWORD, "next": "/manage?x=1"})
    assert r.headers["Location"].endswith("/manage?x=1")
    client.post("/logout")
    for evil in ("https://evil.example/", "//evil.example/", "/\\evil.example"):
        r = client.post("/login", data={"email": organizer.email, "password": PASSWORD, "next": evil})
        assert r.headers["Location"].endswith("/manage"), evil
        client.post("/logout")


def test_logout_kills_a_copied_cookie(client, organizer, app):
    client.post("/login", data={"email": organizer.email, "password": PASSWORD})
    stolen = client.get_cookie("session").value
    version = organizer.session_version
    assert client.post("/logout").status_code == 302
    db.session.refresh(organizer)
    assert organizer.session_version == version + 1
    thief = app.test_client()
    thief.set_cookie("session", stolen)
    r = thief.get("/manage")
    assert r.status_code == 302 and "/login" in r.headers["Location"]
    assert thief.get("/account").status_code == 302


def test_log_out_other_devices_keeps_this_one(client, organizer, app):
    laptop, phone = client, app.test_client()
    for c in (laptop, phone):
        assert c.post("/login", data={"email": organizer.email, "password": PASSWORD}).status_code == 302
    r = laptop.post("/account/logout-others")
    assert r.status_code == 302
    assert laptop.get("/manage").status_code == 200
    assert phone.get("/manage").status_code == 302
    assert "ほかの端末" in text_of(laptop.get("/account"))


def test_idle_session_ends(client, login, organizer):
    login(organizer)
    age_session(client, seen=timedelta(minutes=119))
    assert client.get("/manage").status_code == 200
    age_session(client, seen=timedelta(minutes=121))
    r = client.get("/manage")
    assert r.status_code == 302 and "/login" in r.headers["Location"]
    page = client.get(r.headers["Location"])
    assert "一定の時間が過ぎたため" in text_of(page)
    assert "このページを見るにはログインしてください" not in text_of(page)
    with client.session_transaction() as sess:
        assert "_user_id" not in sess


def test_activity_keeps_the_session_and_last_seen_moves_at_most_once_a_minute(client, login, organizer):
    login(organizer)
    client.get("/manage")  # the first page stores the CSRF token in the session
    r = client.get("/manage")
    assert "Set-Cookie" not in r.headers  # seen just now: the cookie is not rewritten
    age_session(client, seen=timedelta(seconds=90))
    with client.session_transaction() as sess:
        old = sess["seen"]
    r = client.get("/manage")
    assert r.status_code == 200 and "session=" in r.headers.get("Set-Cookie", "")
    with client.session_transaction() as sess:
        assert sess["seen"] > old


def test_absolute_lifetime_ends_a_busy_session(client, login, organizer):
    login(organizer)
    age_session(client, seen=timedelta(0), auth=timedelta(hours=11, minutes=59))
    assert client.get("/manage").status_code == 200
    age_session(client, seen=timedelta(0), auth=timedelta(hours=12, minutes=1))
    assert client.get("/manage").status_code == 302


def test_a_session_without_login_times_is_not_trusted(client, login, organizer):
    login(organizer)
    with client.session_transaction() as sess:
        del sess["auth_at"]
    assert client.get("/manage").status_code == 302


def test_timeouts_are_configurable(own_app):
    from tests import factories

    app = own_app(SESSION_IDLE_MINUTES=5, SESSION_MAX_HOURS=1)
    with app.app_context():
        organizer = factories.organizer()
        client = app.test_client()
        assert client.post("/login", data={"email": organizer.email, "password": PASSWORD}).status_code == 302
        age_session(client, seen=timedelta(minutes=4))
        assert client.get("/manage").status_code == 200
        age_session(client, seen=timedelta(minutes=6))
        assert client.get("/manage").status_code == 302
        assert client.post("/login", data={"email": organizer.email, "password": PASSWORD}).status_code == 302
        age_session(client, seen=timedelta(0), auth=timedelta(minutes=61))
        assert client.get("/manage").status_code == 302


def test_password_change_elsewhere_ends_the_session(client, login, organizer):
    login(organizer)
    service.set_password(organizer, "another long password", now_utc())
    db.session.commit()
    assert client.get("/manage").status_code == 302


def test_last_login_is_recorded(client, organizer):
    client.post("/login", data={"email": organizer.email, "password": PASSWORD})
    assert db.session.scalar(select(func.count()).select_from(Organizer).where(Organizer.last_login_at.is_not(None))) == 1


def test_the_per_request_session_check_needs_no_database(app, organizer):
    """It runs before every view; a query there would fix SQLite's transaction mode before a
    view like the check-in desk could choose a read-first one."""
    from flask import session
    from sqlalchemy import event

    from eventsvc.auth.views import _enforce_session

    statements = []

    def count(*_args, **_kwargs):
        statements.append(1)

    now, user_id = int(now_utc().timestamp()), f"{organizer.id}:{organizer.session_version}"
    event.listen(db.engine, "before_cursor_execute", count)
    try:
        for seen in (now, now - 90, now - 3 * 3600):  # fresh, to refresh, idle
            with app.test_request_context("/events/x/checkin/scan.json", method="POST"):
                session.update({"_user_id": user_id, "auth_at": now, "seen": seen})
                _enforce_session()
    finally:
        event.remove(db.engine, "before_cursor_execute", count)
    assert statements == []


def test_account_forms_need_the_csrf_token(own_app):
    """The shared test apps switch CSRF off; this one keeps it on as in production."""
    import re

    from tests import factories

    app = own_app(WTF_CSRF_ENABLED=True)
    with app.app_context():
        organizer = factories.organizer()
        client = app.test_client()

        def token_of(url):
            m = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', client.get(url).get_data(as_text=True))
            assert m, url
            return m.group(1)

        assert client.post("/login", data={"email": organizer.email, "password": PASSWORD}).status_code == 400
        r = client.post("/login", data={"email": organizer.email, "password": PASSWORD, "csrf_token": token_of("/login")})
        assert r.status_code == 302
        for url, data in (("/logout", {}), ("/account/logout-others", {}), ("/account/tokens", {"name": "x"}),
                          ("/account/password", {"current_password": PASSWORD, "new_password": "x" * 12,
                                                 "confirm": "x" * 12})):
            assert client.post(url, data=data).status_code in (400, 422), url
        assert client.get("/manage").status_code == 200  # nothing of the above happened
        from werkzeug.security import check_password_hash

        db.session.refresh(organizer)
        assert check_password_hash(organizer.password_hash, PASSWORD)
        assert not organizer.tokens
        r = client.post("/account/logout-others", data={"csrf_token": token_of("/account")})
        assert r.status_code == 302 and client.get("/manage").status_code == 200
        assert client.post("/logout", data={"csrf_token": token_of("/account")}).status_code == 302
        assert client.get("/manage").status_code == 302
