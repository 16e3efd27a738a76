"""Deliveries stopped by the erasure of a person's data: stored as ``failed`` (the state machine
and the API's states are unchanged), shown as 取り消し（個人情報の削除）, counted apart from the
failures, and not re-sent by hand."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from eventsvc.core.clock import now_utc
from eventsvc.extensions import db
from eventsvc.outbox import service as outbox
from eventsvc.outbox.models import ERASED_NOTE, Delivery
from eventsvc.registration import privacy
from tests.integration.auth_support import text_of

LABEL = "取り消し（個人情報の削除）"


@pytest.fixture
def rows(make, organizer):
    """An event with one delivery stopped by an erasure and one that really failed."""
    event = make.event(organizer)
    erased = make.registration(event)
    make.registration(event)
    outbox.enqueue("slack.survey_dm", "UKANARIA01", {"text": "アンケートのお願い"}, event_id=event.id,
                   registration_id=erased.id)
    privacy.erase_registration(erased, now_utc())
    db.session.commit()
    stopped = db.session.scalars(select(Delivery).where(Delivery.registration_id == erased.id,
                                                        Delivery.state == "failed")).all()
    assert stopped and all(d.last_error == ERASED_NOTE and d.withdrawn for d in stopped)
    failed = outbox.enqueue("mail.message", "someone@city.naha.lg.jp", {"subject": "お知らせ", "text": "本文"},
                            event_id=event.id)
    failed.state, failed.last_error = "failed", "550 mailbox unavailable"
    db.session.commit()
    assert not failed.withdrawn
    return event, stopped, failed


def _count(html: str, state: str) -> int:
    return int(re.search(rf'id="delivery-count-{state}">(\d+)<', html).group(1))


def test_the_list_labels_them_apart_and_does_not_count_them_as_failures(client, login, organizer, rows):
    event, stopped, failed = rows
    login(organizer)
    html = client.get(f"/manage/events/{event.slug}/deliveries").get_data(as_text=True)
    assert _count(html, "failed") == 1 and _count(html, "withdrawn") == len(stopped)
    for d in stopped:
        row = re.search(rf'deliveries/{d.id}".*?</tr>', html, re.S).group(0)
        assert f'<span class="badge badge-delivery-withdrawn">{LABEL}</span>' in row
        assert "失敗" not in row and ERASED_NOTE not in row
    row = re.search(rf'deliveries/{failed.id}".*?</tr>', html, re.S).group(0)
    assert '<span class="badge badge-delivery-failed">失敗</span>' in row and "550 mailbox unavailable" in row
    # the filters: failures are the real ones only
    only_failed = client.get(f"/manage/events/{event.slug}/deliveries?state=failed").get_data(as_text=True)
    assert f"deliveries/{failed.id}\"" in only_failed and not any(f"deliveries/{d.id}\"" in only_failed for d in stopped)
    only_stopped = client.get(f"/manage/events/{event.slug}/deliveries?state=withdrawn").get_data(as_text=True)
    assert f"deliveries/{failed.id}\"" not in only_stopped and all(f"deliveries/{d.id}\"" in only_stopped for d in stopped)
    # in English too
    client.set_cookie("lang", "en")
    english = text_of(client.get(f"/manage/events/{event.slug}/deliveries"))
    assert "Withdrawn (personal data erased)" in english


def test_no_withdrawn_count_when_there_is_none(client, login, make, organizer):
    event = make.event(organizer)
    make.registration(event)
    login(organizer)
    html = client.get(f"/manage/events/{event.slug}/deliveries").get_data(as_text=True)
    assert 'id="delivery-count-withdrawn"' not in html and LABEL not in html
    assert outbox.counts_for_event(event.id)["withdrawn"] == 0


def test_the_delivery_page_explains_and_offers_no_resend(client, login, organizer, rows):
    event, stopped, failed = rows
    login(organizer)
    d = stopped[0]
    page = client.get(f"/manage/events/{event.slug}/deliveries/{d.id}")
    assert page.status_code == 200
    text = text_of(page)
    assert LABEL in text and "送信の失敗ではありません" in text and "失敗 —" not in text
    assert f"/deliveries/{d.id}/retry" not in page.get_data(as_text=True)
    # nothing is left of the person: the page says so instead of showing an empty address and body
    assert "（削除済み）" in text and 'class="message-body"' not in page.get_data(as_text=True)
    assert "（削除済み）" in text_of(client.get(f"/manage/events/{event.slug}/deliveries"))
    # a resend sent anyway is refused, and the row stays as it is
    r = client.post(f"/manage/events/{event.slug}/deliveries/{d.id}/retry", follow_redirects=True)
    assert "個人情報を削除した方への配信は、再送できません" in text_of(r)
    db.session.refresh(d)
    assert d.state == "failed" and d.withdrawn
    # a real failure still offers its resend
    page = client.get(f"/manage/events/{event.slug}/deliveries/{failed.id}").get_data(as_text=True)
    assert f"/deliveries/{failed.id}/retry" in page and "「失敗」は" in page


def test_the_slack_page_shows_them_apart_without_a_resend_button(client, login, organizer, rows):
    event, stopped, _failed = rows
    (dm,) = [d for d in stopped if d.kind.startswith("slack.")]
    login(organizer)
    page = client.get(f"/manage/events/{event.slug}/slack")
    assert page.status_code == 200
    row = re.search(rf'<tr id="delivery-{dm.id}">.*?</tr>', page.get_data(as_text=True), re.S).group(0)
    assert f'<span class="badge badge-delivery-withdrawn">{LABEL}</span>' in row
    assert "失敗" not in row and ERASED_NOTE not in row and "/retry" not in row


def test_the_slack_pages_resend_refuses_them_as_the_outbox_does(client, login, organizer, rows):
    """The Slack page offers no resend button for them; a resend posted anyway (or asked of the
    service) is refused with the outbox's own code and message, and the row stays withdrawn."""
    from eventsvc.errors import DomainError
    from eventsvc.slack import service as slack

    event, stopped, _failed = rows
    (dm,) = [d for d in stopped if d.kind.startswith("slack.")]
    with pytest.raises(DomainError) as refused:
        slack.retry_delivery(event, dm.id, now_utc())
    assert (refused.value.code, refused.value.message) == ("not_retryable", outbox.NOT_RETRYABLE_WITHDRAWN)
    db.session.rollback()
    login(organizer)
    r = client.post(f"/manage/events/{event.slug}/slack/deliveries/{dm.id}/retry", follow_redirects=True)
    assert "個人情報を削除した方への配信は、再送できません" in text_of(r)
    db.session.refresh(dm)
    assert dm.state == "failed" and dm.withdrawn


def test_the_api_keeps_the_failed_state_and_says_withdrawn(api, organizer, token, rows):
    event, stopped, failed = rows
    r = api("get", f"/events/{event.slug}/deliveries", token)
    assert r.status_code == 200
    by_id = {d["id"]: d for d in r.json}
    for d in stopped:
        assert by_id[d.id]["state"] == "failed" and by_id[d.id]["withdrawn"] is True
        assert by_id[d.id]["last_error"] == ERASED_NOTE
    assert by_id[failed.id]["state"] == "failed" and by_id[failed.id]["withdrawn"] is False
    assert all(d["withdrawn"] is False for d in r.json if d["state"] != "failed")
    spec = api("get", "/openapi.json").json
    assert "withdrawn" in spec["components"]["schemas"]["DeliveryOut"]["properties"]
