"""Delivery kinds read as words on the organizer's pages: the deliveries list, a delivery's page and
the Slack page's table say what each message is (メール: 参加確定, Slack: 開催報告 …, in English too),
with the kind's code beside it in small type for whoever looks into a problem."""

from __future__ import annotations

import re

from sqlalchemy import select

from eventsvc.extensions import db
from eventsvc.outbox import kinds
from eventsvc.outbox import service as outbox
from eventsvc.outbox.models import Delivery
from eventsvc.registration import mail
from eventsvc.slack import service as slack
from tests.integration.auth_support import text_of
from tests.integration.test_slack_support import no_slack  # noqa: F401  (fixture)


def _row(html: str, delivery_id: int) -> str:
    """The list's row of one delivery (from its first cell to its end)."""
    return re.search(rf'<tr>(?:(?!<tr>).)*?deliveries/{delivery_id}".*?</tr>', html, re.S).group(0)


def test_every_kind_the_app_makes_has_a_label():
    made = {"mail.confirmation", "mail.message", "mail.survey_invite", "mail.survey_reminder",
            *(f"mail.{key}" for key in mail.SUBJECTS if key != "registered"),  # templates and reasons
            *slack.POST_KINDS, slack.UPDATE_KIND, slack.INVITE_KIND}
    assert made - set(kinds.KIND_LABELS) == set()
    assert kinds.kind_message("mail.something_new") == "メール"
    assert kinds.kind_message("slack.something_new") == "Slack"
    assert kinds.kind_message("sms.hello") == "sms.hello"


def test_the_pages_name_each_kind_and_keep_its_code(client, login, organizer, make, no_slack):  # noqa: F811
    event = make.event(org=organizer)
    reg = make.registration(event)  # its confirmation mail
    confirmation = db.session.scalar(select(Delivery).where(Delivery.registration_id == reg.id))
    assert confirmation.kind == "mail.confirmation"
    report = outbox.enqueue("slack.report", "C0KYUSHU01", {"text": "開催報告です", "label": "#kyushu"},
                            event_id=event.id)
    future = outbox.enqueue("mail.future_kind", "someone@city.naha.lg.jp", {"subject": "新しい種類", "text": "本文"},
                            event_id=event.id)
    db.session.commit()
    login(organizer)

    html = client.get(f"/manage/events/{event.slug}/deliveries").get_data(as_text=True)
    assert '<td>メール: 参加確定<br><code class="muted">mail.confirmation</code></td>' in _row(html, confirmation.id)
    assert '<td>Slack: 開催報告<br><code class="muted">slack.report</code></td>' in _row(html, report.id)
    assert '<td>メール<br><code class="muted">mail.future_kind</code></td>' in _row(html, future.id)
    assert "<td><code>" not in html  # no kind is shown as its code alone

    page = client.get(f"/manage/events/{event.slug}/deliveries/{report.id}").get_data(as_text=True)
    assert "<h1>Slack: 開催報告</h1>" in page  # a post has no subject: its kind names it
    assert '<dt>種類</dt><dd>Slack: 開催報告 <code class="muted">slack.report</code></dd>' in page
    page = client.get(f"/manage/events/{event.slug}/deliveries/{confirmation.id}").get_data(as_text=True)
    assert '<dd>メール: 参加確定 <code class="muted">mail.confirmation</code></dd>' in page

    report.state, report.last_error = "failed", "channel_not_found"
    db.session.commit()
    slack_page = client.get(f"/manage/events/{event.slug}/slack")
    assert slack_page.status_code == 200
    table = re.search(r'<table class="table" id="delivery-table">.*?</table>', slack_page.get_data(as_text=True),
                      re.S).group(0)
    assert '<td>Slack: 開催報告<br><code class="muted">slack.report</code></td>' in table
    assert "再送（Slack: 開催報告 #kyushu）" in text_of(slack_page).replace("再送 （", "再送（")

    client.get("/lang/en?next=/")
    english = client.get(f"/manage/events/{event.slug}/deliveries").get_data(as_text=True)
    assert '<td>Email: confirmed<br><code class="muted">mail.confirmation</code></td>' in _row(english, confirmation.id)
    assert '<td>Slack: event report<br><code class="muted">slack.report</code></td>' in _row(english, report.id)
    assert '<td>Email<br><code class="muted">mail.future_kind</code></td>' in _row(english, future.id)
    page = client.get(f"/manage/events/{event.slug}/deliveries/{report.id}").get_data(as_text=True)
    assert "<h1>Slack: event report</h1>" in page


def test_every_label_has_its_english(app):
    with app.test_request_context(headers={"Cookie": "lang=en"}):
        from flask_babel import force_locale

        with force_locale("en"):
            untranslated = [k for k in kinds.KIND_LABELS if kinds.kind_label(k) == kinds.KIND_LABELS[k]]
    assert untranslated == []
