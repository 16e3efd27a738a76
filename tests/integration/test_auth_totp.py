"""The second factor: setup with a QR code, confirmation, recovery codes, login step 2,
admins required to have it, and the reset from the command line."""

from __future__ import annotations

import re
from datetime import timedelta
from urllib.parse import parse_qs, unquote, urlsplit

import pytest
from flask import current_app
from sqlalchemy import select, update

from eventsvc.auth import service, totp
from eventsvc.auth.models import Organizer, RecoveryCode
from eventsvc.core.clock import now_utc
from eventsvc.extensions import db
from tests.factories import PASSWORD
from tests.integration.auth_support import enable_totp, fresh_code, login_with_totp, text_of

CODE_RE = re.compile(r"[2-9A-Z]{4}-[2-9A-Z]{4}-[2-9A-Z]{4}-[2-9A-Z]{4}")


def secret_on_page(response) -> str:
    m = re.search(r'id="totp-secret"[^>]*value="([A-Z2-7 ]+)"', response.get_data(as_text=True))
    assert m, "the secret is shown as text for manual entry"
    return m.group(1).replace(" ", "")


def test_setup_shows_a_qr_code_and_the_secret_then_needs_a_code(client, login, organizer):
    login(organizer)
    page = client.get("/account/two-factor")
    assert page.status_code == 200 and page.headers["Cache-Control"] == "no-store"
    html = page.get_data(as_text=True)
    assert '<svg class="qr" role="img" aria-label="認証アプリで読み取るQRコード"' in html
    secret = secret_on_page(page)
    assert len(secret) == 32
    # a reload shows the same secret (a scanned code stays good until confirmed)
    assert secret_on_page(client.get("/account/two-factor")) == secret
    db.session.refresh(organizer)
    assert organizer.totp_secret is None and secret not in organizer.totp_pending_secret  # sealed
    assert totp.unseal(organizer.totp_pending_secret, totp.sealing_key(str(current_app.secret_key))) == secret

    bad = client.post("/account/two-factor", data={"code": "123456" if totp.code_at(secret, now_utc()) != "123456" else "654321"})
    assert bad.status_code == 422 and "確認コードが正しくありません" in text_of(bad)
    db.session.refresh(organizer)
    assert not organizer.has_totp

    done = client.post("/account/two-factor", data={"code": totp.code_at(secret, now_utc())})
    assert done.status_code == 200 and done.headers["Cache-Control"] == "no-store"
    codes = CODE_RE.findall(text_of(done))
    assert len(codes) == 10 and len(set(codes)) == 10
    assert "今だけ表示されます" in text_of(done)
    db.session.refresh(organizer)
    assert organizer.has_totp and organizer.totp_pending_secret is None
    assert secret not in organizer.totp_secret and totp.is_sealed(organizer.totp_secret)
    # stored hashed: neither the codes nor anything typed-looking is in the table
    stored = db.session.scalars(select(RecoveryCode.code_hash).where(RecoveryCode.organizer_id == organizer.id)).all()
    assert len(stored) == 10
    for code in codes:
        assert code not in stored and code.replace("-", "") not in stored
        assert totp.hash_recovery_code(code) in stored
    # this browser stays in; the page now shows the status, never the codes again
    again = client.get("/account/two-factor")
    assert again.status_code == 200 and "有効です" in text_of(again) and not CODE_RE.search(text_of(again))


def test_the_qr_code_carries_an_otpauth_uri_for_this_account(app, organizer):
    uri = totp.provisioning_uri("JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP", organizer.email, app.config["TOTP_ISSUER"])
    parts = urlsplit(uri)
    assert parts.scheme == "otpauth" and parts.netloc == "totp"
    assert unquote(parts.path) == f"/eventsvc:{organizer.email}"
    query = parse_qs(parts.query)
    assert query["secret"] == ["JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"] and query["issuer"] == ["eventsvc"]


def test_enabling_ends_other_sessions(client, login, organizer, app):
    phone = app.test_client()
    login(organizer)
    assert phone.post("/login", data={"email": organizer.email, "password": PASSWORD}).status_code == 302
    secret = secret_on_page(client.get("/account/two-factor"))
    client.post("/account/two-factor", data={"code": totp.code_at(secret, now_utc())})
    assert client.get("/manage").status_code == 200
    assert phone.get("/manage").status_code == 302


def test_login_asks_for_the_second_factor_and_takes_a_code_once(client, organizer, app):
    secret, _codes = enable_totp(organizer)
    r = client.post("/login", data={"email": organizer.email, "password": PASSWORD, "next": "/manage?from=2fa"})
    assert r.status_code == 302 and r.headers["Location"].endswith("/login/verify")
    # not logged in yet: the password alone opens nothing
    assert client.get("/manage").status_code == 302
    r = client.get("/login/verify")
    assert r.status_code == 200 and "確認コード" in text_of(r)
    assert client.post("/login/verify", data={"code": "000000" if totp.code_at(secret, now_utc()) != "000000" else "111111"}).status_code == 422
    code = fresh_code(organizer, secret)
    r = client.post("/login/verify", data={"code": code})
    assert r.status_code == 302 and r.headers["Location"].endswith("/manage?from=2fa")
    assert client.get("/manage").status_code == 200
    # the same code again (seen over a shoulder) is refused, even in its 30 seconds
    client.post("/logout")
    other = app.test_client()
    other.post("/login", data={"email": organizer.email, "password": PASSWORD})
    assert other.post("/login/verify", data={"code": code}).status_code == 422
    assert other.get("/manage").status_code == 302


USED = "このコードは使用済みです。認証アプリに次のコードが表示されてから入力してください。"


def test_a_code_just_used_is_refused_saying_so_and_a_wrong_one_is_not(client, organizer, app):
    """Logging in again within the same 30 seconds (another browser, after a logout): the code
    on the app is right but spent; the page says to wait for the next one, not that it is wrong."""
    secret, codes = enable_totp(organizer)
    code = fresh_code(organizer, secret)
    assert client.post("/login", data={"email": organizer.email, "password": PASSWORD}).status_code == 302
    assert client.post("/login/verify", data={"code": code}).status_code == 302
    client.post("/logout")
    assert client.post("/login", data={"email": organizer.email, "password": PASSWORD}).status_code == 302
    again = client.post("/login/verify", data={"code": code})
    assert again.status_code == 422 and USED in text_of(again) and "正しくありません" not in text_of(again)
    assert client.get("/manage").status_code == 302  # still not in
    wrong = client.post("/login/verify", data={"code": "000000" if code != "000000" else "111111"})
    assert wrong.status_code == 422 and "確認コードが正しくありません" in text_of(wrong) and USED not in text_of(wrong)
    # a recovery code typed twice is just wrong (nothing about steps)
    assert client.post("/login/verify", data={"code": codes[0]}).status_code == 302
    client.post("/logout")
    client.post("/login", data={"email": organizer.email, "password": PASSWORD})
    reused = client.post("/login/verify", data={"code": codes[0]})
    assert reused.status_code == 422 and USED not in text_of(reused)


def test_renewing_recovery_codes_with_the_code_just_used_to_log_in_says_so(client, organizer):
    secret, _ = enable_totp(organizer)
    code = fresh_code(organizer, secret)
    client.post("/login", data={"email": organizer.email, "password": PASSWORD})
    assert client.post("/login/verify", data={"code": code}).status_code == 302
    r = client.post("/account/two-factor/recovery-codes", data={"renew-code": code})
    assert r.status_code == 422 and USED in text_of(r)
    r = client.post("/account/two-factor/recovery-codes", data={"renew-code": fresh_code(organizer, secret)})
    assert r.status_code == 200 and len(CODE_RE.findall(text_of(r))) == 10


def test_full_width_digits_and_spaces_are_accepted(client, organizer):
    secret, _ = enable_totp(organizer)
    client.post("/login", data={"email": organizer.email, "password": PASSWORD})
    code = fresh_code(organizer, secret)
    typed = "".join("０１２３４５６７８９"[int(c)] for c in code[:3]) + " " + code[3:]
    assert client.post("/login/verify", data={"code": typed}).status_code == 302


def test_a_recovery_code_works_once(client, organizer, app):
    _secret, codes = enable_totp(organizer)
    client.post("/login", data={"email": organizer.email, "password": PASSWORD})
    r = client.post("/login/verify", data={"code": codes[0].lower().replace("-", " ")})
    assert r.status_code == 302
    assert "残りは9個" in text_of(client.get(r.headers["Location"]))
    client.post("/logout")
    client.post("/login", data={"email": organizer.email, "password": PASSWORD})
    assert client.post("/login/verify", data={"code": codes[0]}).status_code == 422
    assert client.post("/login/verify", data={"code": codes[1]}).status_code == 302


def test_step_two_needs_a_recent_step_one(client, organizer):
    secret, _ = enable_totp(organizer)
    assert client.get("/login/verify").status_code == 302  # no password given
    client.post("/login", data={"email": organizer.email, "password": PASSWORD})
    with client.session_transaction() as sess:
        sess["login_2fa"]["at"] -= 301
        sess.modified = True
    r = client.post("/login/verify", data={"code": fresh_code(organizer, secret)})
    assert r.status_code == 302 and r.headers["Location"].endswith("/login")
    assert client.get("/manage").status_code == 302


def test_step_two_dies_when_the_password_changes_meanwhile(client, organizer):
    from eventsvc.auth import service

    secret, _ = enable_totp(organizer)
    client.post("/login", data={"email": organizer.email, "password": PASSWORD})
    service.set_password(organizer, "a brand new password", now_utc())
    db.session.commit()
    r = client.post("/login/verify", data={"code": fresh_code(organizer, secret)})
    assert r.status_code == 302 and r.headers["Location"].endswith("/login")
    assert client.get("/manage").status_code == 302


def test_wrong_codes_count_towards_the_account_lock(client, organizer):
    secret, _ = enable_totp(organizer)
    client.post("/login", data={"email": organizer.email, "password": PASSWORD})
    wrong = "000000" if totp.code_at(secret, now_utc()) != "000000" else "111111"
    for _ in range(4):
        assert client.post("/login/verify", data={"code": wrong}).status_code == 422
    r = client.post("/login/verify", data={"code": wrong})
    assert r.status_code == 302 and r.headers["Location"].endswith("/login")
    assert "ログインの失敗が続いたため" in text_of(client.get("/login"))
    # the lock holds for the password step too, and a good code can't be slipped in
    assert client.post("/login", data={"email": organizer.email, "password": PASSWORD}).status_code == 429
    assert client.post("/login/verify", data={"code": fresh_code(organizer, secret)}).status_code == 302
    assert client.get("/manage").status_code == 302


def test_organizer_can_turn_it_off_with_the_password(client, organizer):
    secret, _ = enable_totp(organizer)
    login_with_totp(client, organizer, secret)
    r = client.post("/account/two-factor/disable", data={"disable-password": "wrong password"})
    assert r.status_code == 422 and "パスワードが正しくありません" in text_of(r)
    r = client.post("/account/two-factor/disable", data={"disable-password": PASSWORD})
    assert r.status_code == 302
    db.session.refresh(organizer)
    assert not organizer.has_totp
    assert db.session.scalar(select(RecoveryCode.id)) is None
    assert client.get("/manage").status_code == 200  # this session goes on
    client.post("/logout")
    assert client.post("/login", data={"email": organizer.email, "password": PASSWORD}).headers["Location"].endswith("/manage")


def test_renewing_recovery_codes_needs_a_current_code_and_replaces_the_old_ones(client, organizer):
    secret, old = enable_totp(organizer)
    login_with_totp(client, organizer, secret)
    r = client.post("/account/two-factor/recovery-codes", data={"renew-code": "12"})
    assert r.status_code == 422
    r = client.post("/account/two-factor/recovery-codes", data={"renew-code": fresh_code(organizer, secret)})
    assert r.status_code == 200
    new = CODE_RE.findall(text_of(r))
    assert len(new) == 10 and not set(new) & set(old)
    client.post("/logout")
    client.post("/login", data={"email": organizer.email, "password": PASSWORD})
    assert client.post("/login/verify", data={"code": old[0]}).status_code == 422
    assert client.post("/login/verify", data={"code": new[0]}).status_code == 302


# ------------------------------------------------------------------ admins must have it
MANAGE_PAGES = ["/manage", "/account", "/account/tokens", "/account/password", "/admin/organizers"]


def test_admin_without_totp_is_sent_to_setup_from_every_page(client, make):
    admin = make.organizer(admin=True)
    event = make.event(make.organizer())
    r = client.post("/login", data={"email": admin.email, "password": PASSWORD})
    assert r.status_code == 302 and r.headers["Location"].endswith("/account/two-factor")
    for url in MANAGE_PAGES + [f"/manage/events/{event.slug}", f"/manage/events/{event.slug}/registrations",
                               f"/events/{event.slug}/checkin/", f"/manage/events/{event.slug}/registrations.csv"]:
        r = client.get(url)
        assert r.status_code == 302 and r.headers["Location"].endswith("/account/two-factor"), url
    assert client.post(f"/manage/events/{event.slug}/copy").headers["Location"].endswith("/account/two-factor")
    r = client.get(f"/events/{event.slug}/checkin/state.json")
    assert r.status_code == 403 and r.json["error"] == "totp_required"
    page = client.get("/account/two-factor")
    assert page.status_code == 200 and "管理者のアカウントでは二段階認証が必須です" in text_of(page)
    # done: everything opens
    secret = secret_on_page(page)
    assert client.post("/account/two-factor", data={"code": totp.code_at(secret, now_utc())}).status_code == 200
    for url in MANAGE_PAGES + [f"/manage/events/{event.slug}"]:
        assert client.get(url).status_code == 200, url


def test_admin_cannot_turn_it_off(client, make):
    admin = make.organizer(admin=True)
    secret, _ = enable_totp(admin)
    login_with_totp(client, admin, secret)
    r = client.post("/account/two-factor/disable", data={"disable-password": PASSWORD})
    assert r.status_code == 422 and "管理者は二段階認証を無効にできません" in text_of(r)
    db.session.refresh(admin)
    assert admin.has_totp


def test_cli_creates_an_admin_who_sets_up_totp_at_first_login(runner, client):
    r = runner.invoke(args=["organizer", "create", "--email", "Admin@Digital.go.jp", "--name", "管理 花子",
                            "--password", "a long enough password", "--admin"])
    assert r.exit_code == 0, r.output
    assert "second factor" in r.output
    r = client.post("/login", data={"email": "admin@digital.go.jp", "password": "a long enough password"})
    assert r.headers["Location"].endswith("/account/two-factor")
    assert client.get("/manage").headers["Location"].endswith("/account/two-factor")


def test_cli_reset_2fa_for_a_locked_out_admin(runner, client, make, app):
    admin = make.organizer(admin=True)
    secret, codes = enable_totp(admin)
    logged_in = app.test_client()
    login_with_totp(logged_in, admin, secret)
    r = runner.invoke(args=["organizer", "reset-2fa", "--email", admin.email.upper()])
    assert r.exit_code == 0, r.output
    db.session.refresh(admin)
    assert not admin.has_totp and db.session.scalar(select(RecoveryCode.id)) is None
    assert logged_in.get("/account").status_code == 302  # their sessions ended
    # password only now, then straight to the setup page
    r = client.post("/login", data={"email": admin.email, "password": PASSWORD})
    assert r.headers["Location"].endswith("/account/two-factor")
    assert runner.invoke(args=["organizer", "reset-2fa", "--email", "nobody@example.lg.jp"]).exit_code == 1


def test_totp_is_optional_for_organizers(client, login, organizer):
    login(organizer)
    assert client.get("/manage").status_code == 200
    assert "二段階認証を設定する" in text_of(client.get("/account"))


@pytest.mark.parametrize("offset", [-30, 0, 30])
def test_codes_of_the_neighbouring_steps_are_accepted(client, organizer, offset):
    secret, _ = enable_totp(organizer)
    db.session.execute(update(Organizer).where(Organizer.id == organizer.id).values(totp_last_step=None))
    db.session.commit()
    client.post("/login", data={"email": organizer.email, "password": PASSWORD})
    code = totp.code_at(secret, now_utc() + timedelta(seconds=offset))
    assert client.post("/login/verify", data={"code": code}).status_code == 302


# ------------------------------------------------------------------ secrets at rest
def test_a_secret_stored_before_sealing_still_works_and_is_sealed_at_its_next_use(client, organizer):
    secret = totp.new_secret()
    organizer.totp_secret, organizer.totp_enabled_at = secret, now_utc()  # as an older version kept it
    db.session.commit()
    assert service.check_second_factor(organizer, totp.code_at(secret, now_utc()), now_utc()) == "totp"
    db.session.commit()
    db.session.refresh(organizer)
    assert totp.is_sealed(organizer.totp_secret) and secret not in organizer.totp_secret


def test_a_new_secret_key_cannot_read_second_factors_and_reset_2fa_recovers(app, client, organizer, runner,
                                                                             monkeypatch):
    secret, _codes = enable_totp(organizer)
    monkeypatch.setattr(app, "secret_key", "a-different-secret-key-from-now-on")
    # a copy of the database with another key: the second factor is unreadable, never a 500
    r = client.post("/login", data={"email": organizer.email, "password": PASSWORD})
    assert r.status_code == 302
    r = client.post(r.headers["Location"], data={"code": totp.code_at(secret, now_utc())})
    assert r.status_code in (200, 422) and "/manage" not in r.headers.get("Location", "")
    result = runner.invoke(args=["organizer", "reset-2fa", "--email", organizer.email])
    assert result.exit_code == 0, result.output
    db.session.expire_all()
    assert not db.session.get(Organizer, organizer.id).has_totp
