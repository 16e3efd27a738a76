"""Block Kit messages eventsvc posts to Slack, built from plain data.

Pure: no Flask, no models — callers turn events and registrations into the small frozen
dataclasses below, so the builders are tested (and previewed in the organizer UI) alone.
Every message is a :class:`Message` with a plain-text fallback (``text``, used for
notifications and screen readers) and ``blocks``.

Rules every builder keeps:

* **Escaping.** Every user-supplied string (titles, venues, names, organisations, agenda
  items, the date label) is collapsed to one line, truncated and escaped with
  :func:`~eventsvc.slack.mrkdwn.escape` — in ``blocks`` *and* in the fallback ``text``, which
  Slack also parses. User strings never go into ``plain_text`` objects; those hold only our
  own fixed labels ("参加登録" …).
* **No job titles.** The dataclasses carry name + organisation only ("役職は関係なし").
* **Who is named in a report.** An attendee who consented (``mention_consent``) and is linked
  to Slack is mentioned ``<@U…>`` so people find each other; one who consented but is not
  linked is named as "氏名（所属）" in escaped text; one who did not consent is **not named
  at all** (only counted in the attendance figures). Team lists follow the same rule and
  show "ほかN名" for the unnamed members.
* **Limits.** At most 50 blocks, section text ≤ 3,000 characters (we pack ≤ 2,900),
  ``header`` ≤ 150, buttons ≤ 75, and the whole message ≤ :data:`MAX_MESSAGE_CHARS` of text
  (Slack's combined-size limit ``msg_blocks_too_long`` is undocumented, around 12k).
  Long lists are split over several sections and cut with "…他N名". The fallback text stays
  ≤ :data:`MAX_FALLBACK_CHARS` so ``chat.update`` (4,000) accepts it too.
  :func:`validate` checks all of this (with ``slack_sdk.models.blocks``) and every builder
  calls it.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from slack_sdk.errors import SlackObjectFormationError
from slack_sdk.models.blocks import Block

from .mrkdwn import button_url, clip, escape, escape_line, is_user_id, link, mention

MAX_BLOCKS = 50
MAX_SECTION_CHARS = 3000
SECTION_PACK_CHARS = 2900
MAX_MESSAGE_CHARS = 10_000
MAX_BLOCKS_JSON = 11_500
MAX_FALLBACK_CHARS = 3000
MAX_EVENTS_LISTED = 10

# Raw (pre-escape) lengths for user-supplied fields.
TITLE_LEN = 150
LINE_LEN = 200
NAME_LEN = 60
ORG_LEN = 60
SUMMARY_LEN = 600

COMMUNITY_RULE = (
    "※ このワークスペースでの投稿は個人の意見であり、所属組織の見解ではありません。"
    "役職は関係なし、みんなフラットに。"
)


class BlockLimitError(ValueError):
    """A built message breaks a Block Kit limit (a bug in a builder, not user input)."""


@dataclass(frozen=True)
class Message:
    """A Slack message: ``text`` is the plain fallback, ``blocks`` the Block Kit layout."""

    text: str
    blocks: list[dict[str, Any]]

    def as_kwargs(self) -> dict[str, Any]:
        """``{"text": …, "blocks": …}`` for ``chat.postMessage`` / ``chat.update``."""
        return {"text": self.text, "blocks": self.blocks}


@dataclass(frozen=True)
class EventInfo:
    title: str
    date_label: str  # already formatted, e.g. "2024年2月15日(木) 13:00〜17:00"
    venue: str
    url: str  # the public event page
    register_url: str
    capacity_left: int | None = None  # None: not shown
    region: str = ""  # e.g. "九州・沖縄"
    slug: str = ""  # needed by events_list (button value)
    summary: str = ""


@dataclass(frozen=True)
class AgendaLine:
    time_label: str  # e.g. "13:00〜13:30"
    title: str
    speaker: str = ""
    affiliation: str = ""
    materials_url: str | None = None


@dataclass(frozen=True)
class AttendeeRef:
    name: str
    organization: str
    slack_user_id: str | None = None
    mention_consent: bool = False


@dataclass(frozen=True)
class TeamLine:
    name: str
    members: Sequence[AttendeeRef] = field(default_factory=tuple)


# --------------------------------------------------------------------------- block helpers
def _section(text: str, **extra: Any) -> dict[str, Any]:
    return {
        "type": "section",
        "text": {"type": "mrkdwn", "text": clip(text, MAX_SECTION_CHARS)},
        **extra,
    }


def _context(*texts: str) -> dict[str, Any]:
    elements = [{"type": "mrkdwn", "text": clip(t, MAX_SECTION_CHARS)} for t in texts if t]
    return {"type": "context", "elements": elements[:10]}


def _button(
    label: str,
    *,
    action_id: str,
    url: str | None = None,
    value: str | None = None,
    primary: bool = False,
) -> dict[str, Any]:
    button: dict[str, Any] = {
        "type": "button",
        "action_id": action_id,
        "text": {"type": "plain_text", "text": label[:75]},
    }
    if url:
        button["url"] = url
    if value is not None:
        button["value"] = value[:2000]
    if primary:
        button["style"] = "primary"
    return button


def _actions(*buttons: dict[str, Any] | None, block_id: str | None = None) -> dict[str, Any] | None:
    present = [b for b in buttons if b is not None]
    if not present:
        return None
    block: dict[str, Any] = {"type": "actions", "elements": present[:25]}
    if block_id:
        block["block_id"] = block_id
    return block


def _fallback(text: str) -> str:
    return clip(" ".join(text.split()), MAX_FALLBACK_CHARS)


def _text_chars(blocks: Iterable[dict[str, Any]]) -> int:
    """Characters of text in ``blocks`` (section/context/header texts and fields)."""
    total = 0
    for block in blocks:
        for obj in [block.get("text"), *block.get("fields", []), *block.get("elements", [])]:
            if isinstance(obj, dict) and isinstance(obj.get("text"), str):
                total += len(obj["text"])
    return total


def _pack(
    items: Sequence[str],
    *,
    heading: str,
    budget: int,
    sep: str = "、",
    max_sections: int = 5,
    more: str = "…他{n}名",
) -> list[str]:
    """Join ``items`` into section texts: each ≤ SECTION_PACK_CHARS, at most ``max_sections``
    of them and ≤ ``budget`` characters in all. Items that do not fit are summarised as
    ``more.format(n=<how many>)`` at the end — never cut in the middle (an item is a whole
    mention, name or line, so no ``<@…>`` or ``&amp;`` is ever split)."""
    reserve = len(sep) + len(more.format(n=len(items)))
    sections: list[str] = []
    current, has_items, used, placed = heading, False, 0, 0
    for item in items:
        piece = (sep if has_items else "") + item
        if len(current) + len(piece) + reserve > SECTION_PACK_CHARS:
            if len(sections) + 1 >= max_sections:
                break
            sections.append(current)
            used += len(current)
            current, has_items, piece = "", False, item
        if used + len(current) + len(piece) + reserve > budget:
            break
        current += piece
        has_items = True
        placed += 1
    left = len(items) - placed
    if left:
        current += (sep if has_items else "") + more.format(n=left)
    if current:
        sections.append(current)
    return sections


def _who(attendee: AttendeeRef) -> str | None:
    """How ``attendee`` appears in a post (see the module docstring); None: not named."""
    if not attendee.mention_consent:
        return None
    if attendee.slack_user_id and is_user_id(attendee.slack_user_id):
        return mention(attendee.slack_user_id)
    name = escape_line(attendee.name, NAME_LEN)
    if not name:
        return None
    org = escape_line(attendee.organization, ORG_LEN)
    return f"{name}（{org}）" if org else name


def _event_lines(event: EventInfo) -> list[str]:
    lines = [f"日時: {escape_line(event.date_label, LINE_LEN)}"]
    if event.venue.strip():
        lines.append(f"会場: {escape_line(event.venue, LINE_LEN)}")
    return lines


def _capacity_line(capacity_left: int | None) -> str | None:
    if capacity_left is None:
        return None
    if capacity_left <= 0:
        return "残席: 満席（キャンセル待ちで登録できます）"
    return f"残席: {capacity_left}席"


# --------------------------------------------------------------------------- validation
def validate(message: Message) -> Message:
    """Raise :class:`BlockLimitError` unless ``message`` fits Slack's limits; return it."""
    blocks = message.blocks
    if not message.text.strip():
        raise BlockLimitError("a fallback text is required")
    if len(message.text) > MAX_FALLBACK_CHARS:
        raise BlockLimitError("fallback text too long")
    if not 1 <= len(blocks) <= MAX_BLOCKS:
        raise BlockLimitError(f"{len(blocks)} blocks (1–{MAX_BLOCKS} allowed)")
    block_ids = [b["block_id"] for b in blocks if "block_id" in b]
    if len(block_ids) != len(set(block_ids)):
        raise BlockLimitError("duplicate block_id")
    for i, raw in enumerate(blocks):
        try:
            block = Block.parse(raw)
            if block is None:
                raise BlockLimitError(f"block {i}: unknown type {raw.get('type')!r}")
            block.validate_json()
        except SlackObjectFormationError as e:
            raise BlockLimitError(f"block {i}: {e}") from e
    if _text_chars(blocks) > MAX_MESSAGE_CHARS:
        raise BlockLimitError("message text over the size budget")
    if len(json.dumps(blocks, ensure_ascii=False, separators=(",", ":"))) > MAX_BLOCKS_JSON:
        raise BlockLimitError("blocks JSON over the size budget")
    return message


def _message(text: str, blocks: Iterable[dict[str, Any] | None]) -> Message:
    return validate(Message(_fallback(text), [b for b in blocks if b is not None]))


# --------------------------------------------------------------------------- builders
def announcement(event: EventInfo) -> Message:
    """On publish: title, date, venue, capacity left, a register button and link."""
    title = escape_line(event.title, TITLE_LEN)
    lines = [f"*{title}*", *_event_lines(event)]
    capacity = _capacity_line(event.capacity_left)
    if capacity:
        lines.append(capacity)
    summary = escape_line(event.summary, SUMMARY_LEN) if event.summary.strip() else ""
    register = button_url(event.register_url)
    details = button_url(event.url)
    context = [f"参加登録: {link(event.register_url, '登録ページを開く')}"]
    if event.region.strip():
        context.append(f"地域: {escape_line(event.region, 40)}")
    blocks = [
        _section("【参加者募集】\n" + "\n".join(lines)),
        _section(summary) if summary else None,
        _actions(
            _button("参加登録", action_id="open_register", url=register, primary=True)
            if register
            else None,
            _button("詳細を見る", action_id="open_event", url=details) if details else None,
        ),  # fmt: skip
        _context(*context),
    ]
    text = (
        f"【参加者募集】{title} {escape_line(event.date_label, LINE_LEN)} "
        f"{escape_line(event.venue, LINE_LEN)} 参加登録: {escape(event.register_url)}"
    )
    return _message(text, blocks)


def reminder(event: EventInfo) -> Message:
    """The day before: date, venue, a link, and a request to cancel if plans change."""
    title = escape_line(event.title, TITLE_LEN)
    details = button_url(event.url)
    blocks = [
        _section("【明日開催】\n" + "\n".join([f"*{title}*", *_event_lines(event)])),
        _section(
            "ご参加をお待ちしています。ご都合が変わった場合はキャンセルのお手続きをお願いします"
            "（キャンセル待ちの方にお席が回ります）。"
        ),
        _actions(
            _button("イベントページ", action_id="open_event", url=details) if details else None
        ),
        _context(f"詳細: {link(event.url, 'イベントページ')}"),
    ]
    text = (
        f"【明日開催】{title} {escape_line(event.date_label, LINE_LEN)} "
        f"{escape_line(event.venue, LINE_LEN)}"
    )
    return _message(text, blocks)


def _agenda_item(line: AgendaLine) -> str:
    parts = [f"• {escape_line(line.time_label, 40)} {escape_line(line.title, LINE_LEN)}"]
    speaker = escape_line(line.speaker, NAME_LEN)
    if speaker:
        org = escape_line(line.affiliation, ORG_LEN)
        parts.append(f"— {speaker}（{org}）" if org else f"— {speaker}")
    if line.materials_url and button_url(line.materials_url):
        parts.append(link(line.materials_url, "資料"))
    return " ".join(parts)


def report(
    event: EventInfo,
    attendance_count: int,
    municipality_count: int,
    agenda: Sequence[AgendaLine],
    survey_url: str | None,
    attendees: Sequence[AttendeeRef],
) -> Message:
    """After the event: thanks, counts, agenda with materials, survey, who came, and an
    invitation to a first post (a self-introduction in the thread). Post the team list
    with :func:`report_teams_thread` as a reply to this message."""
    title = escape_line(event.title, TITLE_LEN)
    head = [
        _section(
            f"【開催報告】*{title}*\n"
            f"{escape_line(event.date_label, LINE_LEN)}"
            + (f"　{escape_line(event.venue, LINE_LEN)}" if event.venue.strip() else "")
            + "\nご参加いただいた皆さま、ありがとうございました！"
        ),
        _section(f"参加者 {attendance_count}名（{municipality_count}自治体）"),
    ]
    agenda_sections = _pack(
        [_agenda_item(a) for a in agenda],
        heading="*プログラム*\n",
        sep="\n",
        budget=3_000,
        max_sections=2,
        more="…ほか{n}件",
    ) if agenda else []  # fmt: skip
    survey = button_url(survey_url)
    survey_blocks = (
        [
            _section(
                f"*アンケート*\nご回答をお願いします: {link(survey_url, 'アンケートに回答する')}"
            ),
            _actions(
                _button("アンケートに回答", action_id="open_survey", url=survey, primary=True)
            ),
        ]
        if survey
        else []
    )
    tail = [
        _section(
            "*はじめての自己紹介投稿をしてみませんか？*\n"
            "このスレッドに返信で、お名前・所属・参加のきっかけ・これから取り組みたいことを"
            "書いてみてください。はじめての投稿、大歓迎です！"
        ),
        _context(COMMUNITY_RULE),
    ]
    fixed = [*head, *[_section(s) for s in agenda_sections], *survey_blocks, *tail]
    named = [w for w in (_who(a) for a in attendees) if w]
    budget = MAX_MESSAGE_CHARS - _text_chars(fixed) - 200
    attendee_sections = (
        _pack(named, heading="*参加者*（掲載に同意いただいた方）\n", budget=budget, max_sections=4)
        if named
        else []
    )
    blocks = [
        *head,
        *[_section(s) for s in agenda_sections],
        *survey_blocks,
        *[_section(s) for s in attendee_sections],
        *tail,
    ]
    text = (
        f"【開催報告】{title}：参加 {attendance_count}名・{municipality_count}自治体。"
        "ご参加ありがとうございました。" + (f" アンケート: {escape(survey_url)}" if survey else "")
    )
    return _message(text, blocks)


def report_teams_thread(teams: Sequence[TeamLine]) -> Message:
    """The team list, posted as a thread reply to the report (same naming rule)."""
    lines = []
    for team in teams:
        named = [w for w in (_who(m) for m in team.members) if w]
        unnamed = len(team.members) - len(named)
        members = "、".join(named)
        if unnamed:
            members = f"{members}、ほか{unnamed}名" if members else f"{unnamed}名"
        lines.append(f"*{escape_line(team.name, 40)}*: {members or '—'}")
    sections = _pack(
        lines,
        heading="*チーム分け*\n",
        sep="\n",
        budget=MAX_MESSAGE_CHARS - 500,
        max_sections=8,
        more="…ほか{n}チーム",
    )
    blocks = [*[_section(s) for s in sections], _context(COMMUNITY_RULE)]
    return _message(f"チーム分け（{len(teams)}チーム）", blocks)


def survey_dm(event: EventInfo, survey_url: str, *, reminder: bool = False) -> Message:
    """A direct message to one attendee after the event (``reminder``: to one who has not
    answered yet)."""
    title = escape_line(event.title, TITLE_LEN)
    survey = button_url(survey_url)
    opening = (
        f"*{title}* のアンケートにまだご回答いただいていないようです。\n"
        "お手すきの際にご協力をお願いします（回答済みの場合は行き違いです）。"
        if reminder
        else f"*{title}* にご参加いただき、ありがとうございました。\n"
        "今後の勉強会をよりよくするため、アンケートへのご協力をお願いします。"
    )
    blocks = [
        _section(opening),
        _actions(_button("アンケートに回答", action_id="open_survey", url=survey, primary=True))
        if survey
        else None,
        _context(f"アンケート: {link(survey_url, 'アンケートを開く')}"),
    ]
    head = "【リマインド】" if reminder else ""
    return _message(f"{head}{title} アンケートのお願い: {escape(survey_url)}", blocks)


def events_list(events: Sequence[EventInfo], *, region: str | None = None) -> Message:
    """The slash-command answer: upcoming events, each with a "参加登録" button
    (``action_id="register"``, ``value=slug``) that the interactivity endpoint handles."""
    where = escape_line(region, 40) if region and region.strip() else ""
    heading = f"*{where}の今後のイベント*" if where else "*今後のイベント*"
    if not events:
        return _message(
            f"{where}の募集中のイベントはありません" if where else "募集中のイベントはありません",
            [_section(f"{heading}\n現在募集中のイベントはありません。")],
        )
    shown = events[:MAX_EVENTS_LISTED]
    blocks: list[dict[str, Any] | None] = [_section(heading)]
    for event in shown:
        lines = [f"*{link(event.url, event.title, label_limit=TITLE_LEN)}*", *_event_lines(event)]
        capacity = _capacity_line(event.capacity_left)
        if capacity:
            lines.append(capacity)
        extra: dict[str, Any] = {}
        if event.slug:
            extra["accessory"] = _button(
                "参加登録", action_id="register", value=event.slug, primary=True
            )
        blocks.append(_section("\n".join(lines), **extra))
    if len(events) > len(shown):
        blocks.append(_context(f"ほか{len(events) - len(shown)}件はイベント一覧をご覧ください。"))
    text = (
        f"{where}の今後のイベント（{len(events)}件）"
        if where
        else f"今後のイベント（{len(events)}件）"
    )
    return _message(text, blocks)
