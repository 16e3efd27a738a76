"""Slack's pure pieces that the integration tests lean on: the pacer, the preview renderer, the
post client's 429 handling and the reminder variant of the survey DM. No app needed."""

from __future__ import annotations

import pytest
from slack_sdk.http_retry import RateLimitErrorRetryHandler

from eventsvc.slack import blocks
from eventsvc.slack.gateway import SdkGateway, SlackRetryable
from eventsvc.slack.pacing import Pacer
from eventsvc.slack.preview import blocks_to_html, mrkdwn_to_html
from tests.fakeslack import Fault


class Clock:
    def __init__(self):
        self.t = 1000.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.t

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.t += seconds


# ------------------------------------------------------------------ pacer
def test_one_channel_gets_one_post_a_second_others_are_not_held_up():
    clock = Clock()
    pacer = Pacer(per_channel_interval=1.0, clock=clock, sleep=clock.sleep)
    assert [pacer.reserve("C1") for _ in range(3)] == [0.0, 1.0, 2.0]
    assert pacer.reserve("C2") == 0.0  # another channel is free
    clock.t += 5
    assert pacer.reserve("C1") == 0.0


def test_channel_bursts_are_allowed_when_configured():
    clock = Clock()
    pacer = Pacer(per_channel_interval=1.0, channel_burst=3, clock=clock)
    assert [pacer.reserve("C1") for _ in range(5)] == [0.0, 0.0, 0.0, 1.0, 2.0]


def test_the_workspace_rate_spaces_every_post():
    clock = Clock()
    pacer = Pacer(per_channel_interval=1.0, workspace_per_minute=600, clock=clock)  # 10/s
    waits = [pacer.reserve(f"D{i}") for i in range(5)]
    assert waits == pytest.approx([0.0, 0.1, 0.2, 0.3, 0.4])


def test_retry_after_blocks_every_channel_and_wait_sleeps_it_out():
    clock = Clock()
    pacer = Pacer(per_channel_interval=0.0, clock=clock, sleep=clock.sleep)
    pacer.block(None, 2.5)
    assert pacer.blocked_for("C9") == pytest.approx(2.5)
    assert pacer.wait("C9") == pytest.approx(2.5) and clock.slept == [pytest.approx(2.5)]
    assert pacer.blocked_for("C9") == 0.0
    pacer.block("C1", 1.0)
    assert pacer.blocked_for("C1") == 1.0 and pacer.blocked_for("C2") == 0.0


def test_pacer_refuses_nonsense():
    with pytest.raises(ValueError):
        Pacer(channel_burst=0)
    with pytest.raises(ValueError):
        Pacer(workspace_per_minute=0)


# ------------------------------------------------------------------ preview
def test_preview_escapes_and_never_shows_a_ping_as_markup():
    html = str(mrkdwn_to_html("*太字* &lt;!channel&gt; &amp; <https://example.lg.jp/a?b=1&amp;c=2|資料> <@U012AB>",
                              {"U012AB": "知念 花子"}))
    assert "<strong>太字</strong>" in html
    assert "&lt;!channel&gt; &amp;amp;" not in html and "&lt;!channel&gt; &amp; " in html
    assert '<a href="https://example.lg.jp/a?b=1&amp;c=2" rel="noopener noreferrer">資料</a>' in html
    assert '<span class="slack-mention">@知念 花子</span>' in html
    assert '<span class="slack-ping">@channel</span>' in str(mrkdwn_to_html("<!channel>"))
    assert "<script>" not in str(mrkdwn_to_html("&lt;script&gt;alert(1)&lt;/script&gt;"))
    assert "javascript:" not in str(mrkdwn_to_html("<javascript:alert(1)|x>"))


def test_preview_renders_the_builders_blocks():
    info = blocks.EventInfo(title="勉強会 <b>", date_label="2024年2月15日(木) 13:00〜17:00", venue="那覇",
                            url="https://e.example/events/a", register_url="https://e.example/events/a/register",
                            capacity_left=3)
    html = str(blocks_to_html(blocks.announcement(info).blocks))
    assert "勉強会 &lt;b&gt;" in html and "残席: 3席" in html
    assert 'class="slack-button slack-button-primary" href="https://e.example/events/a/register"' in html


def test_survey_dm_has_a_reminder_variant():
    info = blocks.EventInfo(title="勉強会", date_label="d", venue="v", url="https://e.example/a",
                            register_url="https://e.example/a/register")
    first = blocks.survey_dm(info, "https://e.example/s/1")
    again = blocks.survey_dm(info, "https://e.example/s/1", reminder=True)
    assert first.text.startswith("勉強会") and again.text.startswith("【リマインド】勉強会")
    assert "まだご回答いただいていない" in again.blocks[0]["text"]["text"]


# ------------------------------------------------------------------ the post client and 429
def test_posts_can_leave_429_to_the_caller(fake_slack):
    fake, base_url = fake_slack
    channel = fake.add_channel("c")["id"]
    gw = SdkGateway(fake.bot_token, base_url=base_url, post_rate_limit_retries=0)
    assert gw.poster.retry_handlers == []
    assert any(isinstance(h, RateLimitErrorRetryHandler) for h in gw.reader.retry_handlers)
    fake.inject("chat.postMessage", Fault("ratelimit", retry_after=7))
    with pytest.raises(SlackRetryable) as err:
        gw.post_message(channel, "x", None)
    assert err.value.retry_after == 7 and fake.count("chat.postMessage") == 1
    default = SdkGateway(fake.bot_token, base_url=base_url)
    assert len(default.poster.retry_handlers) == 1  # unchanged default: bounded inline 429 retries
