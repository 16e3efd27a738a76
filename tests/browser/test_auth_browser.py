"""Organizer accounts in a real Chromium: TOTP set up by scanning the QR code, login with
the second factor, an admin kept on the setup page, the account pages (axe 0 on each),
all without JavaScript."""

from __future__ import annotations

import io
import re
from urllib.parse import parse_qs, urlsplit

import pytest
from sqlalchemy import update

from eventsvc.auth import totp
from eventsvc.auth.models import Organizer
from eventsvc.core.clock import now_utc
from eventsvc.extensions import db
from tests import factories as make
from tests.browser_fixtures import assert_accessible

pytestmark = pytest.mark.browser


def settle():
    """End this thread's transaction (SQLite would hold a lock or an old snapshot)."""
    db.session.rollback()


def new_organizer(**kw):
    organizer = make.organizer(**kw)
    settle()
    return organizer


def forget_last_step(organizer):
    """Each TOTP step is good once; a test that logs in twice within 30 s needs the next one."""
    from eventsvc import database

    settle()
    intent = database.set_write_intent(True)  # wait for the write lock instead of failing on a stale read
    try:
        db.session.execute(update(Organizer).where(Organizer.id == organizer.id).values(totp_last_step=None))
        db.session.commit()
    finally:
        database.reset_write_intent(intent)


def code_now(secret: str) -> str:
    return totp.code_at(secret, now_utc())


def password_step(page, organizer):
    page.goto(page.base + "/login")
    page.get_by_label("メールアドレス").fill(organizer.email)
    page.get_by_label("パスワード").fill(make.PASSWORD)
    page.get_by_role("button", name="ログイン").click()


def scan_qr(page) -> str:
    """The secret in the QR code on the setup page, as an authenticator app reads it."""
    import zxingcpp
    from PIL import Image

    shot = page.locator("svg.qr").screenshot()
    decoded = zxingcpp.read_barcodes(Image.open(io.BytesIO(shot)))
    assert decoded, "the QR code decodes"
    uri = decoded[0].text
    parts = urlsplit(uri)
    assert parts.scheme == "otpauth" and parts.netloc == "totp"
    return parse_qs(parts.query)["secret"][0]


def test_set_up_totp_by_scanning_then_log_in_with_a_code(page_nojs):
    page = page_nojs
    organizer = new_organizer()
    password_step(page, organizer)
    page.wait_for_url("**/manage")
    page.get_by_role("link", name="アカウント").first.click()
    page.wait_for_url("**/account")
    assert_accessible(page)
    page.get_by_role("link", name="二段階認証を設定する").click()
    page.wait_for_url("**/account/two-factor")
    assert_accessible(page)
    secret = scan_qr(page)
    typed = page.get_by_label("設定キー").input_value().replace(" ", "")
    assert typed == secret
    # a wrong code first: an error tied to the field, then the right one
    page.get_by_label("確認コード").fill("12345")
    page.get_by_role("button", name="確認して有効にする").click()
    assert page.get_by_role("alert").is_visible()
    assert page.get_by_label("確認コード").get_attribute("aria-invalid") == "true"
    assert_accessible(page)
    page.get_by_label("確認コード").fill(code_now(secret))
    page.get_by_role("button", name="確認して有効にする").click()
    page.get_by_role("heading", name="リカバリーコード").wait_for()
    codes = re.findall(r"[2-9A-Z]{4}-[2-9A-Z]{4}-[2-9A-Z]{4}-[2-9A-Z]{4}", page.locator("main").inner_text())
    assert len(codes) == 10
    assert_accessible(page)
    page.get_by_role("link", name="保管しました").click()
    page.wait_for_url("**/account")
    assert "有効（リカバリーコード残り10個）" in page.locator("main").inner_text()
    # log out, then in again: password, then the code from the app
    page.get_by_role("button", name="ログアウト", exact=True).click()
    password_step(page, organizer)
    page.wait_for_url("**/login/verify")
    assert_accessible(page)
    forget_last_step(organizer)
    page.get_by_label("確認コード").fill(code_now(secret))
    page.get_by_role("button", name="確認してログイン").click()
    page.wait_for_url("**/manage")
    # and once more with a recovery code
    page.get_by_role("button", name="ログアウト", exact=True).click()
    password_step(page, organizer)
    page.wait_for_url("**/login/verify")
    page.get_by_label("確認コード").fill(codes[0].lower())
    page.get_by_role("button", name="確認してログイン").click()
    page.wait_for_url("**/manage")
    assert "残りは9個" in page.locator("main").inner_text()


def test_admin_is_held_on_the_setup_page_until_done(page):
    admin = new_organizer(admin=True)
    password_step(page, admin)
    page.wait_for_url("**/account/two-factor")
    assert "管理者のアカウントでは二段階認証が必須です" in page.locator("main").inner_text()
    for path in ("/manage", "/account/tokens", "/admin/organizers"):
        page.goto(page.base + path)
        assert page.url.endswith("/account/two-factor"), path
    secret = scan_qr(page)
    page.get_by_label("確認コード").fill(code_now(secret))
    page.get_by_role("button", name="確認して有効にする").click()
    page.get_by_role("heading", name="リカバリーコード").wait_for()
    page.goto(page.base + "/admin/organizers")
    page.get_by_role("heading", name="主催者アカウントの管理").wait_for()
    assert_accessible(page)
    # register an organizer, then deactivate them
    page.get_by_label("メールアドレス").fill("shinnin@city.naha.lg.jp")
    page.get_by_role("textbox", name=re.compile("^名前")).fill("新任 花子")
    page.get_by_label("初期パスワード").fill("initial password 3")
    page.get_by_role("button", name="登録する").click()
    page.get_by_role("button", name="新任 花子さんを無効にする").click()
    assert "無効にしました" in page.locator(".flashes").inner_text()
    page.get_by_role("button", name="新任 花子さんを有効にする").wait_for()
    assert_accessible(page)
    # the two-factor status page of an admin
    page.goto(page.base + "/account/two-factor")
    assert "管理者は二段階認証を無効にできません" in page.locator("main").inner_text()
    assert_accessible(page)


def test_password_and_token_pages_without_javascript(page_nojs):
    page = page_nojs
    organizer = new_organizer()
    password_step(page, organizer)
    page.wait_for_url("**/manage")
    page.goto(page.base + "/account/tokens")
    assert_accessible(page)
    page.get_by_label("トークンの名前").fill("受付用スクリプト")
    page.get_by_role("button", name="トークンを作る").click()
    token = page.get_by_label("トークン", exact=True).input_value()
    assert token.startswith("evt_")
    assert_accessible(page)
    page.goto(page.base + "/account/tokens")
    assert token not in page.content()
    page.get_by_role("button", name="「受付用スクリプト」を取り消す").click()
    assert "取り消し済み" in page.locator("main").inner_text()
    # password: a mistake, then a change
    page.goto(page.base + "/account/password")
    assert_accessible(page)
    page.get_by_label("現在のパスワード").fill("not the password")
    page.locator("#new_password").fill("a brand new password")
    page.get_by_label("新しいパスワード（確認）").fill("a brand new password")
    page.get_by_role("button", name="パスワードを変更する").click()
    assert page.get_by_label("現在のパスワード").get_attribute("aria-invalid") == "true"
    assert_accessible(page)
    page.get_by_label("現在のパスワード").fill(make.PASSWORD)
    page.locator("#new_password").fill("a brand new password")
    page.get_by_label("新しいパスワード（確認）").fill("a brand new password")
    page.get_by_role("button", name="パスワードを変更する").click()
    page.wait_for_url("**/account")
    assert "パスワードを変更しました" in page.locator(".flashes").inner_text()


def test_locked_login_message_on_a_phone(phone_nojs):
    page = phone_nojs
    page.goto(page.base + "/login")
    for _ in range(5):
        page.get_by_label("メールアドレス").fill("nobody@city.naha.lg.jp")
        page.get_by_label("パスワード").fill("wrong password")
        page.get_by_role("button", name="ログイン").click()
    assert "ログインの失敗が続いたため" in page.get_by_role("alert").inner_text()
    assert_accessible(page)


# ------------------------------------------------------------------ over HTTPS
@pytest.fixture
def https_site(browser, sqlite_app, sqlite_database, tmp_path):
    """The app served over real TLS (a throwaway self-signed certificate) with CSRF on, as
    deployed: over HTTPS Flask-WTF also checks that the Referer is this site."""
    import shutil
    import ssl
    import subprocess
    import threading

    from werkzeug.serving import make_server

    from eventsvc import create_app, database
    from eventsvc.extensions import limiter
    from tests import conftest

    if shutil.which("openssl") is None:
        pytest.skip("openssl not installed (needed for a throwaway certificate)")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1",
                    "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(key), "-out", str(cert)],
                   check=True, capture_output=True)
    tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    tls.load_cert_chain(cert, key)
    saved = (limiter.enabled, limiter._storage, limiter._limiter)
    app = create_app(conftest.test_config(sqlite_database, WTF_CSRF_ENABLED=True, SESSION_COOKIE_SECURE=True))
    srv = make_server("127.0.0.1", 0, app, threaded=True, ssl_context=tls)
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    ctx = app.app_context()
    ctx.push()
    intent = database.set_write_intent(False)
    context = browser.new_context(java_script_enabled=False, locale="ja-JP", ignore_https_errors=True)
    context.set_default_timeout(10_000)
    page = context.new_page()
    page.base = f"https://127.0.0.1:{srv.server_port}"
    try:
        yield page
    finally:
        context.close()
        srv.shutdown()
        thread.join(5)
        db.session.remove()
        database.reset_write_intent(intent)
        ctx.pop()
        conftest._empty_tables(sqlite_app)
        limiter.enabled, limiter._storage, limiter._limiter = saved


def test_forms_work_over_https_where_csrf_checks_the_referrer(https_site):
    """Flask-WTF refuses an HTTPS form post without a same-site Referer, so no page with a
    form may say ``Referrer-Policy: no-referrer``; pages with tokens in their URL send the
    origin only (``strict-origin``)."""
    from eventsvc.registration import service as reg_service

    page = https_site
    organizer = make.organizer()
    event = make.event(organizer)
    reg = make.registration(event)
    link = reg_service.link_token(reg)
    settle()
    # the organizer logs in and creates a staff link
    password_step(page, organizer)
    page.wait_for_url("**/manage")
    page.goto(page.base + f"/manage/events/{event.slug}/staff-links")
    page.get_by_role("button", name="リンクを作る").click()
    assert "リンクを作りました" in page.locator("main").inner_text()
    # the attendee cancels from their page, through the page that asks first
    page.goto(page.base + f"/my/{link}")
    for path in (f"/my/{link}", f"/my/{link}/cancel"):
        assert page.request.get(page.base + path).headers["referrer-policy"] == "strict-origin"
    page.get_by_role("link", name="参加をキャンセルする").click()
    page.get_by_role("button", name="参加をキャンセルする").click()
    assert "フォームの有効期限" not in page.locator("main").inner_text()
    assert "キャンセルしました" in page.locator("main").inner_text()
