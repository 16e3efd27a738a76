"""Applying again after cancelling, in a real Chromium, with and without JavaScript, in Japanese
and in English: the cancelled ticket page → もう一度申し込む → the form filled in with what was
typed the first time (the required consents to tick again) → a mistake, tied to its field → sent.
And the too-long messages (N文字以内で入力してください。) in the error summary and next to the field.
Each page passes axe and asks no other host for anything."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from eventsvc.extensions import db
from eventsvc.registration import service
from eventsvc.registration.models import Registration
from tests import factories as make
from tests.browser_fixtures import MODE_IDS, MODES, assert_accessible, page_in

pytestmark = pytest.mark.browser

TEXT = {
    "ja": {"cancelled": "キャンセル", "confirmed": "参加確定", "again": "もう一度申し込む",
           "summary": "入力内容を確認してください", "long100": "100文字以内で入力してください。",
           "long200": "200文字以内で入力してください。", "old_link": "このリンクは、申し込み直す前のものです",
           "new_link": "新しいリンクをメールで受け取る", "resend": "申込み確認用リンクの再送"},
    "en": {"cancelled": "Cancelled", "confirmed": "Confirmed", "again": "Apply again",
           "summary": "Please check what you entered", "long100": "Enter up to 100 characters.",
           "long200": "Enter up to 200 characters.", "old_link": "This link is from before you applied again",
           "new_link": "Get a new link by email", "resend": "Resend your registration link"},
}


def settle():
    """End this thread's transaction (on SQLite it would hold a lock or an old snapshot)."""
    db.session.rollback()


def tied_to_its_field(page, field_id: str) -> str:
    """The field's error: linked from the summary, named in the field's aria-describedby, and the
    field marked invalid. Returns the error's text."""
    assert page.locator(f'#error-summary a[href="#{field_id}"]').count() == 1
    field = page.locator(f"#{field_id}")
    assert f"{field_id}-error" in (field.get_attribute("aria-describedby") or "").split()
    assert field.get_attribute("aria-invalid") == "true"
    return page.locator(f"#{field_id}-error").inner_text()


@pytest.mark.parametrize(("javascript", "lang"), MODES, ids=MODE_IDS)
def test_apply_again_from_the_cancelled_ticket_page(browser, live_server, javascript, lang):
    text = TEXT[lang]
    event = make.event()
    gone = make.registration(event, name="比嘉 𠮷太郎", name_kana="ヒガ ヨシタロウ", department="デジタル推進課",
                             ticket_type="online", consent_listing=False, status="cancelled")
    url, email, reg_id = f"{live_server}/my/{service.link_token(gone)}", gone.email, gone.id
    settle()
    page = page_in(browser, live_server, javascript=javascript, lang=lang)
    try:
        page.goto(url)
        assert page.locator("#reg-status").inner_text() == text["cancelled"]
        assert_accessible(page)
        with page.expect_navigation() as nav:
            page.get_by_role("link", name=text["again"]).click()
        assert nav.value.headers["cache-control"] == "no-store"
        assert re.search(r"/register\?again=", page.url)
        # filled in as it was; the optional consent as it was given; the required ones to tick again
        assert page.locator("#name").input_value() == "比嘉 𠮷太郎"
        assert page.locator("#name_kana").input_value() == "ヒガ ヨシタロウ"
        assert page.locator("#email").input_value() == email
        assert page.locator("#department").input_value() == "デジタル推進課"
        assert page.locator("#organization_code").input_value() == "472018"
        assert page.get_by_role("radio", name="オンライン参加").is_checked()
        assert not page.locator("#consent_listing").is_checked()
        assert page.locator("#consent_slack_mention").is_checked()
        assert not page.locator("#consent_privacy").is_checked() and not page.locator("#consent_rules").is_checked()
        assert_accessible(page)
        page.locator("#submit").click()
        page.locator("#error-summary").wait_for()
        assert page.locator("#error-summary h2").inner_text() == text["summary"]
        for consent in ("consent_privacy", "consent_rules"):
            assert tied_to_its_field(page, consent)
        assert page.locator("#name").input_value() == "比嘉 𠮷太郎"  # kept
        assert_accessible(page)
        page.locator("#consent_privacy").check()
        page.locator("#consent_rules").check()
        page.locator("#submit").click()
        page.wait_for_url("**/my/**")
        assert page.locator("#reg-status").inner_text() == text["confirmed"]
        assert_accessible(page)
        # the link of the application before (in the cancellation mail) says what it is, and where to go
        assert page.goto(url).status == 410
        assert page.get_by_role("heading", level=1).inner_text() == text["old_link"]
        assert_accessible(page)
        page.get_by_role("link", name=text["new_link"]).click()
        assert page.get_by_role("heading", level=1).inner_text() == text["resend"]
        assert page.requests.external() == []
    finally:
        page.context.close()
    settle()
    again = db.session.scalars(select(Registration).where(Registration.id == reg_id)).one()
    assert (again.status, again.ticket_type.code, again.department, again.consent_listing) == (
        "confirmed", "online", "デジタル推進課", False)
    settle()


@pytest.mark.parametrize(("javascript", "lang"), MODES, ids=MODE_IDS)
def test_too_long_fields_are_named_in_the_summary_and_next_to_the_field(browser, live_server, javascript, lang):
    """The inputs carry maxlength, so a browser keeps within it; one that does not (or a value
    that grows on the server) gets the app's own words, tied to the field. The page is served
    here without its maxlength attributes to reach that answer."""
    text = TEXT[lang]
    slug = make.event().slug
    settle()
    page = page_in(browser, live_server, javascript=javascript, lang=lang)

    def without_maxlength(route):
        response = route.fetch()
        route.fulfill(response=response, body=re.sub(r' maxlength="\d+"', "", response.text()))

    try:
        page.route(re.compile(r".*/register$"), without_maxlength)
        page.goto(f"{live_server}/events/{slug}/register")
        page.locator("#name").fill("あ" * 101)
        page.locator("#name_kana").fill("あ")
        page.locator("#email").fill("taro@city.naha.lg.jp")
        page.locator("#department").fill("い" * 201)
        page.locator("#submit").click()
        page.locator("#error-summary").wait_for()
        # the reader starts at the list of problems (autofocus: with and without JavaScript)
        page.wait_for_function("document.activeElement && document.activeElement.id === 'error-summary'")
        summary = page.locator("#error-summary").inner_text()
        assert text["long100"] in summary and text["long200"] in summary
        assert text["long100"] in tied_to_its_field(page, "name")
        assert text["long200"] in tied_to_its_field(page, "department")
        assert_accessible(page)
        assert page.requests.external() == []
    finally:
        page.context.close()
