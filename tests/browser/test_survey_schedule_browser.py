"""Survey invitations before the survey opens, in a real Chromium, with and without JavaScript, in
Japanese and in English: the survey page's 受付開始 line and its notice that invitations wait for the
opening, inviting (flashes, 送信予約), the builder moving the opening and saying so. Each page passes
axe and asks no other host."""

from __future__ import annotations

from datetime import timedelta
from types import SimpleNamespace

import pytest

from eventsvc.checkin import service as checkin
from eventsvc.core.clock import now_utc, to_jst
from eventsvc.extensions import db
from eventsvc.surveys import service as surveys
from tests import factories as make
from tests.browser_fixtures import MODE_IDS, MODES, assert_accessible, page_in

pytestmark = pytest.mark.browser

TEXT = {
    "ja": {"invite": "来場者に招待を送る", "invited": "1人に送信を予約しました", "scheduled": "送信予約 1件",
           "save": "保存", "moved": "送信待ちの案内 1件は、新しい受付開始"},
    "en": {"invite": "Invite attendees", "invited": "Scheduled for 1 person", "scheduled": "1 scheduled",
           "save": "Save", "moved": "1 invitation(s) or reminder(s) waiting to be sent will go out at the new opening"},
}


@pytest.mark.parametrize(("javascript", "lang"), MODES, ids=MODE_IDS)
def test_invitations_wait_for_the_opening(browser, live_server, javascript, lang):
    text = TEXT[lang]
    org = make.organizer()
    event = make.event(org)
    came = make.registration(event)
    checkin.check_in(event, came.ticket_code, device_id="d", nonce=None, scanned_at=None, method="scanner",
                     actor=checkin.Actor.organizer(org), now=now_utc())
    survey = surveys.create_survey(event, org, now_utc())
    survey.opens_at = (now_utc() + timedelta(days=2)).replace(second=0, microsecond=0)
    db.session.commit()
    slug, later, who = event.slug, to_jst(survey.opens_at + timedelta(days=1)), SimpleNamespace(email=org.email)
    db.session.rollback()
    page = page_in(browser, live_server, javascript=javascript, lang=lang, organizer=who)
    try:
        page.goto(f"{live_server}/manage/events/{slug}/survey")
        assert page.locator("#survey-opens-at").inner_text().strip()
        assert page.locator("#survey-invite-scheduled").is_visible()
        assert_accessible(page)
        page.get_by_role("button", name=text["invite"]).click()
        page.locator(".flashes").wait_for()
        assert text["invited"] in page.locator(".flashes").inner_text()
        assert text["scheduled"] in page.locator("#survey-scheduled-1").inner_text()
        assert_accessible(page)
        page.goto(f"{live_server}/manage/events/{slug}/survey/edit")
        assert_accessible(page)
        page.locator("#opens_at").fill(later.strftime("%Y-%m-%dT%H:%M"))
        page.get_by_role("button", name=text["save"], exact=True).click()
        page.wait_for_url(f"**/manage/events/{slug}/survey")
        assert text["moved"] in page.locator(".flashes").inner_text()
        assert_accessible(page)
        assert page.requests.external() == []
    finally:
        page.context.close()
