"""In a real Chromium: Slack settings, the event's Slack page, preview → confirm, the attendee's
Slack page — each passes axe, makes no request to another host, and works without JavaScript."""

from __future__ import annotations

import pytest

from eventsvc.outbox import worker
from eventsvc.registration import service as registration_service
from eventsvc.slack import sender as slack_sender
from tests import factories
from tests.browser_fixtures import assert_accessible, login_in_browser

pytestmark = pytest.mark.browser


@pytest.fixture
def slack_live(live_server, sqlite_app, fake_slack, monkeypatch):
    """The served app talking to the fake Slack Web API."""
    fake, base_url = fake_slack
    for key, value in {"SLACK_BOT_TOKEN": fake.bot_token, "SLACK_API_URL": base_url,
                       "SLACK_SIGNING_SECRET": "browser-secret", "SLACK_CLIENT_ID": fake.client_id,
                       "SLACK_CLIENT_SECRET": fake.client_secret, "SLACK_CHANNEL_INTERVAL": 0,
                       "SLACK_POST_RATE_PER_MINUTE": None}.items():
        monkeypatch.setitem(sqlite_app.config, key, value)
    slack_sender.reset_pacers()
    return fake


def test_settings_preview_and_confirm_in_a_browser(page_nojs, slack_live):
    page, fake = page_nojs, slack_live
    organizer = factories.organizer()
    kyushu = fake.add_channel("kyushu-okinawa")["id"]
    fake.add_channel("kanto")
    event = factories.event(organizer, title="自治体職員の勉強会 in 那覇 <!channel>")
    reg = factories.registration(event, name="知念 花子", email="hanako@city.naha.lg.jp")
    factories.registration(event, name="比嘉 太郎", email="higa@city.naha.lg.jp")
    fake.add_user(email="hanako@city.naha.lg.jp", real_name="知念 花子")

    login_in_browser(page, organizer)
    page.goto(page.base + "/manage/slack")
    page.get_by_text("Fake Workspace").wait_for()
    assert_accessible(page)
    page.get_by_role("button", name="チャンネル一覧を更新").click()
    page.get_by_text("チャンネル一覧を更新しました").wait_for()
    page.get_by_label("九州・沖縄").select_option(kyushu)
    page.get_by_role("button", name="地域のチャンネルを保存").click()
    page.get_by_text("地域のチャンネルを保存しました").wait_for()
    assert_accessible(page)

    page.goto(page.base + f"/manage/events/{event.slug}")
    page.get_by_role("link", name="Slack", exact=True).click()
    page.get_by_role("button", name="メールアドレスで一括照合").click()
    page.get_by_text("連携済み 1名、ワークスペースにいない 1名").wait_for()
    assert page.locator(f"#status-{reg.id}").inner_text() == "連携済み"
    assert_accessible(page)

    page.get_by_role("link", name="告知（参加者募集）").click()
    page.get_by_role("heading", name="プレビュー: 告知（参加者募集）").wait_for()
    assert page.locator(".slack-message").inner_text().count("<!channel>") == 1
    assert page.locator(".slack-ping").count() == 0
    assert_accessible(page)
    page.get_by_role("button", name="この内容で送信を予約する").click()
    page.get_by_text("1件の送信を予約しました").wait_for()
    assert "送信待ち" in page.locator("#delivery-table").inner_text()
    assert_accessible(page)

    worker.run_once()
    page.reload()
    assert "送信済み" in page.locator("#delivery-table").inner_text()
    (msg,) = [m for m in fake.messages(kyushu) if m.get("bot_id")]
    assert "&lt;!channel&gt;" in msg["text"]
    assert page.requests.external() == []


def test_attendee_slack_page_in_a_browser(phone_nojs, slack_live):
    page = phone_nojs
    organizer = factories.organizer()
    event = factories.event(organizer)
    reg = factories.registration(event)
    token = registration_service.link_token(reg)
    page.goto(page.base + f"/my/{token}/slack")
    page.get_by_role("link", name="Slackでサインインして連携する").wait_for()
    assert_accessible(page)
    assert page.requests.external() == []
