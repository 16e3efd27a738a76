"""The fake Slack Web API, driven by the real ``slack_sdk.WebClient`` (SLACK.md §6).

Each test proves one behaviour the app's Slack code will rely on: pagination, errors,
retries through the SDK's own handlers, dropped connections, timeouts, OIDC, limits.
"""

from __future__ import annotations

import base64
import json
import os
import time
import urllib.request
from http.client import RemoteDisconnected
from urllib.parse import parse_qs, parse_qsl, urlsplit

import pytest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry import ConnectionErrorRetryHandler, RateLimitErrorRetryHandler
from slack_sdk.http_retry.builtin_handlers import ServerErrorRetryHandler
from slack_sdk.http_retry.builtin_interval_calculators import FixedValueRetryIntervalCalculator
from slack_sdk.signature import SignatureVerifier
from slack_sdk.webhook import WebhookClient

from eventsvc.slack.signature import verify
from tests.fakeslack import (
    BOT_USER_ID,
    SLACKBOT_ID,
    TEAM_ID,
    FakeSlack,
    Fault,
    RateLimits,
    block_action,
    slash_command,
)
from tests.fakeslack import fixtures as _fixtures

fake_slack = _fixtures.fake_slack
FAST = FixedValueRetryIntervalCalculator(0.0)
SECTION = {"type": "section", "text": {"type": "mrkdwn", "text": "本文"}}


def client(fake: FakeSlack, **kwargs) -> WebClient:
    return WebClient(token=fake.bot_token, base_url=fake.base_url, **kwargs)


def error_of(excinfo: pytest.ExceptionInfo[SlackApiError]) -> str:
    return excinfo.value.response["error"]


# ---------------------------------------------------------------------------- transport, auth
def test_auth_test_and_scopes_header(fake_slack):
    fake, base_url = fake_slack
    assert base_url == fake.base_url and base_url.startswith("http://127.0.0.1:")
    resp = client(fake).auth_test()
    assert resp["team_id"] == TEAM_ID and resp["user_id"] == BOT_USER_ID
    assert resp["bot_id"] == "B0BOT" and resp["url"] == "https://fake.slack.com/"
    assert "chat:write" in resp.headers["X-OAuth-Scopes"].split(",")
    call = fake.calls("auth.test")[0]
    assert call.http_method == "POST" and call.path == "/api/auth.test"
    assert call.headers["Authorization"] == f"Bearer {fake.bot_token}"
    assert "slackclient/" in call.headers["User-Agent"]


def test_unknown_and_missing_tokens(fake_slack):
    fake, _ = fake_slack
    with pytest.raises(SlackApiError) as e:
        WebClient(token="xoxb-wrong", base_url=fake.base_url).auth_test()
    assert error_of(e) == "invalid_auth" and e.value.response.status_code == 200
    with pytest.raises(SlackApiError) as e:
        WebClient(base_url=fake.base_url).auth_test()
    assert error_of(e) == "not_authed"
    fake.revoke(fake.bot_token)
    with pytest.raises(SlackApiError) as e:
        client(fake).auth_test()
    assert error_of(e) == "token_revoked"


def test_unknown_method_and_get_with_query_string(fake_slack):
    fake, _ = fake_slack
    with pytest.raises(SlackApiError) as e:
        client(fake).api_call("no.suchMethod")
    assert error_of(e) == "unknown_method"
    user = fake.add_user(email="q@city.naha.lg.jp")
    url = f"{fake.root_url}users.info?user={user['id']}&token={fake.bot_token}"
    with urllib.request.urlopen(url, timeout=5) as resp:
        body = json.load(resp)
        assert resp.headers["Connection"] == "close"
    assert body["ok"] and body["user"]["id"] == user["id"]


@pytest.fixture
def proxies_set(monkeypatch):
    monkeypatch.setenv("HTTPS_PROXY", "http://127.0.0.1:9")
    monkeypatch.setenv("http_proxy", "http://127.0.0.1:9")


def test_proxy_variables_are_cleared(proxies_set, fake_slack):
    """slack_sdk would send 127.0.0.1 traffic to HTTPS_PROXY (even for http:// URLs)."""
    fake, _ = fake_slack
    assert not {"HTTPS_PROXY", "http_proxy"} & set(os.environ)
    assert client(fake).auth_test()["ok"]


# ---------------------------------------------------------------------------- users
def test_users_list_paginates_with_opaque_cursors_including_deleted_and_bots(fake_slack):
    fake, _ = fake_slack
    alive = fake.add_user(email="taro@city.naha.lg.jp", real_name="山田 太郎")
    gone = fake.add_user(email="gone@city.naha.lg.jp", deleted=True)
    bot = fake.add_user(email=None, name="otherbot", is_bot=True)
    pages = [p.data for p in client(fake).users_list(limit=2)]  # the SDK reuses one object
    assert len(pages) == 3
    cursors = [p["response_metadata"]["next_cursor"] for p in pages]
    assert cursors[-1] == "" and all(c and not c.isdigit() for c in cursors[:-1])
    members = {m["id"]: m for p in pages for m in p["members"]}
    assert set(members) == {BOT_USER_ID, SLACKBOT_ID, alive["id"], gone["id"], bot["id"]}
    assert members[gone["id"]]["deleted"] is True
    assert members[bot["id"]]["is_bot"] is True and members[BOT_USER_ID]["is_bot"] is True
    assert members[alive["id"]]["profile"]["email"] == "taro@city.naha.lg.jp"
    assert members[alive["id"]]["team_id"] == TEAM_ID and members[alive["id"]]["tz"] == "Asia/Tokyo"
    # each page after the first sent the previous cursor back
    sent = [c.params.get("cursor") for c in fake.calls("users.list")]
    assert sent == [None, cursors[0], cursors[1]]


def test_users_list_short_pages_and_invalid_cursor(fake_slack):
    fake, _ = fake_slack
    for i in range(5):
        fake.add_user(email=f"u{i}@town.lg.jp")
    fake.short_pages = True
    pages = [p.data for p in client(fake).users_list(limit=3)]
    assert all(len(p["members"]) <= 2 for p in pages)
    assert sum(len(p["members"]) for p in pages) == 7  # 5 + bot + slackbot
    with pytest.raises(SlackApiError) as e:
        client(fake).users_list(cursor="bm90LWEtY3Vyc29y")
    assert error_of(e) == "invalid_cursor"


def test_lookup_by_email_hit_miss_deleted_and_missing_scope(fake_slack):
    fake, _ = fake_slack
    user = fake.add_user(email="Hanako@City.Kurume.lg.jp", real_name="佐藤 花子")
    fake.add_user(email="left@city.kurume.lg.jp", deleted=True)
    c = client(fake)
    assert c.users_lookupByEmail(email="hanako@city.kurume.lg.jp")["user"]["id"] == user["id"]
    with pytest.raises(SlackApiError) as e:
        c.users_lookupByEmail(email="nobody@city.kurume.lg.jp")
    assert error_of(e) == "users_not_found"
    with pytest.raises(SlackApiError) as e:
        c.users_lookupByEmail(email="left@city.kurume.lg.jp")
    assert error_of(e) == "users_not_found"  # deactivated: only users.list shows them
    fake.withdraw("users:read.email")
    with pytest.raises(SlackApiError) as e:
        c.users_lookupByEmail(email="hanako@city.kurume.lg.jp")
    assert error_of(e) == "missing_scope" and e.value.response["needed"] == "users:read.email"
    listed = {m["id"]: m for m in c.users_list(limit=100)["members"]}
    assert "email" not in listed[user["id"]]["profile"]


def test_users_info(fake_slack):
    fake, _ = fake_slack
    user = fake.add_user(
        email="a@pref.okinawa.lg.jp", real_name="比嘉 さくら", display_name="さくら"
    )
    info = client(fake).users_info(user=user["id"])["user"]
    assert info["real_name"] == "比嘉 さくら" and info["profile"]["display_name"] == "さくら"
    with pytest.raises(SlackApiError) as e:
        client(fake).users_info(user="U0NOBODY")
    assert error_of(e) == "user_not_found"


# ---------------------------------------------------------------------------- conversations
def test_conversations_list_info_join(fake_slack):
    fake, _ = fake_slack
    kyushu = fake.add_channel("kyushu-okinawa")
    fake.add_channel("old-news", is_archived=True)
    unjoined = fake.add_channel("kanto", bot_member=False)
    secret = fake.add_channel("secret", is_private=True, bot_member=False)
    ours = fake.add_channel("organizers", is_private=True)
    c = client(fake)
    names = [
        ch["name"]
        for page in c.conversations_list(
            types="public_channel,private_channel", exclude_archived=True, limit=2
        )
        for ch in page["channels"]
    ]
    assert sorted(names) == ["kanto", "kyushu-okinawa", "organizers"]
    assert len(list(c.conversations_list(limit=1))) == 3  # public incl. archived, one per page
    with pytest.raises(SlackApiError) as e:
        c.conversations_list(types="public_channel,bogus")
    assert error_of(e) == "invalid_types"

    assert c.conversations_info(channel=kyushu["id"])["channel"]["is_member"] is True
    with pytest.raises(SlackApiError) as e:
        c.conversations_info(channel=secret["id"])
    assert error_of(e) == "channel_not_found"

    joined = c.conversations_join(channel=unjoined["id"])
    assert joined["channel"]["is_member"] is True and "warning" not in joined
    again = c.conversations_join(channel=unjoined["id"])
    assert again["warning"] == "already_in_channel"
    assert again["response_metadata"]["warnings"] == ["already_in_channel"]
    with pytest.raises(SlackApiError) as e:
        c.conversations_join(channel=ours["id"])
    assert error_of(e) == "method_not_supported_for_channel_type"


def test_conversations_invite_rules(fake_slack):
    fake, _ = fake_slack
    channel = fake.add_channel("kyushu-okinawa")
    users = [fake.add_user(email=f"m{i}@city.naha.lg.jp")["id"] for i in range(101)]
    gone = fake.add_user(email="gone@city.naha.lg.jp", deleted=True)["id"]
    c = client(fake)
    with pytest.raises(SlackApiError) as e:
        c.conversations_invite(channel=channel["id"], users=users)  # 101 > 100
    assert error_of(e) == "invalid_arguments"
    assert c.conversations_invite(channel=channel["id"], users=users[:100])["ok"]
    assert users[99] in fake.members(channel["id"])
    # one bad user fails the whole call unless force=true
    with pytest.raises(SlackApiError) as e:
        c.conversations_invite(channel=channel["id"], users=[users[100], users[0]])
    assert error_of(e) == "already_in_channel"
    assert e.value.response["errors"] == [
        {"user": users[0], "ok": False, "error": "already_in_channel"}
    ]
    assert users[100] not in fake.members(channel["id"])
    forced = c.conversations_invite(channel=channel["id"], users=[users[100], gone], force=True)
    assert forced["ok"] and forced["errors"][0]["error"] == "user_not_found"
    assert users[100] in fake.members(channel["id"])
    with pytest.raises(SlackApiError) as e:
        c.conversations_invite(channel=channel["id"], users=[BOT_USER_ID])
    assert error_of(e) == "cant_invite_self"
    outside = fake.add_channel("kanto", bot_member=False)
    with pytest.raises(SlackApiError) as e:
        c.conversations_invite(channel=outside["id"], users=[users[0]])
    assert error_of(e) == "not_in_channel"


def test_conversations_open(fake_slack):
    fake, _ = fake_slack
    a = fake.add_user(email="a@town.lg.jp")["id"]
    gone = fake.add_user(email="g@town.lg.jp", deleted=True)["id"]
    c = client(fake)
    first = c.conversations_open(users=a)
    assert first["channel"]["id"].startswith("D") and "no_op" not in first
    second = c.conversations_open(users=[a])
    assert second["channel"]["id"] == first["channel"]["id"]
    assert second["no_op"] is True and second["already_open"] is True
    for users, error in [
        ([gone], "user_disabled"),
        (["U0NOBODY"], "user_not_found"),
        ([a] * 1 + [f"U{i}" for i in range(8)], "too_many_users"),
    ]:
        with pytest.raises(SlackApiError) as e:
            c.conversations_open(users=users)
        assert error_of(e) == error
    with pytest.raises(SlackApiError) as e:
        c.api_call("conversations.open", params={})
    assert error_of(e) == "users_list_not_supplied"


# ---------------------------------------------------------------------------- posting
def test_post_message_json_stores_by_channel_and_ts_with_threads(fake_slack):
    fake, _ = fake_slack
    channel = fake.add_channel("kyushu-okinawa")["id"]
    c = client(fake)
    parent = c.chat_postMessage(channel=channel, text="開催報告", blocks=[SECTION])
    assert parent["channel"] == channel and parent["message"]["bot_id"] == "B0BOT"
    reply = c.chat_postMessage(channel=channel, text="チーム", thread_ts=parent["ts"])
    other = c.chat_postMessage(channel=channel, text="もう一通")
    assert len({parent["ts"], reply["ts"], other["ts"]}) == 3
    stored = fake.message(channel, parent["ts"])
    assert stored["blocks"] == [SECTION] and stored["reply_count"] == 1
    assert [m["text"] for m in fake.replies(channel, parent["ts"])] == ["チーム"]
    assert [m["ts"] for m in fake.messages(channel)] == [parent["ts"], reply["ts"], other["ts"]]
    call = fake.calls("chat.postMessage")[0]
    assert call.headers["Content-Type"].startswith("application/json")
    assert call.params["blocks"] == [SECTION]  # a real array on the wire


def test_post_message_form_encoded_and_to_a_user_id(fake_slack):
    fake, _ = fake_slack
    channel = fake.add_channel("kanto")["id"]
    resp = client(fake).api_call(
        "chat.postMessage",
        params={"channel": channel, "text": "form", "blocks": json.dumps([SECTION])},
    )
    assert fake.message(channel, resp["ts"])["blocks"] == [SECTION]
    assert (
        fake.calls("chat.postMessage")[0]
        .headers["Content-Type"]
        .startswith("application/x-www-form-urlencoded")
    )
    user = fake.add_user(email="dm@city.naha.lg.jp")["id"]
    dm = client(fake).chat_postMessage(channel=user, text="アンケートのお願い")
    assert dm["channel"].startswith("D") and dm["channel"] == fake.dm_channel(user)
    assert fake.messages(dm["channel"])[0]["text"] == "アンケートのお願い"


def test_post_message_errors(fake_slack):
    fake, _ = fake_slack
    channel = fake.add_channel("kyushu-okinawa")["id"]
    archived = fake.add_channel("old", is_archived=True)["id"]
    outside = fake.add_channel("kanto", bot_member=False)["id"]
    c = client(fake)
    cases = [
        (dict(channel="C0NOPE", text="x"), "channel_not_found"),
        (dict(channel=archived, text="x"), "is_archived"),
        (dict(channel=outside, text="x"), "not_in_channel"),
        (dict(channel=channel, text="x", blocks=[SECTION] * 51), "invalid_blocks"),
    ]
    for kwargs, error in cases:
        with pytest.raises(SlackApiError) as e:
            c.chat_postMessage(**kwargs)
        assert error_of(e) == error
    with pytest.raises(SlackApiError) as e:  # via api_call: chat_postMessage would warn first
        c.api_call("chat.postMessage", json={"channel": channel})
    assert error_of(e) == "no_text"
    long_section = {"type": "section", "text": {"type": "mrkdwn", "text": "あ" * 3001}}
    with pytest.raises(SlackApiError) as e:
        c.chat_postMessage(channel=channel, text="x", blocks=[long_section])
    assert error_of(e) == "invalid_blocks"
    assert e.value.response["errors"] == [
        "must be less than 3001 characters [json-pointer:/blocks/0/text/text]"
    ]
    many = [{"type": "section", "text": {"type": "mrkdwn", "text": "あ" * 2900}}] * 5
    with pytest.raises(SlackApiError) as e:
        c.chat_postMessage(channel=channel, text="x", blocks=many)
    assert error_of(e) == "msg_blocks_too_long"
    assert fake.messages() == []
    fake.grant("chat:write.public")  # models the chat:write.public scope
    assert c.chat_postMessage(channel=outside, text="公開チャンネルへ")["ok"]


def test_post_message_truncates_very_long_text(fake_slack):
    fake, _ = fake_slack
    channel = fake.add_channel("general")["id"]
    resp = client(fake).chat_postMessage(channel=channel, text="a" * 40_001)
    assert resp["ok"] and resp["response_metadata"]["warnings"] == ["message_truncated"]
    assert len(fake.message(channel, resp["ts"])["text"]) == 40_000


def test_schedule_message_with_injected_clock(fake_slack):
    fake, _ = fake_slack
    now = 1_750_000_000
    fake.clock = lambda: now
    channel = fake.add_channel("kyushu-okinawa")["id"]
    c = client(fake)
    resp = c.chat_scheduleMessage(channel=channel, post_at=now + 86_400, text="明日です")
    assert resp["scheduled_message_id"].startswith("Q") and resp["post_at"] == str(now + 86_400)
    assert resp["message"]["type"] == "delayed_message"
    for post_at, error in [
        (now - 1, "time_in_past"),
        (now + 121 * 86_400, "time_too_far"),
        ("tomorrow", "invalid_time"),
    ]:
        with pytest.raises(SlackApiError) as e:
            c.api_call(
                "chat.scheduleMessage", json={"channel": channel, "post_at": post_at, "text": "x"}
            )
        assert error_of(e) == error
    window = now + 2 * 86_400 - (now + 2 * 86_400) % 300
    for i in range(30):
        c.chat_scheduleMessage(channel=channel, post_at=window + i, text=f"{i}")
    with pytest.raises(SlackApiError) as e:
        c.chat_scheduleMessage(channel=channel, post_at=window + 30, text="31st")
    assert error_of(e) == "restricted_too_many"
    assert len(fake.scheduled(channel)) == 31
    assert fake.messages(channel) == []
    now += 86_400
    posted = fake.deliver_due()
    assert [m["text"] for m in posted] == ["明日です"]
    assert c.chat_deleteScheduledMessage(
        channel=channel, scheduled_message_id=fake.scheduled()[0]["id"]
    )["ok"]


def test_update_delete_and_permalink(fake_slack):
    fake, _ = fake_slack
    channel = fake.add_channel("kyushu-okinawa")["id"]
    human = fake.add_user(email="h@city.naha.lg.jp")["id"]
    theirs = fake.add_message(channel, "自己紹介です", user=human)
    c = client(fake)
    ts = c.chat_postMessage(channel=channel, text="初版")["ts"]
    updated = c.chat_update(channel=channel, ts=ts, text="訂正版", blocks=[SECTION])
    assert updated["ts"] == ts and updated["text"] == "訂正版"
    stored = fake.message(channel, ts)
    assert stored["text"] == "訂正版" and stored["blocks"] == [SECTION] and "edited" in stored
    for kwargs, error in [
        (dict(channel=channel, ts="1.000001", text="x"), "message_not_found"),
        (dict(channel=channel, ts=theirs, text="x"), "cant_update_message"),
        (dict(channel=channel, ts=ts, text="a" * 4001), "msg_too_long"),
        (dict(channel="C0NOPE", ts=ts, text="x"), "channel_not_found"),
    ]:
        with pytest.raises(SlackApiError) as e:
            c.chat_update(**kwargs)
        assert error_of(e) == error
    link = c.chat_getPermalink(channel=channel, message_ts=ts)["permalink"]
    assert link == f"https://fake.slack.com/archives/{channel}/p{ts.replace('.', '')}"
    with pytest.raises(SlackApiError) as e:
        c.chat_getPermalink(channel=channel, message_ts="1.000001")
    assert error_of(e) == "message_not_found"
    assert c.chat_delete(channel=channel, ts=ts)["ok"] and fake.message(channel, ts) is None


def test_history_with_metadata_lets_a_sender_reconcile(fake_slack):
    fake, _ = fake_slack
    channel = fake.add_channel("kyushu-okinawa")["id"]
    c = client(fake)
    oldest = f"{int(time.time()) - 5}.000000"
    for i in range(5):
        c.chat_postMessage(
            channel=channel,
            text=f"post {i}",
            metadata={"event_type": "eventsvc_outbox", "event_payload": {"outbox_id": str(i)}},
        )
    plain = c.conversations_history(channel=channel)["messages"]
    assert "metadata" not in plain[0] and plain[0]["text"] == "post 4"  # newest first
    pages = [
        p.data
        for p in c.conversations_history(
            channel=channel, oldest=oldest, include_all_metadata=True, limit=2
        )
    ]
    assert len(pages) == 3 and pages[0]["has_more"] is True and pages[-1]["has_more"] is False
    found = [
        m["ts"]
        for p in pages
        for m in p["messages"]
        if m.get("metadata", {}).get("event_payload", {}).get("outbox_id") == "3"
    ]
    assert len(found) == 1 and fake.message(channel, found[0])["text"] == "post 3"
    with pytest.raises(SlackApiError) as e:
        c.chat_postMessage(channel=channel, text="x", metadata={"event_payload": {}})
    assert error_of(e) == "invalid_metadata_format"


# ---------------------------------------------------------------------------- OIDC
def test_oidc_token_exchange_and_userinfo(fake_slack):
    fake, _ = fake_slack
    user = fake.add_user(email="sakura@pref.okinawa.lg.jp", real_name="比嘉 さくら")
    redirect = "http://127.0.0.1:5000/slack/oidc/callback"
    code = fake.issue_oidc_code(user["id"], redirect, nonce="n-123")
    anon = WebClient(base_url=fake.base_url)
    tokens = anon.openid_connect_token(
        client_id=fake.client_id, client_secret=fake.client_secret, code=code, redirect_uri=redirect
    )
    assert tokens["access_token"].startswith("xoxp-") and tokens["token_type"] == "Bearer"
    assert fake.calls("openid.connect.token")[0].headers["Authorization"].startswith("Basic ")
    payload = tokens["id_token"].split(".")[1]
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    assert (
        claims["sub"] == user["id"]
        and claims["nonce"] == "n-123"
        and claims["aud"] == fake.client_id
    )

    info = WebClient(token=tokens["access_token"], base_url=fake.base_url).openid_connect_userInfo()
    assert info["sub"] == user["id"] and info["https://slack.com/user_id"] == user["id"]
    assert info["https://slack.com/team_id"] == TEAM_ID and info["email_verified"] is True
    assert info["email"] == "sakura@pref.okinawa.lg.jp" and info["locale"] == "ja-JP"

    with pytest.raises(SlackApiError) as e:  # single use
        anon.openid_connect_token(
            client_id=fake.client_id,
            client_secret=fake.client_secret,
            code=code,
            redirect_uri=redirect,
        )
    assert error_of(e) == "invalid_code"
    with pytest.raises(SlackApiError) as e:  # bot tokens cannot read OIDC claims
        client(fake).openid_connect_userInfo()
    assert error_of(e) == "invalid_auth"


def test_oidc_errors_and_body_credentials(fake_slack):
    fake, _ = fake_slack
    uid = fake.add_user(email="x@town.lg.jp")["id"]
    anon = WebClient(base_url=fake.base_url)
    code = fake.issue_oidc_code(uid, "https://app.example/cb")
    for kwargs, error in [
        (dict(client_id="nope", client_secret=fake.client_secret), "invalid_client_id"),
        (dict(client_id=fake.client_id, client_secret="wrong"), "bad_client_secret"),
    ]:
        with pytest.raises(SlackApiError) as e:
            anon.openid_connect_token(code=code, redirect_uri="https://app.example/cb", **kwargs)
        assert error_of(e) == error
    with pytest.raises(SlackApiError) as e:
        anon.openid_connect_token(
            client_id=fake.client_id, client_secret=fake.client_secret, code=code,
            redirect_uri="https://evil.example/cb",
        )  # fmt: skip
    assert error_of(e) == "bad_redirect_uri"
    # client_id/client_secret in the form body instead of Basic auth; the code is still unused
    resp = anon.api_call(
        "openid.connect.token",
        params={"client_id": fake.client_id, "client_secret": fake.client_secret, "code": code,
                "redirect_uri": "https://app.example/cb"},
    )  # fmt: skip
    assert resp["ok"]
    other_team = fake.issue_oidc_code(uid, None, team_id="T0OTHER")
    token = anon.openid_connect_token(
        client_id=fake.client_id, client_secret=fake.client_secret, code=other_team
    )["access_token"]
    info = WebClient(token=token, base_url=fake.base_url).openid_connect_userInfo()
    assert info["https://slack.com/team_id"] == "T0OTHER"


def test_authorize_page_redirects_with_code_and_state(fake_slack):
    fake, _ = fake_slack
    uid = fake.add_user(email="x@town.lg.jp")["id"]
    fake.login_as(uid)

    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args, **kwargs):
            return None

    opener = urllib.request.build_opener(NoRedirect)
    query = f"client_id={fake.client_id}&state=s1&redirect_uri=http://127.0.0.1:1/cb&scope=openid"
    with pytest.raises(urllib.error.HTTPError) as e:
        opener.open(f"{fake.authorize_url}?{query}", timeout=5)
    assert e.value.code == 302
    location = urlsplit(e.value.headers["Location"])
    params = parse_qs(location.query)
    assert params["state"] == ["s1"] and params["code"][0].startswith("fakecode-")


# ---------------------------------------------------------------------------- faults
def test_ratelimit_then_success_with_rate_limit_handler(fake_slack):
    fake, _ = fake_slack
    channel = fake.add_channel("general")["id"]
    fake.inject("chat.postMessage", Fault("ratelimit", retry_after=0), times=1)
    c = client(fake, retry_handlers=[RateLimitErrorRetryHandler(max_retry_count=1)])
    assert c.chat_postMessage(channel=channel, text="x")["ok"]
    assert [call.status for call in fake.calls("chat.postMessage")] == [429, 200]
    assert len(fake.messages(channel)) == 1


def test_ratelimit_surfaces_integer_retry_after_without_handler(fake_slack):
    fake, _ = fake_slack
    fake.inject("users.list", Fault("ratelimit", retry_after=7))
    with pytest.raises(SlackApiError) as e:
        client(fake, retry_handlers=[]).users_list(limit=10)
    assert e.value.response.status_code == 429 and error_of(e) == "ratelimited"
    assert e.value.response.headers["Retry-After"] == "7"
    assert e.value.response.headers["retry-after"] == "7"


def test_500_and_503_retried_by_server_error_handler_but_502_is_not(fake_slack):
    fake, _ = fake_slack
    fake.inject("users.info", Fault("http_status", status=500))
    fake.inject("users.info", Fault("http_status", status=503))
    c = client(
        fake, retry_handlers=[ServerErrorRetryHandler(max_retry_count=2, interval_calculator=FAST)]
    )
    with pytest.raises(SlackApiError) as e:
        c.users_info(user="U0NOBODY")
    assert error_of(e) == "user_not_found" and fake.count("users.info") == 3
    fake.inject("users.info", Fault("http_status", status=502))
    with pytest.raises(SlackApiError) as e:
        c.users_info(user=BOT_USER_ID)
    assert e.value.response.status_code == 502
    assert error_of(e).startswith("Received a response in a non-JSON format")
    assert fake.count("users.info") == 4


def test_http_200_fatal_error_is_not_retried(fake_slack):
    fake, _ = fake_slack
    channel = fake.add_channel("general")["id"]
    fake.inject("chat.postMessage", Fault("error", error="fatal_error"))
    c = client(fake, retry_handlers=[RateLimitErrorRetryHandler(), ServerErrorRetryHandler()])
    with pytest.raises(SlackApiError) as e:
        c.chat_postMessage(channel=channel, text="x")
    assert error_of(e) == "fatal_error" and fake.count("chat.postMessage") == 1


def test_drop_is_resent_by_the_default_connection_handler(fake_slack):
    fake, _ = fake_slack
    channel = fake.add_channel("general")["id"]
    fake.inject("chat.postMessage", Fault("drop"))
    c = client(fake)  # default retry_handlers = [ConnectionErrorRetryHandler()]
    assert isinstance(c.retry_handlers[0], ConnectionErrorRetryHandler)
    assert c.chat_postMessage(channel=channel, text="x")["ok"]
    assert fake.count("chat.postMessage") == 2 and len(fake.messages(channel)) == 1


def test_apply_then_drop_makes_the_default_client_post_twice(fake_slack):
    """SLACK.md §2: Slack stored the post, the reply was lost, the SDK re-sent it."""
    fake, _ = fake_slack
    channel = fake.add_channel("general")["id"]
    fake.inject("chat.postMessage", Fault("apply_then_drop"))
    client(fake).chat_postMessage(channel=channel, text="開催報告")
    assert [m["text"] for m in fake.messages(channel)] == ["開催報告", "開催報告"]  # duplicate!

    fake.reset()
    fake.inject("chat.postMessage", Fault("apply_then_drop"))
    with pytest.raises(RemoteDisconnected):
        client(fake, retry_handlers=[]).chat_postMessage(channel=channel, text="開催報告")
    assert len(fake.messages(channel)) == 1  # posted once; the sender must reconcile


def test_slow_reply_times_out_but_the_post_lands(fake_slack):
    fake, _ = fake_slack
    channel = fake.add_channel("general")["id"]
    fake.inject("chat.postMessage", Fault("slow", sleep=1.4))
    with pytest.raises(TimeoutError):
        client(fake, timeout=1).chat_postMessage(channel=channel, text="x")
    deadline = time.monotonic() + 3
    while not fake.messages(channel) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert len(fake.messages(channel)) == 1  # outcome was unknown to the client


def test_apply_then_status_posts_and_answers_500(fake_slack):
    fake, _ = fake_slack
    channel = fake.add_channel("general")["id"]
    fake.inject("chat.postMessage", Fault("apply_then_status", status=503))
    with pytest.raises(SlackApiError) as e:
        client(fake, retry_handlers=[]).chat_postMessage(channel=channel, text="x")
    assert e.value.response.status_code == 503 and len(fake.messages(channel)) == 1


def test_faults_run_in_order_with_match_and_wildcard(fake_slack):
    fake, _ = fake_slack
    a = fake.add_channel("a")["id"]
    b = fake.add_channel("b")["id"]
    fake.inject("chat.postMessage", Fault("error", error="internal_error", match={"channel": b}))
    fake.inject("*", Fault("error", error="fatal_error"), times=2)
    c = client(fake)
    for expected in ["fatal_error", "fatal_error"]:
        with pytest.raises(SlackApiError) as e:
            c.chat_postMessage(channel=a, text="x")
        assert error_of(e) == expected
    with pytest.raises(SlackApiError) as e:
        c.chat_postMessage(channel=b, text="x")
    assert error_of(e) == "internal_error"
    assert c.chat_postMessage(channel=b, text="x")["ok"] and fake.pending_faults() == []
    with pytest.raises(ValueError):
        Fault("explode")
    with pytest.raises(ValueError):
        Fault("ratelimit", retry_after=1.5)


def test_control_endpoints_over_http(fake_slack):
    fake, _ = fake_slack

    def call(path, body=None, method="POST"):
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(
            fake.root_url + path, data=data, method=method,
            headers={"Content-Type": "application/json"},
        )  # fmt: skip
        with urllib.request.urlopen(req, timeout=5) as resp:
            return json.load(resp)

    assert call("_fake/faults", {"method": "auth.test", "kind": "error", "error": "fatal_error"})[
        "ok"
    ]
    with pytest.raises(SlackApiError):
        client(fake).auth_test()
    calls = call("_fake/calls?method=auth.test", method="GET")["calls"]
    assert len(calls) == 1 and calls[0]["fault"] == "error" and calls[0]["error"] == "fatal_error"
    channel = call("_fake/channels", {"name": "kinki"})["channel"]["id"]
    client(fake).chat_postMessage(channel=channel, text="x")
    assert len(call(f"_fake/messages?channel={channel}", method="GET")["messages"]) == 1
    assert call("_fake/reset", {})["ok"]
    assert fake.count() == 0 and fake.messages() == []


def test_calls_are_recorded_with_params_headers_and_time(fake_slack):
    fake, _ = fake_slack
    before = time.monotonic()
    client(fake).users_list(limit=5)
    (call,) = fake.calls("users.list")
    assert call.params == {"limit": "5"} and call.status == 200 and call.ok is True
    assert before <= call.t <= time.monotonic() and call.headers["Authorization"].startswith(
        "Bearer"
    )
    assert fake.count("users.list") == 1 and fake.count() == 1


# ---------------------------------------------------------------------------- rate limiter
def test_rate_limiter_per_channel_for_posts(fake_slack):
    fake, _ = fake_slack
    a = fake.add_channel("a")["id"]
    b = fake.add_channel("b")["id"]
    fake.enable_rate_limits(post_channel_burst=1)
    c = client(fake, retry_handlers=[])
    assert c.chat_postMessage(channel=a, text="1")["ok"]
    with pytest.raises(SlackApiError) as e:
        c.chat_postMessage(channel=a, text="2")
    assert e.value.response.status_code == 429 and e.value.response.headers["Retry-After"] == "1"
    assert c.chat_postMessage(channel=b, text="1")["ok"]  # other channels are independent
    assert fake.calls("chat.postMessage")[1].fault == "ratelimited"


def test_rate_limiter_tiers_scale_and_lower_bound():
    clock = [0.0]
    limits = RateLimits(scale=2.0, tier_burst={2: 2}, clock=lambda: clock[0])
    assert limits.check("users.list") == 0 and limits.check("users.list") == 0
    wait = limits.check("users.list")  # Tier 2: 20/min x 2 = 1 per 1.5 s
    assert wait == pytest.approx(1.5)
    clock[0] += 1.5
    assert limits.check("users.list") == 0
    assert limits.check("some.unlisted") == 0
    plain = RateLimits(post_channel_burst=3, post_workspace_per_minute=60, post_workspace_burst=10)
    dms = [("chat.postMessage", f"D{i}") for i in range(500)]
    posts = [("chat.postMessage", "C1")] * 8
    assert plain.lower_bound(dms + posts) == pytest.approx(498.0)  # workspace 1/s, burst 10
    assert RateLimits().lower_bound(posts) == pytest.approx(5.0)  # 1/s per channel, burst 3


# ---------------------------------------------------------------------------- Slack -> app
def test_signed_incoming_requests_verify():
    secret = "signing-secret"
    body, headers = slash_command(secret, user_id="U0TARO", text="九州")
    fields = dict(parse_qsl(body.decode()))
    assert (
        fields["command"] == "/events" and fields["text"] == "九州" and fields["team_id"] == TEAM_ID
    )
    now = int(headers["X-Slack-Request-Timestamp"])
    assert verify(
        secret, headers["X-Slack-Request-Timestamp"], body, headers["X-Slack-Signature"], now
    )
    lower = {k.lower(): v for k, v in headers.items()}
    assert SignatureVerifier(secret).is_valid_request(body, lower)

    body, headers = block_action(secret, user_id="U0TARO", value="naha-3", timestamp=now)
    payload = json.loads(dict(parse_qsl(body.decode()))["payload"])
    assert payload["type"] == "block_actions" and payload["user"]["id"] == "U0TARO"
    assert (payload["actions"][0]["action_id"], payload["actions"][0]["value"]) == (
        "register",
        "naha-3",
    )
    assert verify(secret, str(now), body, headers["X-Slack-Signature"], now)


def test_response_url_receiver(fake_slack):
    fake, _ = fake_slack
    url = fake.new_response_url()
    hook = WebhookClient(url)
    for i in range(5):
        assert hook.send(text=f"登録しました {i}", response_type="ephemeral").status_code == 200
    assert hook.send(text="6th").status_code == 404  # Slack allows five uses
    received = fake.responses(url)
    assert len(received) == 5 and received[0] == {
        "text": "登録しました 0",
        "response_type": "ephemeral",
    }
