"""The organizer's deliveries pages in a real Chromium, with and without JavaScript, in Japanese
and in English: the list with a scheduled row (送信予定), a retry (次の再試行), rows withdrawn by an
erasure of personal data (取り消し（個人情報の削除）) and a confirmation withdrawn because the person
cancelled (取り消し（申込みの状態が変わったため）), the SMTP notice labelled 注意; each delivery's page
(a failed confirmation of someone who cancelled since: 注意, not sent, no resend); the Slack event
page's delivery table. Each page passes axe and asks no other host."""

from __future__ import annotations

from datetime import timedelta
from types import SimpleNamespace

import pytest
from sqlalchemy import select

from eventsvc.core.clock import now_utc
from eventsvc.extensions import db
from eventsvc.outbox import service as outbox
from eventsvc.outbox.models import Delivery
from eventsvc.registration import privacy
from eventsvc.registration import service as registrations
from tests import factories as make
from tests.browser_fixtures import MODE_IDS, MODES, assert_accessible, page_in

pytestmark = pytest.mark.browser

TEXT = {
    "ja": {"warning": "注意:", "withdrawn": "取り消し（個人情報の削除）", "scheduled": "送信予定: ",
           "retry": "次の再試行: ", "queued": "送信待ち", "explained": "送信の失敗ではありません", "resend": "再送",
           "superseded": "取り消し（申込みの状態が変わったため）", "cancelled": "申込みがキャンセルされました",
           "not_sent": "このメールは送信しません（申込みがキャンセルされました）。"},
    "en": {"warning": "Warning:", "withdrawn": "Withdrawn (personal data erased)", "scheduled": "Scheduled for ",
           "retry": "Next retry: ", "queued": "Queued", "explained": "It is not a sending failure", "resend": "Resend",
           "superseded": "Withdrawn (registration changed)", "cancelled": "The registration was cancelled",
           "not_sent": "This message will not be sent. The registration was cancelled."},
}


@pytest.fixture
def outbox_rows(live_server):
    """An event whose outbox holds a mail scheduled for later, one waiting for a retry, a Slack DM
    scheduled for later and the rows of a person whose data was erased (withdrawn)."""
    org = make.organizer()
    event = make.event(org)
    make.registration(event)
    erased = make.registration(event)
    outbox.enqueue("slack.survey_dm", "UKANARIA01", {"text": "アンケートのお願い"}, event_id=event.id,
                   registration_id=erased.id)
    privacy.erase_registration(erased, now_utc())
    later = now_utc() + timedelta(hours=3)
    scheduled = outbox.enqueue("mail.survey_invite", "sakura@city.naha.lg.jp",
                               {"subject": "アンケートのお願い", "text": "本文"}, event_id=event.id)
    scheduled.next_attempt_at = later
    retry = outbox.enqueue("mail.message", "ken@city.naha.lg.jp", {"subject": "お知らせ", "text": "本文"},
                           event_id=event.id)
    retry.attempts, retry.next_attempt_at, retry.last_error = 1, now_utc() + timedelta(minutes=5), "SMTP 451"
    dm = outbox.enqueue("slack.survey_dm", "UKANARIA02", {"text": "アンケートのお願い", "label": "玉城 健"},
                        event_id=event.id)
    dm.next_attempt_at = later
    cancelled, failed = make.registration(event), make.registration(event)
    confirmation = {reg.id: db.session.scalar(select(Delivery).where(Delivery.registration_id == reg.id))
                    for reg in (cancelled, failed)}
    confirmation[failed.id].state, confirmation[failed.id].last_error = "failed", "550 5.1.1 no such user"
    for reg in (cancelled, failed):
        registrations.cancel(reg, reg, now_utc())
    db.session.commit()
    withdrawn = db.session.scalars(select(Delivery.id).where(Delivery.registration_id == erased.id)
                                   .order_by(Delivery.id)).all()
    rows = SimpleNamespace(organizer=SimpleNamespace(email=org.email), slug=event.slug, withdrawn=withdrawn,
                           scheduled=scheduled.id, retry=retry.id, dm=dm.id,
                           superseded=confirmation[cancelled.id].id, stale=confirmation[failed.id].id)
    db.session.rollback()
    return rows


@pytest.mark.parametrize(("javascript", "lang"), MODES, ids=MODE_IDS)
def test_deliveries_list_and_pages(browser, live_server, outbox_rows, javascript, lang):
    text, rows = TEXT[lang], outbox_rows
    page = page_in(browser, live_server, javascript=javascript, lang=lang, organizer=rows.organizer)
    base = f"{live_server}/manage/events/{rows.slug}/deliveries"
    try:
        page.goto(base)
        notice = page.locator(".notice-warning")
        assert notice.locator(".notice-label").inner_text() == text["warning"]
        assert notice.get_attribute("role") == "status"
        assert page.locator("#delivery-count-withdrawn").inner_text() == str(len(rows.withdrawn))
        assert page.locator("#delivery-count-superseded").inner_text() == "1"
        table = page.get_by_role("table")
        assert table.get_by_text(text["withdrawn"], exact=True).count() == len(rows.withdrawn)
        assert table.get_by_text(text["superseded"], exact=True).count() == 1
        assert text["scheduled"] in table.get_by_role("row").filter(has_text="sakura@").inner_text()
        assert text["retry"] in table.get_by_role("row").filter(has_text="ken@").inner_text()
        assert_accessible(page)
        page.goto(base + "?state=withdrawn")
        assert table.get_by_role("row").count() == len(rows.withdrawn) + 1  # and the header
        assert_accessible(page)

        page.goto(f"{base}/{rows.withdrawn[0]}")
        assert text["withdrawn"] in page.locator("dl.facts").inner_text()
        assert text["explained"] in page.locator("#state-help").inner_text()
        assert page.get_by_role("button", name=text["resend"]).count() == 0
        assert_accessible(page)
        page.goto(f"{base}/{rows.superseded}")
        assert f"{text['superseded']} — {text['cancelled']}" in page.locator("dl.facts").inner_text()
        assert text["explained"] in page.locator("#state-help").inner_text()
        assert page.get_by_role("button", name=text["resend"]).count() == 0
        assert_accessible(page)
        page.goto(f"{base}/{rows.stale}")  # failed, and the person cancelled since: not to be resent
        help_text = page.locator("#state-help")
        assert help_text.get_attribute("role") == "status"
        assert help_text.locator(".notice-label").inner_text() == text["warning"]
        assert text["not_sent"] in help_text.inner_text()
        assert page.get_by_role("button", name=text["resend"]).count() == 0
        assert_accessible(page)
        for delivery_id, due in ((rows.scheduled, "scheduled"), (rows.retry, "retry")):
            page.goto(f"{base}/{delivery_id}")
            assert text[due] in page.locator("dl.facts").inner_text()
            assert_accessible(page)

        page.goto(f"{live_server}/manage/events/{rows.slug}/slack")
        deliveries = page.locator("#delivery-table")
        assert text["withdrawn"] in deliveries.inner_text()
        assert text["scheduled"] in page.locator(f"#delivery-{rows.dm}").inner_text()
        assert deliveries.get_by_role("button").count() == 0  # nothing to resend
        assert_accessible(page)
        assert page.requests.external() == []
    finally:
        page.context.close()
