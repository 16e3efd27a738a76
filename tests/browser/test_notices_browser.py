"""Warning notices in a real Chromium, with and without JavaScript, in Japanese and in English:
labelled 注意 (Warning) as warning flashes are — the note that cancelling takes a check-in back (the
cancel button's description: on the organizer's registration page, on each row of the registrations
list, and on the attendee's own cancel page, in their words), the closed-registration notice. Each
page passes axe and asks no other host."""

from __future__ import annotations

from datetime import timedelta
from types import SimpleNamespace

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from eventsvc.checkin import service as checkin
from eventsvc.checkin.models import Checkin
from eventsvc.core.clock import now_utc
from eventsvc.extensions import db
from tests import factories as make
from tests.browser_fixtures import MODE_IDS, MODES, assert_accessible, named, page_in

pytestmark = pytest.mark.browser

TEXT = {
    "ja": {"warning": "注意:", "cancel": "キャンセルする", "closed": "申込受付は終了しました",
           "checked_in": "この方は受付済みです。キャンセルすると、受付も取り消されます。",
           "list_cancel": "キャンセル", "my_cancel": "参加をキャンセルする",
           "my_checked_in": "受付済みです。キャンセルすると、受付も取り消されます。",
           "for_good": "キャンセルは元に戻せません。"},
    "en": {"warning": "Warning:", "cancel": "Cancel registration", "closed": "Registration has closed",
           "checked_in": "This person is checked in. Cancelling will also undo the check-in.",
           "list_cancel": "Cancel", "my_cancel": "Cancel my registration",
           "my_checked_in": "You are checked in. Cancelling will also undo your check-in.",
           "for_good": "Cancelling cannot be undone."},
}


def _one_checked_in(org):
    """An event with two people, the first of them checked in: (event slug, came, other) — ids and links."""
    from eventsvc.registration import service as registrations

    event = make.event(org)
    came, other = make.registration(event, ticket_type="online"), make.registration(event, ticket_type="online")
    checkin.check_in(event, came.ticket_code, device_id="d", nonce=None, scanned_at=None, method="scanner",
                     actor=checkin.Actor.organizer(org), now=now_utc())
    db.session.commit()
    seen = SimpleNamespace(slug=event.slug, came=came.id, other=other.id, came_link=registrations.link_token(came),
                           other_link=registrations.link_token(other), came_name=came.name, other_name=other.name)
    db.session.rollback()
    return seen


@pytest.mark.parametrize(("javascript", "lang"), MODES, ids=MODE_IDS)
def test_the_cancel_button_is_described_by_the_check_in_notice(browser, live_server, javascript, lang):
    text = TEXT[lang]
    org = make.organizer()
    event = make.event(org)
    came, other = make.registration(event, ticket_type="online"), make.registration(event, ticket_type="online")
    checkin.check_in(event, came.ticket_code, device_id="d", nonce=None, scanned_at=None, method="scanner",
                     actor=checkin.Actor.organizer(org), now=now_utc())
    db.session.commit()
    came_id, other_id, who = came.id, other.id, SimpleNamespace(email=org.email)
    db.session.rollback()
    page = page_in(browser, live_server, javascript=javascript, lang=lang, organizer=who)
    try:
        page.goto(f"{live_server}/manage/registrations/{came_id}")
        link = page.get_by_role("link", name=text["cancel"], exact=True)
        # said before the person acts, tied to what they press, and labelled as a warning is elsewhere
        expect(link).to_have_accessible_description(f"{text['warning']} {text['checked_in']}")
        assert page.locator("#cancel-notice .notice-label").inner_text() == text["warning"]
        assert_accessible(page)
        link.click()  # the confirmation says it again, at its button, with "cannot be undone"
        expect(page.get_by_role("button", name=text["cancel"], exact=True)).to_have_accessible_description(
            f"{text['warning']} {text['checked_in']} {text['for_good']}")
        assert_accessible(page)
        page.goto(f"{live_server}/manage/registrations/{other_id}")  # not checked in: nothing to say
        expect(page.get_by_role("link", name=text["cancel"], exact=True)).to_have_accessible_description("")
        assert page.locator("#cancel-notice").count() == 0
        assert page.requests.external() == []
    finally:
        page.context.close()


@pytest.mark.parametrize(("javascript", "lang"), MODES, ids=MODE_IDS)
def test_each_rows_cancel_button_in_the_list_is_described_by_the_check_in_notice(browser, live_server, javascript,
                                                                                lang):
    text = TEXT[lang]
    org = make.organizer()
    seen, who = _one_checked_in(org), SimpleNamespace(email=org.email)
    page = page_in(browser, live_server, javascript=javascript, lang=lang, organizer=who)
    try:
        page.goto(f"{live_server}/manage/events/{seen.slug}/registrations")
        # the button names its person (each row's button has a name of its own), and keeps its description
        button = page.locator(f"#reg-{seen.came}").get_by_role(
            "link", name=named(text["list_cancel"], seen.came_name))
        expect(button).to_have_accessible_description(f"{text['warning']} {text['checked_in']}")
        notice = page.locator(f"#cancel-notice-{seen.came}")
        expect(notice).to_be_visible()
        assert notice.locator(".notice-label").inner_text() == text["warning"]
        # a row not checked in: nothing to say
        other = page.locator(f"#reg-{seen.other}").get_by_role(
            "link", name=named(text["list_cancel"], seen.other_name))
        assert other.evaluate("b => b.firstChild.textContent") == text["list_cancel"]  # what is seen: the label
        expect(other).to_have_accessible_description("")
        assert page.locator(".row-notice").count() == 1
        assert_accessible(page)
        assert page.requests.external() == []
    finally:
        page.context.close()


@pytest.mark.parametrize(("javascript", "lang"), MODES, ids=MODE_IDS)
def test_the_attendees_cancel_button_is_described_by_the_check_in_notice(browser, live_server, javascript, lang):
    text = TEXT[lang]
    seen = _one_checked_in(make.organizer())
    page = page_in(browser, live_server, javascript=javascript, lang=lang)
    try:
        page.goto(f"{live_server}/my/{seen.came_link}/cancel")
        button = page.get_by_role("button", name=text["my_cancel"], exact=True)
        expect(button).to_have_accessible_description(
            f"{text['warning']} {text['my_checked_in']} {text['for_good']}")
        assert page.locator("#cancel-notice .notice-label").inner_text() == text["warning"]
        assert_accessible(page)
        page.goto(f"{live_server}/my/{seen.other_link}/cancel")  # not checked in: only the warning
        expect(page.get_by_role("button", name=text["my_cancel"], exact=True)).to_have_accessible_description(
            text["for_good"])
        assert page.locator("#cancel-notice").count() == 0
        page.goto(f"{live_server}/my/{seen.came_link}/cancel")
        page.get_by_role("button", name=text["my_cancel"], exact=True).click()
        page.wait_for_url(f"**/my/{seen.came_link}")
        assert page.locator(".notice-success").count() == 1
        assert_accessible(page)
        assert page.requests.external() == []
    finally:
        page.context.close()
    assert db.session.scalar(select(Checkin.undone_by).where(Checkin.registration_id == seen.came)) == "本人"
    db.session.rollback()


@pytest.mark.parametrize(("javascript", "lang"), MODES, ids=MODE_IDS)
def test_the_closed_registration_notice(browser, live_server, javascript, lang):
    text = TEXT[lang]
    event = make.event()
    event.registration_closes_at = now_utc() - timedelta(minutes=1)
    db.session.commit()
    slug = event.slug
    db.session.rollback()
    page = page_in(browser, live_server, javascript=javascript, lang=lang)
    try:
        page.goto(f"{live_server}/events/{slug}/register")
        notice = page.locator(".notice-warning")
        assert notice.locator(".notice-label").inner_text() == text["warning"]
        assert text["closed"] in notice.inner_text()
        assert page.locator("form.registration-form").count() == 0
        assert_accessible(page)
        assert page.requests.external() == []
    finally:
        page.context.close()


@pytest.mark.parametrize(("javascript", "lang"), MODES, ids=MODE_IDS)
def test_the_not_open_yet_notice_says_when_registration_opens_and_closes(browser, live_server, javascript, lang):
    from eventsvc.core.clock import format_datetime

    event = make.event()
    event.registration_opens_at = opens = now_utc() + timedelta(days=2)
    event.registration_closes_at = closes = now_utc() + timedelta(days=9)
    db.session.commit()
    slug = event.slug
    db.session.rollback()
    said = {"ja": f"申込受付はまだ始まっていません。受付開始は{format_datetime(opens)}です。",
            "en": f"Registration has not opened yet. It opens on {format_datetime(opens, 'en')} (Japan time)."}[lang]
    until = {"ja": f"申込締切: {format_datetime(closes)}", "en": f"Registration closes: {format_datetime(closes, 'en')}"}[lang]
    page = page_in(browser, live_server, javascript=javascript, lang=lang)
    try:
        page.goto(f"{live_server}/events/{slug}/register")
        notice = page.locator(".notice-warning")
        assert notice.locator(".notice-label").inner_text() == TEXT[lang]["warning"]
        assert " ".join(notice.inner_text().split()) == f"{TEXT[lang]['warning']} {said}"
        assert page.get_by_text(until, exact=True).is_visible()
        assert page.locator("form.registration-form").count() == 0
        assert_accessible(page)
        assert page.requests.external() == []
    finally:
        page.context.close()
