"""Organizer Slack pages (settings, per-event page, preview → confirm) and the region API."""

from __future__ import annotations

import re

import pytest
from flask import current_app

from eventsvc.core.clock import now_utc
from eventsvc.extensions import db
from eventsvc.slack import service as slack_service
from eventsvc.slack.models import ChannelCache, RegionChannel, SlackLink
from tests.integration.test_slack_support import deliveries, link, region_channel

pytest_plugins = ["tests.integration.test_slack_support"]


def _html(r) -> str:
    return r.get_data(as_text=True)


# ------------------------------------------------------------------ settings
def test_settings_show_the_workspace_and_each_scope(client, login, organizer, slack):
    slack.withdraw("users:read.email")
    login(organizer)
    html = _html(client.get("/manage/slack"))
    assert "Fake Workspace" in html and "T0FAKE" in html and "U0BOT" in html
    row = re.search(r'<tr id="scope-users-read-email">.*?</tr>', html, re.S).group(0)
    assert "不足" in row
    row = re.search(r'<tr id="scope-chat-write">.*?</tr>', html, re.S).group(0)
    assert "付与済み" in row
    row = re.search(r'<tr id="scope-chat-write-public">.*?</tr>', html, re.S).group(0)
    assert "なし（任意）" in row
    client.set_cookie("lang", "en")  # what each scope is for, in English too
    html = _html(client.get("/manage/slack"))
    row = re.search(r'<tr id="scope-users-read-email">.*?</tr>', html, re.S).group(0)
    assert "Matching accounts by e-mail address" in row and "照合" not in row


def test_settings_say_when_the_token_is_wrong(client, login, organizer, slack):
    slack.revoke(slack.bot_token)
    login(organizer)
    html = _html(client.get("/manage/slack"))
    assert "接続できませんでした（token_revoked）" in html


def test_settings_without_slack_still_work(client, login, organizer, no_slack):
    login(organizer)
    r = client.get("/manage/slack")
    assert r.status_code == 200 and "Slackは未設定です" in _html(r)
    r = client.post("/manage/slack", data={"region_kanto": "C0KANTO001"})
    assert r.status_code == 302
    assert db.session.get(RegionChannel, "kanto").channel_id == "C0KANTO001"
    r = client.post("/manage/slack", data={"region_kanto": "#kanto"})
    assert r.status_code == 422 and "形式が正しくありません" in _html(r)
    assert '<label for="region_kyushu_okinawa" class="">九州・沖縄' in _html(r)
    client.set_cookie("lang", "en")  # the regions are named in the page's language
    english = _html(client.get("/manage/slack"))
    assert '<label for="region_kyushu_okinawa" class="">Kyushu &amp; Okinawa' in english and "九州・沖縄" not in english


def test_region_channels_are_picked_from_the_channel_list(client, login, organizer, slack):
    for i in range(250):  # more than one page of conversations.list
        slack.add_channel(f"topic-{i:03d}")
    kyushu = slack.add_channel("kyushu-okinawa")["id"]
    slack.add_channel("old", is_archived=True)
    login(organizer)
    assert client.post("/manage/slack/channels").status_code == 302
    assert db.session.query(ChannelCache).count() == 251
    assert slack.count("conversations.list") >= 2
    html = _html(client.get("/manage/slack"))
    assert f'<option value="{kyushu}">#kyushu-okinawa</option>' in html
    assert "#old" not in html
    r = client.post("/manage/slack", data={"region_kyushu_okinawa": kyushu})
    assert r.status_code == 302
    row = db.session.get(RegionChannel, "kyushu_okinawa")
    assert (row.channel_id, row.channel_name) == (kyushu, "kyushu-okinawa")
    r = client.post("/manage/slack", data={"region_kyushu_okinawa": "C0NOTLISTED"})
    assert r.status_code == 422 and "一覧にありません" in _html(r)


def test_region_channels_api(api, token, slack):
    slack.add_channel("kanto", id="C0KANTO001")
    slack.add_channel("kinki", id="C0KINKI001")
    r = api("PUT", "/slack/region-channels", token, json={"kanto": "C0KANTO001", "kinki": "C0KINKI001"})
    assert r.status_code == 200, r.get_json()
    assert r.get_json()["channels"] == {"kanto": "C0KANTO001", "kinki": "C0KINKI001"}
    r = api("PUT", "/slack/region-channels", token, json={"kanto": "C0KANTO001"})  # replaces the mapping
    assert r.get_json()["channels"] == {"kanto": "C0KANTO001"}
    assert api("GET", "/slack/region-channels", token).get_json()["channels"] == {"kanto": "C0KANTO001"}
    r = api("PUT", "/slack/region-channels", token, json={"atlantis": "C0KANTO001", "kinki": "xyz"})
    assert r.status_code == 422 and set(r.get_json()["fields"]) == {"atlantis", "kinki"}
    assert api("PUT", "/slack/region-channels", None, json={}).status_code == 401
    spec = api("GET", "/openapi.json").get_json()
    assert "/slack/region-channels" in spec["paths"] and "/events/{slug}/followups" in spec["paths"]


# ------------------------------------------------------------------ the event's Slack page
def test_event_page_shows_link_states_and_who_to_invite(client, login, organizer, make, slack, monkeypatch):
    monkeypatch.setitem(current_app.config, "SLACK_JOIN_URL", "https://join.example.lg.jp/slack")
    event = make.event(organizer)
    linked = make.registration(event, name="知念 花子")
    missing = make.registration(event, name="金城 次郎", email="kinjo@city.naha.lg.jp")
    make.registration(event, name="大城 さくら")
    link(linked, "U0LINKED01")
    db.session.add(SlackLink(registration_id=missing.id, event_id=event.id, status="not_in_workspace",
                             method="bulk", updated_by="test"))
    db.session.commit()
    login(organizer)
    assert "/slack" in _html(client.get(f"/manage/events/{event.slug}"))
    html = _html(client.get(f"/manage/events/{event.slug}/slack"))
    assert re.search(r'id="count-linked">1<', html) and re.search(r'id="count-not-found">1<', html)
    assert re.search(r'id="count-unknown">1<', html)
    assert "U0LINKED01" in html
    section = re.search(r'<section aria-labelledby="missing-h".*?</section>', html, re.S).group(0)
    assert "金城 次郎" in section and "kinjo@city.naha.lg.jp" in section and "lg.jp / go.jp" in section
    assert "https://join.example.lg.jp/slack" in section and "知念 花子" not in section


def test_event_channel_override_form(client, login, organizer, make, slack):
    event = make.event(organizer)
    login(organizer)
    r = client.post(f"/manage/events/{event.slug}/slack/channel", data={"channel": "C0EVENT001"})
    assert r.status_code == 302
    assert slack_service.channel_for(event).id == "C0EVENT001"
    r = client.post(f"/manage/events/{event.slug}/slack/channel", data={"channel": "not a channel"})
    assert r.status_code == 422
    client.post(f"/manage/events/{event.slug}/slack/channel", data={"channel": ""})
    assert slack_service.channel_for(event) is None


def test_pages_need_an_organizer_of_the_event(client, login, make, slack):
    event = make.event(make.organizer())
    assert client.get("/manage/slack").status_code == 302
    assert client.get(f"/manage/events/{event.slug}/slack").status_code == 302
    login(make.organizer())
    assert client.get(f"/manage/events/{event.slug}/slack").status_code == 404
    assert client.get(f"/manage/events/{event.slug}/slack/followups/report").status_code == 404


# ------------------------------------------------------------------ preview → confirm
def test_preview_shows_the_message_before_anything_is_queued_then_confirm(client, login, organizer, make, slack):
    channel = slack.add_channel("kyushu-okinawa")["id"]
    region_channel("kyushu_okinawa", channel)
    event = make.event(organizer, title="<script>alert(1)</script> & <!channel> 勉強会")
    login(organizer)
    r = client.get(f"/manage/events/{event.slug}/slack/followups/announcement")
    assert r.status_code == 200
    html = _html(r)
    assert "<script>alert(1)" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt; &amp; &lt;!channel&gt; 勉強会" in html
    assert 'class="slack-ping"' not in html  # nobody would be pinged
    assert "参加登録" in html and "新規投稿" in html
    assert deliveries() == []  # nothing queued by looking
    digest = re.search(r'name="digest" type="hidden" value="([0-9a-f]+)"', html).group(1)
    r = client.post(f"/manage/events/{event.slug}/slack/followups/announcement", data={"digest": digest})
    assert r.status_code == 302
    (row,) = deliveries()
    assert row.kind == "slack.announcement" and row.target == channel and row.state == "queued"
    assert "&lt;!channel&gt;" in row.payload["text"]


def test_confirming_an_outdated_preview_is_refused(client, login, organizer, make, slack, token, api):
    channel = slack.add_channel("kyushu-okinawa")["id"]
    region_channel("kyushu_okinawa", channel)
    event = make.event(organizer, title="最初のタイトル")
    login(organizer)
    html = _html(client.get(f"/manage/events/{event.slug}/slack/followups/announcement"))
    digest = re.search(r'name="digest" type="hidden" value="([0-9a-f]+)"', html).group(1)
    api("PATCH", f"/events/{event.slug}", token, json={"title": "変更後のタイトル"})
    r = client.post(f"/manage/events/{event.slug}/slack/followups/announcement", data={"digest": digest})
    assert r.status_code == 409
    assert "内容が変わりました" in _html(r) and "変更後のタイトル" in _html(r)
    assert deliveries() == []


def test_preview_lists_problems_and_offers_no_confirm_button(client, login, organizer, make, slack):
    event = make.event(organizer)
    login(organizer)
    html = _html(client.get(f"/manage/events/{event.slug}/slack/followups/report"))
    assert 'data-code="no_channel"' in html and 'data-code="too_early"' in html
    assert "この内容で送信を予約する" not in html


def test_preview_without_slack_configured(client, login, organizer, make, no_slack):
    event = make.event(organizer)
    slack_service.set_event_channel(event, "C0NOSLACK1", organizer, now_utc())
    db.session.commit()
    login(organizer)
    html = _html(client.get(f"/manage/events/{event.slug}/slack/followups/announcement"))
    assert "Slack未設定" in html and "この内容で送信を予約する" in html
    html = _html(client.get(f"/manage/events/{event.slug}/slack"))
    assert "Slack未設定" in html and "disabled" in html  # bulk linking needs Slack


def test_invite_preview_names_the_people(client, login, organizer, make, slack):
    channel = slack.add_channel("kyushu-okinawa")["id"]
    region_channel("kyushu_okinawa", channel)
    event = make.event(organizer)
    link(make.registration(event, name="知念 花子"), "U0HANAKO01")
    login(organizer)
    html = _html(client.get(f"/manage/events/{event.slug}/slack/followups/invite"))
    assert "知念 花子" in html and f"1名を {channel} に招待" in html


@pytest.mark.parametrize("kind", ["announcement", "reminder", "report", "survey_dm", "invite"])
def test_every_preview_page_renders(client, login, organizer, make, slack, kind):
    event = make.event(organizer)
    login(organizer)
    assert client.get(f"/manage/events/{event.slug}/slack/followups/{kind}").status_code == 200


def test_report_preview_shows_mentions_by_name(client, login, organizer, make, slack):
    from datetime import timedelta

    from eventsvc.core.clock import JST

    channel = slack.add_channel("kyushu-okinawa")["id"]
    region_channel("kyushu_okinawa", channel)
    start = (now_utc() - timedelta(days=1)).astimezone(JST).replace(hour=13, minute=0, second=0, microsecond=0)
    event = make.event(organizer, starts_at=start, ends_at=start + timedelta(hours=3), now=start - timedelta(days=7))
    link(make.registration(event, name="知念 花子", now=start - timedelta(days=7)), "U0HANAKO01")
    login(organizer)
    html = _html(client.get(f"/manage/events/{event.slug}/slack/followups/report"))
    assert '<span class="slack-mention">@知念 花子</span>' in html and "U0HANAKO01" not in html
