"""SdkGateway against the fake Slack API: results, and how each fault is classified."""

from __future__ import annotations

import socket
import time

import pytest
from slack_sdk import WebClient
from slack_sdk.http_retry.builtin_interval_calculators import FixedValueRetryIntervalCalculator

from eventsvc.slack import blocks as b
from eventsvc.slack.gateway import (
    OUTBOX_EVENT_TYPE,
    InviteResult,
    PostRef,
    SdkGateway,
    SlackConfigError,
    SlackGateway,
    SlackPermanent,
    SlackRetryable,
    SlackUncertain,
    normalize_email,
    outbox_metadata,
)
from tests.fakeslack import BOT_USER_ID, TEAM_ID, FakeSlack, Fault
from tests.fakeslack import fixtures as _fixtures

fake_slack = _fixtures.fake_slack
FAST = FixedValueRetryIntervalCalculator(0.0)


def gateway(fake: FakeSlack, **kwargs) -> SdkGateway:
    options = dict(
        base_url=fake.base_url,
        client_id=fake.client_id,
        client_secret=fake.client_secret,
        retry_interval=FAST,
        page_limit=2,
    )
    options.update(kwargs)
    return SdkGateway(fake.bot_token, **options)


@pytest.fixture
def slack(fake_slack):
    fake, _ = fake_slack
    channel = fake.add_channel("kyushu-okinawa")["id"]
    return fake, gateway(fake), channel


def test_sdk_gateway_satisfies_the_protocol(slack):
    _, gw, _ = slack
    assert isinstance(gw, SdkGateway)
    protocol_methods = {
        name
        for name in vars(SlackGateway)
        if not name.startswith("_") and callable(getattr(SlackGateway, name))
    }
    assert protocol_methods <= set(dir(gw))


def test_clients_have_the_right_retry_handlers(slack):
    _, gw, _ = slack
    poster = [type(h).__name__ for h in gw.poster.retry_handlers]
    reader = [type(h).__name__ for h in gw.reader.retry_handlers]
    assert poster == ["_BoundedRateLimitRetryHandler"]  # no connection/server retry for posts
    assert reader == [
        "_BoundedRateLimitRetryHandler",
        "ServerErrorRetryHandler",
        "ConnectionErrorRetryHandler",
    ]
    assert gw.poster.proxy is None and gw.reader.proxy is None


# ---------------------------------------------------------------------------- identity, directory
def test_auth_test(slack):
    _, gw, _ = slack
    info = gw.auth_test()
    assert (info.team_id, info.user_id, info.bot_id) == (TEAM_ID, BOT_USER_ID, "B0BOT")
    assert info.scopes is not None and {"chat:write", "users:read.email"} <= info.scopes


def test_configuration_errors(fake_slack):
    fake, _ = fake_slack
    with pytest.raises(SlackConfigError) as e:
        SdkGateway(None, base_url=fake.base_url).auth_test()
    assert e.value.error == "not_configured" and fake.count() == 0
    with pytest.raises(SlackConfigError) as e:
        SdkGateway("xoxb-wrong", base_url=fake.base_url).auth_test()
    assert e.value.error == "invalid_auth"
    fake.withdraw("users:read.email")
    with pytest.raises(SlackConfigError) as e:
        gateway(fake).lookup_by_email("a@city.naha.lg.jp")
    assert e.value.error == "missing_scope" and e.value.response["needed"] == "users:read.email"


def test_list_channels_paginates(slack):
    fake, gw, channel = slack
    fake.add_channel("kanto", bot_member=False)
    fake.add_channel("organizers", is_private=True)
    fake.add_channel("secret", is_private=True, bot_member=False)
    fake.add_channel("old", is_archived=True)
    channels = gw.list_channels()
    assert sorted(c.name for c in channels) == ["kanto", "kyushu-okinawa", "organizers"]
    assert fake.count("conversations.list") == 2  # page_limit=2
    assert next(c for c in channels if c.id == channel).is_member is True
    assert len(gw.list_channels(exclude_archived=False)) == 4


def test_list_users_filters_and_normalises(slack):
    fake, gw, _ = slack
    taro = fake.add_user(email=" Taro.Yamada@City.Naha.LG.JP ", real_name="山田 太郎")
    fullwidth = fake.add_user(email="ｈａｎａｋｏ@city.kurume.lg.jp", real_name="佐藤 花子")
    gone = fake.add_user(email="gone@city.naha.lg.jp", deleted=True)
    fake.add_user(email="bot@city.naha.lg.jp", is_bot=True)
    fake.add_user(email="app@city.naha.lg.jp", is_app_user=True)
    fake.add_user(email=None, name="no-email")
    users = gw.list_users()
    assert set(users) == {"taro.yamada@city.naha.lg.jp", "hanako@city.kurume.lg.jp"}
    assert users["taro.yamada@city.naha.lg.jp"].id == taro["id"]
    assert users["hanako@city.kurume.lg.jp"].id == fullwidth["id"]
    assert users["taro.yamada@city.naha.lg.jp"].real_name == "山田 太郎"
    assert fake.count("users.list") > 2  # 9 members, 2 per page
    with_deleted = gw.list_users(include_deleted=True)
    assert (
        with_deleted["gone@city.naha.lg.jp"].id == gone["id"]
        and with_deleted["gone@city.naha.lg.jp"].deleted
    )


def test_list_users_survives_short_pages_and_a_429(slack):
    fake, gw, _ = slack
    for i in range(6):
        fake.add_user(email=f"u{i}@town.lg.jp")
    fake.short_pages = True
    fake.inject("users.list", Fault("ratelimit", retry_after=0))
    assert len(gw.list_users()) == 6


def test_lookup_by_email_and_user_info(slack):
    fake, gw, _ = slack
    taro = fake.add_user(email="taro@city.naha.lg.jp")
    fake.add_user(email="gone@city.naha.lg.jp", deleted=True)
    assert gw.lookup_by_email(" TARO@city.naha.lg.jp").id == taro["id"]
    assert fake.calls("users.lookupByEmail")[0].params["email"] == "taro@city.naha.lg.jp"
    assert gw.lookup_by_email("nobody@city.naha.lg.jp") is None
    assert gw.lookup_by_email("gone@city.naha.lg.jp") is None
    assert gw.user_info(taro["id"]).email == "taro@city.naha.lg.jp"
    assert gw.user_info("U0NOBODY") is None


def test_normalize_email_and_outbox_metadata():
    assert normalize_email("  Ｔａｒｏ@Naha.LG.jp ") == "taro@naha.lg.jp"
    assert outbox_metadata(42) == {
        "event_type": OUTBOX_EVENT_TYPE,
        "event_payload": {"outbox_id": "42"},
    }


# ---------------------------------------------------------------------------- posting
def test_post_update_permalink_delete(slack):
    fake, gw, channel = slack
    message = b.survey_dm(
        b.EventInfo(
            "勉強会", "2024年2月15日(木)", "那覇", "https://e.example/e", "https://e.example/r"
        ),
        "https://e.example/s",
    )
    ref = gw.post_message(channel, message.text, message.blocks, metadata=outbox_metadata(7))
    posted_channel, ts = ref
    assert isinstance(ref, PostRef) and posted_channel == channel
    assert fake.message(channel, ts)["metadata"]["event_payload"] == {"outbox_id": "7"}
    reply = gw.post_message(channel, "チーム分け", None, thread_ts=ts)
    assert fake.message(channel, reply.ts)["thread_ts"] == ts
    assert gw.update_message(channel, ts, "訂正", None) == ref
    assert fake.message(channel, ts)["text"] == "訂正" and "blocks" not in fake.message(channel, ts)
    assert gw.get_permalink(channel, ts).endswith(ts.replace(".", ""))
    gw.delete_message(channel, ts)
    gw.delete_message(channel, ts)  # already gone: fine
    assert fake.message(channel, ts) is None
    with pytest.raises(ValueError):
        gw.post_message(channel, "", message.blocks)


def test_dm_and_schedule(slack):
    fake, gw, channel = slack
    fake.clock = lambda: 1_750_000_000
    user = fake.add_user(email="dm@town.lg.jp")["id"]
    dm = gw.open_dm(user)
    assert dm.startswith("D") and gw.open_dm(user) == dm
    assert gw.post_message(dm, "アンケートのお願い", None).channel == dm
    sid = gw.schedule_message(channel, 1_750_000_000 + 86_400, "明日開催", None)
    assert sid.startswith("Q") and fake.scheduled(channel)[0]["text"] == "明日開催"
    with pytest.raises(SlackPermanent) as e:
        gw.schedule_message(channel, 1_700_000_000, "過去", None)
    assert e.value.error == "time_in_past"


@pytest.mark.parametrize(
    ("setup", "error"),
    [
        (lambda fake: "C0NOPE", "channel_not_found"),
        (lambda fake: fake.add_channel("old", is_archived=True)["id"], "is_archived"),
        (lambda fake: fake.add_channel("kanto", bot_member=False)["id"], "not_in_channel"),
    ],
)
def test_post_permanent_channel_errors(slack, setup, error):
    fake, gw, _ = slack
    with pytest.raises(SlackPermanent) as e:
        gw.post_message(setup(fake), "x", None)
    assert e.value.error == error and not isinstance(e.value, SlackConfigError)
    assert fake.count("chat.postMessage") == 1


def test_post_invalid_blocks_carry_slack_errors(slack):
    fake, gw, channel = slack
    section = {"type": "section", "text": {"type": "mrkdwn", "text": "x"}}
    with pytest.raises(SlackPermanent) as e:
        gw.post_message(channel, "x", [section] * 51)
    assert e.value.error == "invalid_blocks" and e.value.response["errors"]


# ---------------------------------------------------------------------------- post faults
def test_post_429_short_wait_is_retried_inline(slack):
    fake, gw, channel = slack
    fake.inject("chat.postMessage", Fault("ratelimit", retry_after=0))
    assert gw.post_message(channel, "x", None).channel == channel
    assert fake.count("chat.postMessage") == 2 and len(fake.messages(channel)) == 1


def test_post_429_long_wait_surfaces_retry_after(slack):
    fake, gw, channel = slack
    fake.inject("chat.postMessage", Fault("ratelimit", retry_after=30))
    started = time.monotonic()
    with pytest.raises(SlackRetryable) as e:
        gw.post_message(channel, "x", None)
    assert time.monotonic() - started < 2  # did not sleep 30 s
    assert e.value.error == "ratelimited" and e.value.retry_after == 30
    assert not e.value.may_have_applied and fake.count("chat.postMessage") == 1


def test_post_429_persisting_gives_up_after_the_retry_budget(fake_slack):
    fake, _ = fake_slack
    channel = fake.add_channel("general")["id"]
    fake.inject("chat.postMessage", Fault("ratelimit", retry_after=0), times=5)
    with pytest.raises(SlackRetryable) as e:
        gateway(fake, rate_limit_retries=1).post_message(channel, "x", None)
    assert e.value.retry_after == 0 and fake.count("chat.postMessage") == 2


@pytest.mark.parametrize("status", [500, 503])
def test_post_500_503_is_retryable_but_may_have_applied(slack, status):
    fake, gw, channel = slack
    fake.inject("chat.postMessage", Fault("http_status", status=status))
    with pytest.raises(SlackRetryable) as e:
        gw.post_message(channel, "x", None)
    assert e.value.error == f"http_{status}" and e.value.may_have_applied
    assert fake.count("chat.postMessage") == 1  # the gateway itself never re-posts


@pytest.mark.parametrize("status", [502, 504])
def test_post_502_504_is_uncertain(slack, status):
    fake, gw, channel = slack
    fake.inject("chat.postMessage", Fault("http_status", status=status))
    with pytest.raises(SlackUncertain) as e:
        gw.post_message(channel, "x", None)
    assert e.value.error == f"http_{status}" and e.value.status == status


@pytest.mark.parametrize("error", ["fatal_error", "internal_error"])
def test_post_http_200_fatal_is_uncertain(slack, error):
    fake, gw, channel = slack
    fake.inject("chat.postMessage", Fault("error", error=error))
    with pytest.raises(SlackUncertain) as e:
        gw.post_message(channel, "x", None)
    assert e.value.error == error and fake.count("chat.postMessage") == 1


def test_post_drop_is_uncertain_and_not_resent(slack):
    fake, gw, channel = slack
    fake.inject("chat.postMessage", Fault("drop"))
    with pytest.raises(SlackUncertain) as e:
        gw.post_message(channel, "x", None)
    assert e.value.error == "connection_lost"
    assert fake.count("chat.postMessage") == 1 and fake.messages(channel) == []
    assert gw.find_post_by_metadata(channel, 1, oldest=0) is None  # reconcile: not there


def test_post_apply_then_drop_gives_exactly_one_message_after_reconciling(slack):
    fake, gw, channel = slack
    oldest = time.time() - 1
    fake.inject("chat.postMessage", Fault("apply_then_drop"))
    with pytest.raises(SlackUncertain):
        gw.post_message(channel, "開催報告", None, metadata=outbox_metadata(99))
    found = gw.find_post_by_metadata(channel, 99, oldest)
    assert found is not None and found.channel == channel
    assert [m["ts"] for m in fake.messages(channel)] == [found.ts]  # exactly one
    assert gw.find_post_by_metadata(channel, 100, oldest) is None


def test_post_timeout_is_uncertain(fake_slack):
    fake, _ = fake_slack
    channel = fake.add_channel("general")["id"]
    fake.inject("chat.postMessage", Fault("slow", sleep=1.3))
    with pytest.raises(SlackUncertain) as e:
        gateway(fake, timeout=1).post_message(channel, "x", None, metadata=outbox_metadata(5))
    assert e.value.error == "timeout" and fake.count("chat.postMessage") == 1
    deadline = time.monotonic() + 3
    while (
        gateway(fake).find_post_by_metadata(channel, 5, 0) is None and time.monotonic() < deadline
    ):
        time.sleep(0.05)
    assert gateway(fake).find_post_by_metadata(channel, 5, 0) is not None


def test_post_500_after_applying_can_be_reconciled(slack):
    fake, gw, channel = slack
    fake.inject("chat.postMessage", Fault("apply_then_status", status=500))
    with pytest.raises(SlackRetryable) as e:
        gw.post_message(channel, "x", None, metadata=outbox_metadata("r1"))
    assert e.value.may_have_applied
    assert gw.find_post_by_metadata(channel, "r1", 0) is not None


def test_connection_refused_is_retryable_even_for_posts():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    gw = SdkGateway("xoxb-x", base_url=f"http://127.0.0.1:{port}/api/", retry_interval=FAST)
    with pytest.raises(SlackRetryable) as e:
        gw.post_message("C1", "x", None)
    assert e.value.error == "connection_failed" and not e.value.may_have_applied


def test_rate_limiter_on_surfaces_retry_after(fake_slack):
    fake, _ = fake_slack
    channel = fake.add_channel("general")["id"]
    fake.enable_rate_limits(post_channel_burst=1)
    gw = gateway(fake, max_inline_wait=0)
    gw.post_message(channel, "1", None)
    with pytest.raises(SlackRetryable) as e:
        gw.post_message(channel, "2", None)
    assert e.value.retry_after == 1 and len(fake.messages(channel)) == 1


# ---------------------------------------------------------------------------- read faults
def test_reads_retry_5xx_and_dropped_connections_inline(slack):
    fake, gw, _ = slack
    fake.inject("auth.test", Fault("http_status", status=500))
    fake.inject("auth.test", Fault("drop"))
    assert gw.auth_test().team_id == TEAM_ID
    assert fake.count("auth.test") == 3


@pytest.mark.parametrize(
    ("fault", "error"),
    [
        (Fault("http_status", status=502), "http_502"),
        (Fault("error", error="fatal_error"), "fatal_error"),
        (Fault("http_status", status=503), "http_503"),
    ],
)
def test_read_failures_are_retryable(slack, fault, error):
    fake, gw, _ = slack
    fake.inject("users.info", fault, times=5)
    with pytest.raises(SlackRetryable) as e:
        gw.user_info(BOT_USER_ID)
    assert e.value.error == error and not e.value.may_have_applied


def test_read_timeout_is_retryable(fake_slack):
    fake, _ = fake_slack
    fake.inject("users.info", Fault("slow", sleep=1.3))
    with pytest.raises(SlackRetryable) as e:
        gateway(fake, timeout=1).user_info(BOT_USER_ID)
    assert e.value.error == "timeout"


def test_update_is_idempotent_so_a_drop_is_retried(slack):
    fake, gw, channel = slack
    _, ts = gw.post_message(channel, "初版", None)
    fake.inject("chat.update", Fault("apply_then_drop"))
    assert gw.update_message(channel, ts, "訂正", None).ts == ts
    assert fake.count("chat.update") == 2 and fake.message(channel, ts)["text"] == "訂正"
    with pytest.raises(SlackPermanent) as e:
        gw.update_message(channel, "1.000001", "x", None)
    assert e.value.error == "message_not_found"


# ---------------------------------------------------------------------------- membership
def test_join_channel(slack):
    fake, gw, _ = slack
    outside = fake.add_channel("kanto", bot_member=False)["id"]
    gw.join_channel(outside)
    gw.join_channel(outside)  # already in: fine
    assert BOT_USER_ID in fake.members(outside)


def test_invite_chunks_by_100_and_reports_each_user(slack):
    fake, gw, channel = slack
    users = [fake.add_user(email=f"m{i}@city.naha.lg.jp")["id"] for i in range(250)]
    gone = fake.add_user(email="gone@city.naha.lg.jp", deleted=True)["id"]
    first = gw.invite(channel, users[:3])
    assert first == InviteResult(invited=tuple(users[:3]))
    result = gw.invite(channel, [*users, users[0], gone, BOT_USER_ID])
    assert set(result.invited) == set(users[3:])
    assert set(result.already_in_channel) == set(users[:3])
    assert result.failed == {gone: "user_not_found", BOT_USER_ID: "cant_invite_self"}
    assert set(users) <= fake.members(channel)
    sizes = [len(c.params["users"].split(",")) for c in fake.calls("conversations.invite")]
    assert max(sizes) <= 100


def test_invite_channel_errors_are_permanent(slack):
    fake, gw, _ = slack
    outside = fake.add_channel("kanto", bot_member=False)["id"]
    user = fake.add_user(email="a@town.lg.jp")["id"]
    with pytest.raises(SlackPermanent) as e:
        gw.invite(outside, [user])
    assert e.value.error == "not_in_channel"
    assert gw.invite(outside, []) == InviteResult()


def test_find_post_in_a_thread_and_in_a_dm_by_user_id(slack):
    fake, gw, channel = slack
    parent = gw.post_message(channel, "開催報告", None, metadata=outbox_metadata(1))
    reply = gw.post_message(
        channel, "チーム", None, thread_ts=parent.ts, metadata=outbox_metadata(2)
    )
    assert gw.find_post_by_metadata(channel, 2, 0) is None  # replies are not in history
    assert gw.find_post_by_metadata(channel, 2, 0, thread_ts=parent.ts) == reply
    user = fake.add_user(email="dm@town.lg.jp")["id"]
    dm = gw.post_message(user, "DM", None, metadata=outbox_metadata(3))
    assert gw.find_post_by_metadata(user, 3, 0) == dm


def test_find_posts_reports_duplicates_oldest_first(slack):
    fake, gw, channel = slack
    fake.inject("chat.postMessage", Fault("apply_then_drop"))
    client = WebClient(token=fake.bot_token, base_url=fake.base_url)  # default handler re-sends
    client.chat_postMessage(channel=channel, text="x", metadata=outbox_metadata(8))
    found = gw.find_posts_by_metadata(channel, 8, 0)
    assert len(found) == 2 and float(found[0].ts) < float(found[1].ts)
    gw.delete_message(*found[1])
    assert len(fake.messages(channel)) == 1


# ---------------------------------------------------------------------------- OIDC
def test_oidc_end_to_end(slack):
    fake, gw, _ = slack
    user = fake.add_user(email="Sakura@Pref.Okinawa.lg.jp", real_name="比嘉 さくら")["id"]
    code = fake.issue_oidc_code(user, "https://app.example/slack/callback")
    tokens = gw.oidc_token_exchange(code, "https://app.example/slack/callback")
    assert tokens.access_token.startswith("xoxp-") and tokens.id_token
    info = gw.oidc_userinfo(tokens.access_token)
    assert (info.user_id, info.team_id) == (user, TEAM_ID)
    assert (
        info.email == "sakura@pref.okinawa.lg.jp"
        and info.email_verified
        and info.name == "比嘉 さくら"
    )
    with pytest.raises(SlackPermanent) as e:
        gw.oidc_token_exchange(code, "https://app.example/slack/callback")
    assert e.value.error == "invalid_code"
    with pytest.raises(SlackConfigError) as e:
        gw.oidc_userinfo(fake.bot_token)
    assert e.value.error == "invalid_auth"


def test_oidc_client_configuration_errors(slack):
    fake, _, _ = slack
    user = fake.add_user(email="x@town.lg.jp")["id"]
    code = fake.issue_oidc_code(user, None)
    with pytest.raises(SlackConfigError) as e:
        gateway(fake, client_secret="wrong").oidc_token_exchange(code, None)
    assert e.value.error == "bad_client_secret"
    with pytest.raises(SlackConfigError) as e:
        gateway(fake, client_id=None).oidc_token_exchange(code, None)
    assert e.value.error == "not_configured"
    other = gateway(fake).oidc_userinfo(
        gateway(fake)
        .oidc_token_exchange(fake.issue_oidc_code(user, None, team_id="T0OTHER"), None)
        .access_token
    )
    assert other.team_id == "T0OTHER"  # the app must compare with its workspace


# ---------------------------------------------------------------------------- proxy
def test_loopback_is_not_sent_to_an_env_proxy(fake_slack, monkeypatch):
    """slack_sdk applies HTTPS_PROXY to http:// URLs too; the gateway drops it for loopback."""
    fake, _ = fake_slack
    monkeypatch.setenv("HTTPS_PROXY", "http://127.0.0.1:9")
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    raw = WebClient(token=fake.bot_token, base_url=fake.base_url, retry_handlers=[])
    assert raw.proxy == "http://127.0.0.1:9"
    with pytest.raises(OSError):
        raw.auth_test()
    assert fake.count() == 0
    assert gateway(fake).auth_test().team_id == TEAM_ID
