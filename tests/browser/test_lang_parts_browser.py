"""Language of parts (WCAG 3.1.2) in a real Chromium: on English pages, what people typed in Japanese is
in ``lang="ja"`` as the browser (and so a screen reader) resolves it, English data stays English, and
axe finds nothing (``valid-lang`` included). The event page without JavaScript; the desk with it, whose
search results and scan answers are drawn by checkin.js."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from eventsvc.events import service as events
from eventsvc.extensions import db
from tests import factories as make
from tests.browser.test_checkin_browser import scan_with_keyboard
from tests.browser_fixtures import assert_accessible, login_in_browser, page_in

pytestmark = pytest.mark.browser

#: the languages the browser gives the text inside an element (each piece of text: the ``lang`` of its
#: nearest element that has one), only the pieces containing ``text`` when given; comma-separated
LANGS_OF = """([root, text]) => {
  const walker = document.createTreeWalker(root, NodeFilter.SHOW_TEXT);
  const langs = new Set();
  for (let n = walker.nextNode(); n; n = walker.nextNode()) {
    if (n.data.trim() && (text === null || n.data.includes(text))) {
      langs.add(n.parentElement.closest('[lang]').getAttribute('lang'));
    }
  }
  return [...langs].sort().join(',');
}"""


def lang_of(page, selector: str, text: str | None = None) -> str:
    """The language(s) of the text of the first element matching ``selector`` (and containing ``text``)."""
    locator = page.locator(selector)
    if text is not None:
        locator = locator.filter(has_text=text)
    return page.evaluate(LANGS_OF, [locator.first.element_handle(), text])


def test_an_english_event_page_says_which_parts_are_japanese(browser, live_server):
    organizer = make.organizer()
    event = make.event(organizer, summary="書かない窓口の始め方", description="窓口の**改善事例**を紹介します。",
                       venue_address="沖縄県那覇市字安里2-1")
    english = make.event(organizer, title="Open data workshop", summary="Bring a laptop",
                         venue_name="Naha Tech Hub", agenda=False,
                         ticket_types=[events.TicketTypeData("venue", "In person", 30)])
    page = page_in(browser, live_server, javascript=False, lang="en")
    try:
        page.goto(f"{live_server}/events/{event.slug}")
        assert page.locator("html").get_attribute("lang") == "en"
        assert lang_of(page, "h1") == "ja"
        assert lang_of(page, ".lead") == "ja"
        assert lang_of(page, ".prose strong") == "ja"
        assert lang_of(page, ".agenda-title", "窓口BPR") == "ja"
        assert lang_of(page, ".agenda-speaker span", "デジタル庁") == "ja"
        assert lang_of(page, "#seats-h") == "en" and lang_of(page, "th", "Capacity") == "en"
        assert lang_of(page, "tbody th", "会場参加") == "ja"
        assert page.title().startswith(event.title)  # the title as it was: no markup in <title>
        assert_accessible(page)

        page.goto(f"{live_server}/")
        assert lang_of(page, ".event-card-title", event.title) == "ja"
        assert lang_of(page, ".event-card-title", "Open data workshop") == "en"
        assert lang_of(page, ".event-summary", "Bring a laptop") == "en"
        assert_accessible(page)

        page.goto(f"{live_server}/events/{english.slug}")
        assert lang_of(page, "h1") == "en" and lang_of(page, ".lead") == "en"
        assert page.locator("main [lang='ja']").all_inner_texts() == ["沖縄県"]  # only the prefecture
        assert_accessible(page)
        assert page.requests.external() == []
    finally:
        page.context.close()


def test_the_desk_in_english_marks_names_drawn_by_its_script(page):
    organizer = make.organizer()
    event = make.event(organizer)
    make.registration(event, name="山田 花子", name_kana="ヤマダ ハナコ")
    guest = make.registration(event, name="Alex Smith", name_kana="アレックス スミス", organization_code=None,
                              organization_name="Okinawa Open Labs", email="alex@pref.okinawa.lg.jp")
    code, desk = guest.ticket_code, f"{page.base}/events/{event.slug}/checkin/"
    db.session.rollback()  # hold no SQLite snapshot while the server writes
    login_in_browser(page, organizer)  # the login form in Japanese, then the desk in English
    page.context.add_cookies([{"name": "lang", "value": "en", "url": page.base}])
    page.goto(desk)
    page.wait_for_selector("#net:not([hidden])")  # the script has started
    assert page.locator("html").get_attribute("lang") == "en"
    assert lang_of(page, ".desk-event") == "ja" and lang_of(page, "#desk-actor") == "ja"  # 主催 太郎

    page.locator("#q").fill("やまだ")  # drawn by checkin.js (JSON search), not the server's template
    button = page.get_by_role("button", name="Check in 山田 花子")
    button.wait_for()
    assert lang_of(page, "#search-results .attendee-name") == "ja"
    assert lang_of(page, "#search-results .attendee-kana") == "ja"
    assert lang_of(page, "#search-results .attendee-meta span", "会場参加") == "ja"
    assert lang_of(page, "#search-results button span", "山田 花子") == "ja"
    assert lang_of(page, "#search-results .muted") == "en"
    assert_accessible(page)

    page.locator("#code").focus()
    scan_with_keyboard(page, code)
    expect(page.locator("#result")).to_contain_text("Alex Smith")
    assert lang_of(page, "#result .result-name") == "en"
    assert lang_of(page, "#result .result-kana") == "ja"
    assert lang_of(page, "#result .result-meta span", "Okinawa Open Labs") == "en"
    assert lang_of(page, "#result .result-title") == "en"
    assert_accessible(page)
    assert page.requests.external() == []
