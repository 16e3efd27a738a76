"""A hybrid event (会場参加 and オンライン参加) whose venue is not decided, in a real Chromium, with
and without JavaScript, in Japanese and in English: its page, poster and ticket page say
会場未定（オンライン参加あり）, not オンライン. Each page passes axe and asks no other host."""

from __future__ import annotations

import pytest

from eventsvc.extensions import db
from eventsvc.registration import service
from tests import factories as make
from tests.browser_fixtures import MODE_IDS, MODES, assert_accessible, page_in

pytestmark = pytest.mark.browser

UNDECIDED = {"ja": "会場未定（オンライン参加あり）", "en": "Venue to be decided (online participation available)"}


@pytest.mark.parametrize(("javascript", "lang"), MODES, ids=MODE_IDS)
def test_pages_of_a_hybrid_event_without_a_venue(browser, live_server, javascript, lang):
    event = make.event(venue_name="")
    reg = make.registration(event)
    paths = [f"/events/{event.slug}", f"/events/{event.slug}/poster", f"/my/{service.link_token(reg)}"]
    db.session.rollback()
    page = page_in(browser, live_server, javascript=javascript, lang=lang)
    try:
        for path in paths:
            page.goto(live_server + path)
            body = page.locator("main").inner_text()
            assert UNDECIDED[lang] in body, path
            assert_accessible(page)
        assert page.requests.external() == []
    finally:
        page.context.close()
