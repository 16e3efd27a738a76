"""Block Kit builders and mrkdwn helpers (eventsvc.slack.blocks / .mrkdwn): pure, no app."""

from __future__ import annotations

import dataclasses
import json
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from eventsvc.slack import blocks as b
from eventsvc.slack.blocks import (
    AgendaLine,
    AttendeeRef,
    BlockLimitError,
    EventInfo,
    Message,
    TeamLine,
)
from eventsvc.slack.mrkdwn import (
    button_url,
    clip,
    escape,
    escape_line,
    is_user_id,
    link,
    mention,
    one_line,
    safe_url,
    truncate,
)
from tests.fakeslack import validate_blocks as fake_validate

EVENT = EventInfo(
    title="第3回 自治体DX勉強会 in 那覇",
    date_label="2024年2月15日(木) 13:00〜17:00",
    venue="那覇市役所 本庁舎 会議室",
    url="https://events.example.lg.jp/events/naha-3",
    register_url="https://events.example.lg.jp/events/naha-3/register",
    capacity_left=5,
    region="九州・沖縄",
    slug="naha-3",
)
EVIL = "<!channel> & <@U0ADMIN> <https://evil.example|click>"
SURVEY = "https://events.example.lg.jp/events/naha-3/survey?t=abc&x=1"


def mrkdwn_texts(message: Message) -> list[str]:
    out = []
    for block in message.blocks:
        for obj in [block.get("text"), *block.get("fields", []), *block.get("elements", [])]:
            if isinstance(obj, dict) and obj.get("type") == "mrkdwn":
                out.append(obj["text"])
    return out


def everything(message: Message) -> str:
    return message.text + "\n" + json.dumps(message.blocks, ensure_ascii=False)


def assert_slack_accepts(message: Message) -> None:
    """The fake's independent validator (and its msg_blocks_too_long size) agrees."""
    assert fake_validate(message.blocks) == []
    assert len(json.dumps(message.blocks, ensure_ascii=False, separators=(",", ":"))) <= 12_000
    assert message.text.strip() and len(message.text) <= 3000
    assert len(message.blocks) <= 50
    for text in mrkdwn_texts(message):
        assert len(text) <= 3000


def assert_pings_nobody(message: Message, allowed_mentions: set[str] = frozenset()) -> None:
    whole = everything(message)
    assert "<!" not in whole
    assert set(re.findall(r"<@([A-Z0-9]+)>", whole)) <= set(allowed_mentions)


# ---------------------------------------------------------------------------- mrkdwn helpers
def test_escape_only_the_three_specials_ampersand_first():
    assert escape("<!channel>") == "&lt;!channel&gt;"
    assert escape("<@U123>") == "&lt;@U123&gt;"
    assert escape("a & b") == "a &amp; b"
    assert escape("&lt;") == "&amp;lt;"  # & first, so existing entities stay literal
    assert escape("*太字* _斜体_ ~取消~ `code` :smile: #general @here") == (
        "*太字* _斜体_ ~取消~ `code` :smile: #general @here"
    )


def test_one_line_truncate_and_escape_line():
    assert one_line(" 那覇市\n役所\t会議室\u2028A ") == "那覇市 役所 会議室 A"
    assert truncate("あいうえお", 3) == "あい…" and truncate("あい", 3) == "あい"
    assert escape_line("<b>" * 10, 4) == "&lt;b&gt;…"  # truncated before escaping


def test_clip_never_splits_a_token_or_entity():
    text = "abc <@U12345678> &amp; <https://x.example|リンク>"
    for limit in range(1, len(text) + 2):
        clipped = clip(text, limit)
        assert len(clipped) <= max(limit, 1)
        body = clipped.removesuffix("…")
        assert body.count("<") == body.count(">")
        assert not re.search(r"&[a-z]*$", body)


def test_safe_url_and_link():
    assert safe_url("javascript:alert(1)") is None
    assert safe_url("/relative") is None and safe_url("") is None and safe_url(None) is None
    assert safe_url("https://x.example/a b|c>d<e") == "https://x.example/a%20b%7Cc%3Ed%3Ce"
    assert safe_url("https://x.example/?a=1&b=2") == "https://x.example/?a=1&amp;b=2"
    assert button_url("https://x.example/?a=1&b=2") == "https://x.example/?a=1&b=2"
    assert link("https://x.example/資料", "資料 <1>") == (
        "<https://x.example/%E8%B3%87%E6%96%99|資料 &lt;1&gt;>"
    )
    assert link("javascript:alert(1)", "<!here>") == "&lt;!here&gt;"


def test_mentions_need_a_real_user_id():
    assert mention("U012AB3CD") == "<@U012AB3CD>" and is_user_id("W012AB3CD")
    for bad in ["U1", "u012ab3cd", "U012> <!channel", "", "C012AB3CD"]:
        assert not is_user_id(bad)
        with pytest.raises(ValueError):
            mention(bad)


# ---------------------------------------------------------------------------- dataclasses
def test_no_job_title_anywhere_in_the_inputs():
    for cls in (AttendeeRef, TeamLine, AgendaLine):
        names = {f.name for f in dataclasses.fields(cls)}
        assert not names & {"job_title", "position", "rank", "role", "yakushoku"}
    assert {f.name for f in dataclasses.fields(AttendeeRef)} == {
        "name", "organization", "slack_user_id", "mention_consent",
    }  # fmt: skip


def test_message_as_kwargs():
    m = b.survey_dm(EVENT, SURVEY)
    assert m.as_kwargs() == {"text": m.text, "blocks": m.blocks}


# ---------------------------------------------------------------------------- announcement
def test_announcement_content():
    m = b.announcement(EVENT)
    whole = "\n".join(mrkdwn_texts(m))
    for expected in [EVENT.title, EVENT.date_label, EVENT.venue, "残席: 5席", "九州・沖縄"]:
        assert expected in whole
    buttons = [el for blk in m.blocks if blk["type"] == "actions" for el in blk["elements"]]
    assert buttons[0]["text"]["text"] == "参加登録" and buttons[0]["url"] == EVENT.register_url
    assert f"<{EVENT.register_url}|" in whole  # the link as well as the button
    assert EVENT.title in m.text and EVENT.register_url in m.text
    assert_slack_accepts(m)


@pytest.mark.parametrize(
    ("left", "shown"), [(0, "満席"), (-2, "満席"), (1, "残席: 1席"), (None, None)]
)
def test_announcement_capacity(left, shown):
    m = b.announcement(dataclasses.replace(EVENT, capacity_left=left))
    whole = "\n".join(mrkdwn_texts(m))
    if shown is None:
        assert "残席" not in whole
    else:
        assert shown in whole


def test_announcement_escapes_everything_user_supplied():
    evil = dataclasses.replace(
        EVENT, title=EVIL, venue=EVIL, date_label=EVIL, region=EVIL, summary=EVIL
    )
    m = b.announcement(evil)
    assert_pings_nobody(m)
    assert "&lt;!channel&gt;" in m.text and "&lt;!channel&gt;" in m.blocks[0]["text"]["text"]
    assert "<https://evil.example" not in everything(m)
    assert_slack_accepts(m)


def test_announcement_drops_unsafe_register_urls():
    m = b.announcement(dataclasses.replace(EVENT, register_url="javascript:alert(1)"))
    assert "javascript:" not in json.dumps(m.blocks)
    assert_slack_accepts(m)


def test_very_long_title_is_cut_safely():
    m = b.announcement(dataclasses.replace(EVENT, title="&" * 1000, summary="<" * 5000))
    assert_slack_accepts(m)
    assert "&amp;" * 149 + "…" in m.blocks[0]["text"]["text"]


# ---------------------------------------------------------------------------- reminder, DM
def test_reminder_content():
    m = b.reminder(EVENT)
    whole = "\n".join(mrkdwn_texts(m))
    assert "明日開催" in m.text and "明日開催" in whole
    assert EVENT.date_label in whole and EVENT.venue in whole and "キャンセル" in whole
    assert f"<{EVENT.url}|" in whole
    assert_slack_accepts(m)
    assert_pings_nobody(b.reminder(dataclasses.replace(EVENT, title=EVIL, venue=EVIL)))


def test_survey_dm_content():
    m = b.survey_dm(EVENT, SURVEY)
    whole = "\n".join(mrkdwn_texts(m))
    assert "アンケート" in whole and "ありがとうございました" in whole and EVENT.title in whole
    button = next(blk for blk in m.blocks if blk["type"] == "actions")["elements"][0]
    assert button["url"] == SURVEY
    assert "t=abc&amp;x=1" in m.text  # the fallback carries the link (escaped)
    assert_slack_accepts(m)


# ---------------------------------------------------------------------------- report
ATTENDEES = [
    AttendeeRef("山田 太郎", "那覇市", "U0TARO", True),  # linked + consent: mentioned
    AttendeeRef("佐藤 花子", "久留米市", None, True),  # consent, not linked: named
    AttendeeRef("鈴木 一郎", "デジタル庁", "U0ICHIRO", False),  # no consent: not named
    AttendeeRef(EVIL, EVIL, None, True),  # hostile name: escaped
    AttendeeRef("偽 ID", "某市", "U0X> <!channel", True),  # bad id: named, not mentioned
]
AGENDA = [
    AgendaLine("13:00〜13:10", "開会・趣旨説明", "比嘉 さくら", "デジタル庁"),
    AgendaLine(
        "13:10〜14:00", "書かないワンストップ窓口", "山田 太郎", "那覇市", "https://x.example/s.pdf"
    ),
    AgendaLine("14:00〜16:00", "ワークショップ", materials_url="javascript:alert(1)"),
]


def test_report_content():
    m = b.report(EVENT, 42, 12, AGENDA, SURVEY, ATTENDEES)
    whole = "\n".join(mrkdwn_texts(m))
    assert "ありがとうございました" in whole
    assert "参加者 42名（12自治体）" in whole and "42名" in m.text and "12自治体" in m.text
    assert "書かないワンストップ窓口 — 山田 太郎（那覇市） <https://x.example/s.pdf|資料>" in whole
    assert "ワークショップ" in whole and "javascript" not in whole
    assert f"<{safe_url(SURVEY)}|アンケートに回答する>" in whole
    survey_button = [el for blk in m.blocks if blk["type"] == "actions" for el in blk["elements"]]
    assert survey_button[0]["url"] == SURVEY
    assert "<@U0TARO>" in whole
    assert "佐藤 花子（久留米市）" in whole
    assert "鈴木" not in everything(m) and "U0ICHIRO" not in everything(m)
    assert "偽 ID（某市）" in whole
    assert "自己紹介" in whole and "スレッド" in whole and "はじめて" in whole
    assert "個人の意見" in whole
    assert_pings_nobody(m, {"U0TARO"})
    assert_slack_accepts(m)


def test_report_without_survey_or_agenda_or_named_people():
    m = b.report(EVENT, 3, 1, [], None, [AttendeeRef("匿名 希望", "某町", "U0ANON", False)])
    whole = "\n".join(mrkdwn_texts(m))
    assert "アンケート" not in whole and "プログラム" not in whole and "*参加者*" not in whole
    assert "匿名" not in everything(m)
    assert_slack_accepts(m)


def test_report_with_300_attendees_respects_limits():
    attendees = [
        AttendeeRef(
            f"長い名前の参加者{i:03d}" + "あ" * 40,
            "とても長い名前の自治体" + "い" * 40,
            f"U{i:08d}" if i % 2 else None,
            i % 5 != 0,
        )  # fmt: skip
        for i in range(300)
    ]
    agenda = [AgendaLine(f"{9 + i // 6}:{i % 6}0", "セッション" * 10, "講師", "所属", "https://x.example/" + "p" * 50) for i in range(40)]  # fmt: skip
    m = b.report(EVENT, 300, 150, agenda, SURVEY, attendees)
    assert_slack_accepts(m)
    whole = "\n".join(mrkdwn_texts(m))
    consenting = sum(1 for a in attendees if a.mention_consent)
    named = len(re.findall(r"<@U\d{8}>", whole)) + whole.count("とても長い名前の自治体")
    (rest,) = re.findall(r"…他(\d+)名", whole)
    assert named + int(rest) == consenting and int(rest) > 0
    assert re.search(r"…ほか\d+件", whole)  # the agenda was cut too
    assert sum(len(t) for t in mrkdwn_texts(m)) <= b.MAX_MESSAGE_CHARS


def test_report_with_300_short_mentions_lists_everyone():
    attendees = [AttendeeRef(f"n{i}", "o", f"U{i:08d}", True) for i in range(300)]
    m = b.report(EVENT, 300, 100, AGENDA, SURVEY, attendees)
    assert_slack_accepts(m)
    assert len(re.findall(r"<@U\d{8}>", everything(m))) == 300 and "…他" not in everything(m)
    assert sum(1 for blk in m.blocks if "*参加者*" in blk.get("text", {}).get("text", "")) == 1


# ---------------------------------------------------------------------------- teams
def test_report_teams_thread():
    teams = [
        TeamLine("チームA", ATTENDEES[:3]),
        TeamLine("チーム<!here>", [AttendeeRef("x", "y", None, False)]),
    ]
    m = b.report_teams_thread(teams)
    whole = "\n".join(mrkdwn_texts(m))
    assert "*チームA*: <@U0TARO>、佐藤 花子（久留米市）、ほか1名" in whole
    assert "*チーム&lt;!here&gt;*: 1名" in whole
    assert "チーム分け" in m.text and "個人の意見" in whole
    assert_pings_nobody(m, {"U0TARO"})
    assert_slack_accepts(m)


def test_teams_thread_limits():
    people = [AttendeeRef(f"参加者{i}" + "う" * 50, "市" * 50, None, True) for i in range(400)]
    teams = [TeamLine(f"チーム{t + 1}", people[t * 4 : t * 4 + 4]) for t in range(100)]
    m = b.report_teams_thread(teams)
    assert_slack_accepts(m)
    assert re.search(r"…ほか\d+チーム", "\n".join(mrkdwn_texts(m)))


# ---------------------------------------------------------------------------- slash command
def test_events_list_buttons():
    events = [dataclasses.replace(EVENT, slug=f"ev-{i}", title=f"勉強会{i}") for i in range(3)]
    m = b.events_list(events, region="九州・沖縄")
    sections = [blk for blk in m.blocks if "accessory" in blk]
    assert [s["accessory"]["value"] for s in sections] == ["ev-0", "ev-1", "ev-2"]
    assert {s["accessory"]["action_id"] for s in sections} == {"register"}
    assert {s["accessory"]["text"]["text"] for s in sections} == {"参加登録"}
    assert "九州・沖縄の今後のイベント" in m.blocks[0]["text"]["text"]
    assert f"<{EVENT.url}|勉強会0>" in sections[0]["text"]["text"]
    assert "3件" in m.text
    assert_slack_accepts(m)


def test_events_list_empty_and_many():
    empty = b.events_list([])
    assert "募集中のイベントはありません" in empty.text
    assert_slack_accepts(empty)
    many = b.events_list([dataclasses.replace(EVENT, title=EVIL, slug=f"e{i}") for i in range(25)])
    assert len([blk for blk in many.blocks if "accessory" in blk]) == b.MAX_EVENTS_LISTED
    assert "ほか15件" in many.blocks[-1]["elements"][0]["text"]
    assert_pings_nobody(many)
    assert_slack_accepts(many)


# ---------------------------------------------------------------------------- validation
def test_validate_rejects_broken_messages():
    section = {"type": "section", "text": {"type": "mrkdwn", "text": "x"}}
    with pytest.raises(BlockLimitError):
        b.validate(Message("x", [section] * 51))
    with pytest.raises(BlockLimitError):
        b.validate(Message("", [section]))
    with pytest.raises(BlockLimitError):
        b.validate(
            Message("x", [{"type": "section", "text": {"type": "mrkdwn", "text": "a" * 3001}}])
        )
    with pytest.raises(BlockLimitError):
        b.validate(Message("x", [{**section, "block_id": "a"}, {**section, "block_id": "a"}]))
    assert b.validate(Message("x", [section])).blocks == [section]


@settings(max_examples=60, deadline=None)
@given(
    names=st.lists(
        st.tuples(st.text(max_size=80), st.text(max_size=80), st.booleans()), max_size=60
    ),
    title=st.text(max_size=300),
)
def test_no_user_string_ever_becomes_markup(names, title):
    attendees = [AttendeeRef(n, o, None, c) for n, o, c in names]
    event = dataclasses.replace(
        EVENT, title=title, venue=title, date_label=title, url="", register_url=""
    )
    m = b.report(event, len(names), 1, [], None, attendees)
    assert_slack_accepts(m)
    for text in [m.text, *mrkdwn_texts(m)]:
        assert "<" not in text and ">" not in text  # no URLs given, nobody linked: no tokens
