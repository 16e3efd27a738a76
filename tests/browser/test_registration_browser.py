"""Registration in a real Chromium: without and with JavaScript, the ticket QR, cancelling, axe."""

from __future__ import annotations

import io
from types import SimpleNamespace

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from eventsvc.extensions import db
from eventsvc.registration.models import Registration
from tests import factories as make
from tests.browser_fixtures import (
    MODE_IDS,
    MODES,
    assert_accessible,
    login_in_browser,
    named,
    page_in,
)

pytestmark = pytest.mark.browser


def settle():
    """End this thread's transaction: on SQLite it would hold the write lock (or an old snapshot)
    while the browser's requests run in the server's threads."""
    db.session.rollback()


def new_event(**kw):
    event = make.event(**kw)
    slug = event.slug
    settle()
    return slug


def saved_registrations():
    settle()
    rows = db.session.scalars(select(Registration).order_by(Registration.id)).all()
    settle()
    return rows


def fill_person(page, email: str):
    page.locator("#name").fill("比嘉 𠮷太郎")
    page.locator("#name_kana").fill("ひが よしたろう")
    page.locator("#email").fill(email)
    page.locator("#department").fill("デジタル推進課")


def agree(page):
    page.locator("#consent_privacy").check()
    page.locator("#consent_rules").check()
    page.locator("#consent_listing").check()


def test_register_without_javascript(page_nojs):
    page = page_nojs
    slug = new_event()
    page.goto(f"{page.base}/events/{slug}")
    page.get_by_role("link", name="参加を申し込む").click()
    assert_accessible(page)
    # the no-JS picker: the event's prefecture is preselected with its municipalities
    page.locator("#prefecture").select_option("40")
    page.get_by_role("button", name="この都道府県の団体を表示").click()
    assert page.url.endswith("#org-picker")  # the page comes back where the person was, not at its top
    expect(page.locator("#org-picker")).to_be_in_viewport()
    page.locator("#organization_code").select_option(label="久留米市")
    fill_person(page, "taro@city.kurume.lg.jp")
    page.get_by_role("button", name="申し込む").click()
    assert not page.url.endswith("#org-picker")  # a mistake is summarised at the top, as before
    # a mistake first: the consents are missing → errors tied to the fields, typed values kept
    assert page.locator("#error-summary").is_visible()
    assert page.locator("#consent_privacy").get_attribute("aria-describedby") == "consent_privacy-error"
    assert page.locator("#name").input_value() == "比嘉 𠮷太郎"
    assert_accessible(page)
    agree(page)
    page.get_by_role("button", name="申し込む").click()
    page.wait_for_url("**/my/**")
    assert page.locator("#reg-status").inner_text() == "参加確定"
    assert_accessible(page)
    (reg,) = saved_registrations()
    assert reg.organization_code == "402036" and reg.name == "比嘉 𠮷太郎"
    assert page.requests.external() == []


def test_register_with_javascript_type_ahead(page):
    slug = new_event()
    page.goto(f"{page.base}/events/{slug}/register")
    search = page.get_by_role("combobox", name="団体名で探す（漢字・かな）")
    search.fill("うらそえ")
    option = page.get_by_role("option", name="沖縄県浦添市")
    option.wait_for()
    assert_accessible(page)
    search.press("ArrowDown")
    search.press("Enter")
    assert page.locator("#organization_code").input_value() == "472085"
    fill_person(page, "jiro@city.urasoe.lg.jp")
    agree(page)
    page.get_by_role("button", name="申し込む").click()
    page.wait_for_url("**/my/**")
    (reg,) = saved_registrations()
    assert reg.organization_code == "472085" and reg.organization_name == "沖縄県浦添市"
    assert page.requests.external() == []


def test_ticket_qr_decodes_to_the_code_and_cancel_from_the_page(page):
    import zxingcpp
    from PIL import Image

    from eventsvc.registration import service

    event = make.event()
    reg = make.registration(event)
    url, ticket_code, event_slug = f"{page.base}/my/{service.link_token(reg)}", reg.ticket_code, event.slug
    settle()
    page.goto(url)
    code = page.locator("#ticket-code").inner_text()
    assert code == ticket_code
    shot = page.locator(".ticket-qr").screenshot()
    decoded = zxingcpp.read_barcodes(Image.open(io.BytesIO(shot)))
    assert decoded and decoded[0].text == ticket_code
    assert_accessible(page)
    for sub in ("/edit", "/participants"):
        page.goto(url + sub)
        assert_accessible(page)
    page.goto(f"{page.base}/events/{event_slug}/my-link")
    assert_accessible(page)
    # the page's cancel button is a link to a page that asks first; going back changes nothing
    page.goto(url)
    page.get_by_role("link", name="参加をキャンセルする").click()
    page.wait_for_url("**/cancel")
    assert page.get_by_role("heading", level=1).inner_text() == "参加のキャンセル"
    assert_accessible(page)
    page.get_by_role("link", name="キャンセルしない（戻る）").click()
    page.wait_for_url(url)
    assert page.locator("#reg-status").inner_text() == "参加確定"
    assert [r.status for r in saved_registrations()] == ["confirmed"]
    page.get_by_role("link", name="参加をキャンセルする").click()
    page.get_by_role("button", name="参加をキャンセルする").click()
    page.wait_for_url(url)
    assert "キャンセルしました" in page.locator(".flashes").inner_text()
    assert page.locator("#reg-status").inner_text() == "キャンセル"
    assert [r.status for r in saved_registrations()] == ["cancelled"]


def test_organizer_pages_are_accessible(page):
    organizer = make.organizer()
    event = make.event(organizer)
    make.registration(event)
    make.registration(event, email="x@example.com")
    slug, who = event.slug, SimpleNamespace(email=organizer.email)
    settle()
    login_in_browser(page, who)
    for path in (f"/manage/events/{slug}/registrations", f"/manage/events/{slug}/deliveries",
                 f"/manage/events/{slug}/registration-settings", f"/manage/events/{slug}/message"):
        page.goto(page.base + path)
        assert_accessible(page)
    page.goto(page.base + f"/manage/events/{slug}/registrations")
    page.get_by_role("link", name="確認・お断り").click()
    assert_accessible(page)
    page.get_by_role("button", name="承認する").click()
    assert "承認しました" in page.locator(".flashes").inner_text()
    assert [r.status for r in saved_registrations()] == ["confirmed", "confirmed"]


def test_calling_an_event_off_asks_first_and_tells_the_applicants(page_nojs):
    """Without JavaScript: 中止にする opens a confirmation that says what happens and to whom the notice
    goes; a notice without a subject is refused at its field with nothing changed; then it is done."""
    page = page_nojs
    organizer = make.organizer()
    event = make.event(organizer, title="那覇の勉強会")
    make.registration(event)
    make.registration(event, email="x@example.com")
    slug = event.slug
    settle()
    login_in_browser(page, SimpleNamespace(email=organizer.email))
    page.goto(f"{page.base}/manage/events/{slug}")
    page.get_by_role("link", name="中止にする").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("イベントを中止する")
    expect(page.get_by_label("申込み中の全員にメールで知らせる")).to_be_checked()
    assert_accessible(page)
    page.get_by_label("件名").fill("")
    page.get_by_role("button", name="イベントを中止する").click()
    expect(page.locator("#subject-error")).to_contain_text("件名")
    assert_accessible(page)
    page.get_by_label("件名").fill("【中止のお知らせ】那覇の勉強会")
    page.get_by_role("button", name="イベントを中止する").click()
    expect(page.locator(".flashes")).to_contain_text("2人へのお知らせを送信待ちにしました")
    expect(page.get_by_role("link", name="中止にする")).to_have_count(0)


def test_registrations_page_fits_a_375px_phone(browser, live_server):
    """The counts table scrolls inside its own box (keyboard-reachable, named) instead of squeezing
    its headers to a character per line or widening the page."""
    organizer = make.organizer()
    event = make.event(organizer)
    make.registration(event)
    slug = event.slug
    settle()
    ctx = browser.new_context(locale="ja-JP", viewport={"width": 375, "height": 800})
    page = ctx.new_page()
    page.base = live_server
    try:
        login_in_browser(page, organizer)
        page.goto(f"{page.base}/manage/events/{slug}/registrations")
        assert page.evaluate("document.documentElement.scrollWidth") <= 375
        # every header on one line, not a column of characters
        lines = page.evaluate("""() => [...document.querySelectorAll('.counts-table thead th')].map(th => {
            const r = document.createRange(); r.selectNodeContents(th);
            return r.getBoundingClientRect().height / parseFloat(getComputedStyle(th).lineHeight); })""")
        assert lines and max(lines) < 1.5, lines
        region = page.get_by_role("region", name="参加区分・状態ごとの件数")
        assert region.get_attribute("tabindex") == "0"
        assert_accessible(page)
    finally:
        ctx.close()


def test_held_delivery_and_waitlisted_attendee_pages_are_accessible(page):
    from eventsvc.events import service as events
    from eventsvc.outbox import worker
    from eventsvc.outbox.models import Delivery
    from eventsvc.registration import service

    organizer = make.organizer()
    event = make.event(organizer, ticket_types=[events.TicketTypeData("venue", "会場参加", 1)])
    make.registration(event)
    waiting = make.registration(event)
    worker.run_once()  # no SMTP: held
    held = db.session.scalars(select(Delivery).where(Delivery.state == "held")).first()
    slug, held_id, link = event.slug, held.id, service.link_token(waiting)
    settle()
    page.goto(f"{page.base}/my/{link}")
    assert page.locator("#reg-status").inner_text() == "キャンセル待ち"
    assert page.locator("#waitlist-position").inner_text() == "1番目"
    assert_accessible(page)
    login_in_browser(page, SimpleNamespace(email=organizer.email))
    page.goto(f"{page.base}/manage/events/{slug}/deliveries/{held_id}")
    assert "自動で送信" in page.locator("#state-help").inner_text()
    assert page.get_by_role("button", name="再送する").count() == 0
    assert_accessible(page)


OVER = {
    "ja": {"over": "定員超過で確定", "confirm": "参加確定にする", "warning": "注意:", "waitlisted": "キャンセル待ち",
           "full": "「会場参加」は満席です（定員1人・確保済み{taken}席）。", "done": "参加確定にしました。",
           "filter": "絞り込む", "none": "該当する申込みはありません。"},
    "en": {"over": "Confirm over capacity", "confirm": "Confirm", "warning": "Warning:", "waitlisted": "Waitlisted",
           "full": '"会場参加" is full (capacity 1, seats taken: {taken}).', "done": "Confirmed.",
           "filter": "Filter", "none": "No matching registrations."},
}


@pytest.mark.parametrize(("javascript", "lang"), MODES, ids=MODE_IDS)
def test_confirming_over_capacity_from_the_registration_page_and_the_filtered_list(browser, live_server,
                                                                                 javascript, lang):
    """A full participation type: 定員超過で確定 instead of a 参加確定にする that could only be refused,
    described by the note of the seats; the list keeps its filter after the action."""
    from eventsvc.events import service as events

    text = OVER[lang]
    organizer = make.organizer()
    event = make.event(organizer, ticket_types=[events.TicketTypeData("venue", "会場参加", 1),
                                                events.TicketTypeData("online", "オンライン参加", 10)])
    make.registration(event)
    first, second = make.registration(event), make.registration(event)
    slug, first_id, second_id, who = event.slug, first.id, second.id, SimpleNamespace(email=organizer.email)
    second_name = second.name
    settle()
    page = page_in(browser, live_server, javascript=javascript, lang=lang, organizer=who)
    try:
        # the registration page
        page.goto(f"{live_server}/manage/registrations/{first_id}")
        assert page.get_by_role("button", name=text["confirm"], exact=True).count() == 0
        button = page.get_by_role("button", name=text["over"], exact=True)
        expect(button).to_have_accessible_description(f"{text['warning']} {text['full'].format(taken=1)}")
        assert_accessible(page)
        button.click()
        page.wait_for_url("**/registrations")
        assert text["done"] in page.locator(".flashes").inner_text()
        # the list, filtered to the waitlist: the row says the same, and the filter stays after the action
        page.locator("#status").select_option("waitlisted")
        page.get_by_role("button", name=text["filter"], exact=True).click()
        page.wait_for_url("**status=waitlisted**")
        row = page.locator(f"#reg-{second_id}")
        button = row.get_by_role("button", name=named(text["over"], second_name))  # whose row it is
        expect(button).to_have_accessible_description(f"{text['warning']} {text['full'].format(taken=2)}")
        assert button.evaluate("b => b.firstChild.textContent") == text["over"]  # what is seen: the label
        assert row.get_by_role("button", name=named(text["confirm"], second_name)).count() == 0
        assert_accessible(page)
        button.click()
        page.wait_for_url(f"{live_server}/manage/events/{slug}/registrations?status=waitlisted")  # the filter, kept
        assert text["done"] in page.locator(".flashes").inner_text()
        assert page.locator("#status").input_value() == "waitlisted"
        assert text["none"] in page.locator("main").inner_text()  # nobody waits any more
        assert_accessible(page)
        assert page.requests.external() == []
    finally:
        page.context.close()
    assert [r.status for r in saved_registrations()] == ["confirmed"] * 3
