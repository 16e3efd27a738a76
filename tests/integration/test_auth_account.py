"""The organizer's own account pages: password change and API tokens."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from sqlalchemy import select, update

from eventsvc.auth.models import ApiToken
from eventsvc.core.clock import now_utc
from eventsvc.extensions import db
from tests.factories import PASSWORD
from tests.integration.auth_support import text_of

NEW = "a new and long password"


# ------------------------------------------------------------------ password
def test_password_change_needs_the_current_password(client, login, organizer):
    login(organizer)
    page = client.get("/account/password")
    assert page.status_code == 200 and page.headers["Cache-Control"] == "no-store"
    r = client.post("/account/password", data={"current_password": "not it at all", "new_password": NEW, "confirm": NEW})
    assert r.status_code == 422 and "現在のパスワードが正しくありません" in text_of(r)
    r = client.post("/account/password", data={"current_password": PASSWORD, "new_password": "short", "confirm": "short"})
    assert r.status_code == 422 and "10文字以上" in text_of(r)
    long = "a long password " * 63  # 1,008 characters: too long, not too short
    r = client.post("/account/password", data={"current_password": PASSWORD, "new_password": long, "confirm": long})
    assert r.status_code == 422 and "1000文字以内で入力してください" in text_of(r) and "10文字以上にしてください" not in text_of(r)
    r = client.post("/account/password", data={"current_password": PASSWORD, "new_password": NEW, "confirm": NEW + "x"})
    assert r.status_code == 422 and "一致しません" in text_of(r)
    untypable = "\u202e" + NEW  # a bidi override: nobody could type it at the login form
    r = client.post("/account/password", data={"current_password": PASSWORD, "new_password": untypable,
                                               "confirm": untypable})
    assert r.status_code == 422 and "制御文字" in text_of(r)
    r = client.post("/account/password", data={"current_password": PASSWORD, "new_password": PASSWORD,
                                               "confirm": PASSWORD})
    assert r.status_code == 422 and "違うパスワード" in text_of(r)
    # nothing changed so far
    client.post("/logout")
    login(organizer)


def test_password_change_ends_other_sessions_and_keeps_this_one(client, login, organizer, app):
    other = app.test_client()
    login(organizer)
    assert other.post("/login", data={"email": organizer.email, "password": PASSWORD}).status_code == 302
    version = organizer.session_version
    r = client.post("/account/password", data={"current_password": PASSWORD, "new_password": NEW, "confirm": NEW})
    assert r.status_code == 302 and r.headers["Location"].endswith("/account")
    db.session.refresh(organizer)
    assert organizer.session_version == version + 1 and organizer.password_changed_at is not None
    assert client.get("/manage").status_code == 200
    assert other.get("/manage").status_code == 302
    client.post("/logout")
    assert client.post("/login", data={"email": organizer.email, "password": PASSWORD}).status_code == 422
    assert client.post("/login", data={"email": organizer.email, "password": NEW}).status_code == 302


def test_a_common_password_or_one_with_the_address_or_name_is_refused(client, login, make):
    organizer = make.organizer("hanako.yamada@city.naha.lg.jp", "山田 花子")
    login(organizer)
    for new, says in [("password123", "よく使われているパスワード"), ("  QWERTYUIOP ", "よく使われているパスワード"),
                      ("Hanako.Yamada-2024", "メールアドレスや名前を含む"), ("私は山田花子です。よろしく", "メールアドレスや名前を含む")]:
        r = client.post("/account/password", data={"current_password": PASSWORD, "new_password": new, "confirm": new})
        assert r.status_code == 422 and says in text_of(r), new
    # the hint says so before anyone tries
    assert "よく使われているパスワードや、メールアドレス・名前を含むものは使えません" in text_of(client.get("/account/password"))
    # in English too
    client.set_cookie("lang", "en")
    r = client.post("/account/password", data={"current_password": PASSWORD, "new_password": "password123",
                                               "confirm": "password123"})
    assert r.status_code == 422 and "This password is too common" in text_of(r)
    client.post("/logout")
    login(organizer)  # nothing changed


def test_no_way_of_setting_a_password_takes_a_common_one(app, runner, make):
    from eventsvc.auth import service
    from eventsvc.errors import ValidationFailed

    organizer = make.organizer("t.suzuki@city.kurume.fukuoka.jp", "鈴木 太郎")
    for setter in (lambda p: service.set_password(organizer, p, now_utc()),
                   lambda p: service.change_password(organizer, PASSWORD, p, now_utc()),
                   lambda p: service.create_organizer("new@digital.go.jp", "新任 次郎", p)):
        with pytest.raises(ValidationFailed) as refused:
            setter("Password123")
        assert list(refused.value.fields.values()) == [service.COMMON_PASSWORD]
    with pytest.raises(ValidationFailed) as refused:
        service.set_password(organizer, "suzuki-kurume-2024", now_utc())
    assert list(refused.value.fields.values()) == [service.PERSONAL_PASSWORD]
    db.session.rollback()
    # the command line, both commands
    r = runner.invoke(args=["organizer", "create", "--email", "x@city.naha.lg.jp", "--name", "x",
                            "--password", "iloveyou12"])
    assert r.exit_code == 1 and "よく使われているパスワード" in r.output
    r = runner.invoke(args=["organizer", "create", "--email", "hanako@city.naha.lg.jp", "--name", "山田 花子",
                            "--password", "hanako-no-password"])
    assert r.exit_code == 1 and "メールアドレスや名前を含む" in r.output
    version = organizer.session_version
    r = runner.invoke(args=["organizer", "password", "--email", organizer.email, "--password", "1234567890"])
    assert r.exit_code == 1 and "よく使われているパスワード" in r.output
    r = runner.invoke(args=["organizer", "password", "--email", organizer.email, "--password", "short"])
    assert r.exit_code == 1 and "10文字以上" in r.output
    db.session.refresh(organizer)
    assert organizer.session_version == version and organizer.password_changed_at is None
    r = runner.invoke(args=["organizer", "password", "--email", organizer.email, "--password", NEW])
    assert r.exit_code == 0, r.output
    db.session.refresh(organizer)
    assert organizer.session_version == version + 1 and organizer.password_changed_at is not None
    assert service.authenticate(organizer.email, NEW, now_utc(), secret=app.secret_key).organizer is not None


def test_the_password_page_needs_a_login(client):
    r = client.post("/account/password", data={"current_password": PASSWORD, "new_password": NEW, "confirm": NEW})
    assert r.status_code == 302 and "/login" in r.headers["Location"]


# ------------------------------------------------------------------ API tokens
def _created_token(response) -> str:
    m = re.search(r'id="new-token"[^>]*value="(evt_[A-Za-z0-9_\-]+)"', response.get_data(as_text=True))
    assert m, "the new token is shown"
    return m.group(1)


def test_create_use_list_and_revoke_a_token(client, login, organizer, api):
    login(organizer)
    r = client.post("/account/tokens", data={"name": "受付用スクリプト"})
    assert r.status_code == 302 and r.headers["Location"].endswith("/account/tokens")
    r = client.get(r.headers["Location"])
    assert r.status_code == 200 and r.headers["Cache-Control"] == "no-store"
    token = _created_token(r)
    assert "今だけ表示されます" in text_of(r)
    row = db.session.scalar(select(ApiToken))
    assert row.token_hash != token and token not in row.token_hash and row.prefix == token[:10]
    # shown once: the list has the prefix and the name, never the token
    listing = client.get("/account/tokens")
    assert token not in listing.get_data(as_text=True)
    assert "受付用スクリプト" in text_of(listing) and row.prefix in text_of(listing) and "未使用" in text_of(listing)
    # use: last used is noted
    assert api("get", "/events", token).status_code == 200
    db.session.refresh(row)
    assert row.last_used_at is not None
    assert "未使用" not in text_of(client.get("/account/tokens"))
    # revoke: the API refuses it at once
    r = client.post(f"/account/tokens/{row.id}/revoke")
    assert r.status_code == 302
    assert api("get", "/events", token).status_code == 401
    assert "取り消し済み" in text_of(client.get("/account/tokens"))


def test_a_new_token_is_shown_once_after_a_redirect_and_a_reload_creates_none(client, login, organizer, api, app):
    """Post/Redirect/Get: reloading the page that shows the token (no JavaScript needed) asks
    for that page again, which shows the token no more and makes no second one."""
    login(organizer)
    created = client.post("/account/tokens", data={"name": "集計用"})
    assert created.status_code == 302 and created.headers["Location"].endswith("/account/tokens")
    shown = client.get("/account/tokens")
    assert shown.status_code == 200 and shown.headers["Cache-Control"] == "no-store"
    token = _created_token(shown)
    assert "今だけ表示されます" in text_of(shown) and api("get", "/events", token).status_code == 200
    reload = client.get("/account/tokens")
    assert reload.status_code == 200 and token not in reload.get_data(as_text=True)
    assert "今だけ表示されます" not in text_of(reload)
    assert len(db.session.scalars(select(ApiToken)).all()) == 1
    # on its way to that page the token is sealed: the session cookie (signed, not secret) never
    # carries it readably
    cookie = next(h for h in created.headers.getlist("Set-Cookie") if h.startswith(app.config["SESSION_COOKIE_NAME"] + "="))
    carried = app.session_interface.get_signing_serializer(app).loads(cookie.split(";", 1)[0].split("=", 1)[1])
    assert token not in str(carried) and token[4:] not in cookie
    # a failed creation shows no token and keeps none for later
    assert client.post("/account/tokens", data={"name": ""}).status_code == 422
    assert "今だけ表示されます" not in text_of(client.get("/account/tokens"))


def test_a_new_token_is_shown_to_no_other_account_nor_after_a_while(client, login, organizer, make, app):
    from eventsvc.auth import service

    login(organizer)
    assert client.post("/account/tokens", data={"name": "古い"}).status_code == 302
    with client.session_transaction() as sess:
        new = dict(sess["new_api_token"])
    # too old to open: not shown (the token still exists and can be revoked from the list)
    late = now_utc() + timedelta(seconds=service.NEW_TOKEN_SECONDS + 5)
    assert service.open_new_token(new["token"], late, secret=app.config["SECRET_KEY"]) is None
    assert service.open_new_token(new["token"], now_utc(), secret=app.config["SECRET_KEY"]).startswith("evt_")
    assert service.open_new_token("v1:garbage", now_utc(), secret=app.config["SECRET_KEY"]) is None
    # carried into another account's session, it is not shown there
    other = make.organizer()
    client.post("/logout")
    login(other)
    with client.session_transaction() as sess:
        sess["new_api_token"] = new
    page = client.get("/account/tokens")
    assert page.status_code == 200 and 'id="new-token"' not in page.get_data(as_text=True)


def test_last_used_is_written_at_most_once_a_minute(api, organizer, token):
    assert api("get", "/events", token).status_code == 200
    first = db.session.scalar(select(ApiToken.last_used_at))
    assert first is not None
    for _ in range(3):
        api("get", "/events", token)
    assert db.session.scalar(select(ApiToken.last_used_at)) == first
    # a minute later it moves again
    db.session.execute(update(ApiToken).values(last_used_at=now_utc() - timedelta(seconds=61)))
    db.session.commit()
    older = db.session.scalar(select(ApiToken.last_used_at))
    api("get", "/events", token)
    assert db.session.scalar(select(ApiToken.last_used_at)) > older


def test_last_used_is_noted_on_writes_and_failed_calls_too(api, organizer, token, make):
    """A call that fails after auth (422) still used the token; the note survives its rollback."""
    r = api("post", "/events", token, json={"title": ""})
    assert r.status_code == 422
    assert db.session.scalar(select(ApiToken.last_used_at)) is not None


def test_someone_elses_token_cannot_be_revoked(client, login, make, api):
    mine, theirs = make.organizer(), make.organizer()
    their_token = make.token(theirs)
    row = db.session.scalar(select(ApiToken).where(ApiToken.organizer_id == theirs.id))
    login(mine)
    assert client.post(f"/account/tokens/{row.id}/revoke").status_code == 404
    assert api("get", "/events", their_token).status_code == 200
    assert row.prefix not in text_of(client.get("/account/tokens"))


def test_token_names_are_checked(client, login, organizer):
    login(organizer)
    assert client.post("/account/tokens", data={"name": ""}).status_code == 422
    assert client.post("/account/tokens", data={"name": "a\u202eb"}).status_code == 422
    assert client.post("/account/tokens", data={"name": "x" * 101}).status_code == 422
    assert db.session.scalar(select(ApiToken.id)) is None


def test_account_page_shows_role_and_links(client, login, organizer):
    login(organizer)
    page = client.get("/account")
    assert page.status_code == 200 and page.headers["Cache-Control"] == "no-store"
    text = text_of(page)
    assert organizer.email in text and "主催者（自分が主催するイベントを管理できます）" in text
    for link in ("/account/password", "/account/two-factor", "/account/tokens"):
        assert f'href="{link}"' in page.get_data(as_text=True)
    assert 'href="/admin/organizers"' not in page.get_data(as_text=True)
