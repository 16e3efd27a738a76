"""Privacy and audit pages in a real Chromium without JavaScript: an attendee deletes their data
(confirmation page, refusal without the box, done page), an organizer's deletion and retention
pages, the admin's audit log; axe finds nothing on any of them."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from eventsvc.audit.models import AuditEntry
from eventsvc.auth import service as auth_service
from eventsvc.auth import totp
from eventsvc.core.clock import now_utc
from eventsvc.extensions import db
from eventsvc.registration import service as registrations
from eventsvc.registration.models import Registration
from tests import factories as make
from tests.browser_fixtures import assert_accessible, login_in_browser

pytestmark = pytest.mark.browser


def settle():
    """End this thread's transaction (SQLite would hold a lock or an old snapshot)."""
    db.session.rollback()


def test_an_attendee_deletes_their_data_without_javascript(page_nojs):
    page = page_nojs
    event = make.event()
    reg = make.registration(event, name="比嘉 カナリア")
    link, reg_id, title = registrations.link_token(reg), reg.id, event.title
    settle()

    page.goto(f"{page.base}/my/{link}")
    page.get_by_role("link", name="個人情報の削除について確認する").click()
    page.get_by_role("heading", name="個人情報の削除", level=1).wait_for()
    assert "元に戻せません" in page.locator("main").inner_text()
    assert_accessible(page)

    page.get_by_role("button", name="申込みを取り消して個人情報を削除する").click()  # box not ticked
    assert "確認のチェックを入れてください" in page.locator("main").inner_text()
    assert_accessible(page)  # the error summary and the field's message
    settle()
    assert db.session.get(Registration, reg_id).erased_at is None

    page.get_by_label("元に戻せないことを理解しました").check()
    page.get_by_role("button", name="申込みを取り消して個人情報を削除する").click()
    page.get_by_role("heading", name="個人情報を削除しました").wait_for()
    assert title in page.locator("main").inner_text()
    assert_accessible(page)
    settle()
    erased = db.session.get(Registration, reg_id)
    assert erased.erased_at is not None and erased.status == "cancelled" and "カナリア" not in erased.name
    settle()
    page.goto(f"{page.base}/my/{link}")
    assert "カナリア" not in page.content()


def test_organizer_deletion_and_retention_pages(page_nojs):
    page = page_nojs
    organizer = make.organizer()
    event = make.event(organizer)
    reg = make.registration(event, name="比嘉 ツグミ")
    reg_id, slug = reg.id, event.slug
    settle()
    login_in_browser(page, organizer)

    page.goto(f"{page.base}/manage/registrations/{reg_id}")
    page.get_by_role("link", name="削除の確認へ進む").click()
    page.get_by_role("heading", name="参加者の削除").wait_for()
    assert_accessible(page)
    page.get_by_label("元に戻せないことを理解しました").check()
    page.get_by_role("button", name="この参加者をすべての記録から削除する").click()
    page.wait_for_url(f"**/manage/events/{slug}/registrations")
    assert "削除しました" in page.locator(".flashes").inner_text()
    settle()
    assert db.session.get(Registration, reg_id) is None
    settle()

    page.goto(f"{page.base}/manage/events/{slug}")
    page.get_by_role("link", name="個人情報の保存期間").click()
    page.get_by_role("heading", name="個人情報の保存期間", level=1).wait_for()
    assert_accessible(page)
    page.get_by_label("個人情報の保存期間（開催終了からの日数）").fill("0")
    page.get_by_role("button", name="保存").click()
    assert "1〜3650日" in page.locator("main").inner_text()
    assert_accessible(page)
    page.get_by_label("個人情報の保存期間（開催終了からの日数）").fill("90")
    page.get_by_role("button", name="保存").click()
    assert "開催終了から90日" in page.locator("main").inner_text()


def test_the_admin_reads_the_audit_log(page_nojs):
    page = page_nojs
    admin = make.organizer(name="管理 花子", admin=True)
    secret = auth_service.pending_totp_secret(admin)
    auth_service.confirm_totp(admin, totp.code_at(secret, now_utc()), now_utc())
    db.session.commit()
    organizer = make.organizer(name="主催 次郎")
    event = make.event(organizer, status="draft")
    slug = event.slug
    settle()
    # something to read: an organizer publishes from the page
    login_in_browser(page, organizer)
    page.goto(f"{page.base}/manage/events/{slug}")
    page.get_by_role("button", name="公開する").click()
    page.get_by_role("button", name="ログアウト").click()
    settle()
    assert db.session.scalars(select(AuditEntry.action)).all()  # recorded
    settle()

    page.goto(page.base + "/login")
    page.get_by_label("メールアドレス").fill(admin.email)
    page.get_by_label("パスワード").fill(make.PASSWORD)
    page.get_by_role("button", name="ログイン").click()
    settle()
    from sqlalchemy import update

    from eventsvc.auth.models import Organizer

    db.session.execute(update(Organizer).where(Organizer.id == admin.id).values(totp_last_step=None))
    db.session.commit()
    page.locator("input[name=code]").fill(totp.code_at(secret, now_utc()))
    page.locator("form button[type=submit]").click()
    page.get_by_role("link", name="監査ログ").click()
    page.get_by_role("heading", name="監査ログ", level=1).wait_for()
    text = page.locator("main").inner_text()
    assert "events.manage_status:published" in text and "主催 次郎" in text and slug in text
    assert_accessible(page)
    page.locator("#who").select_option(label="主催 次郎")
    page.get_by_role("button", name="絞り込む").click()
    assert "events.manage_status:published" in page.locator("main").inner_text()
    assert_accessible(page)
