"""The 参加登録 modal for first-timers who click a register button in Slack.

Pure Block Kit: :func:`registration_view` builds the form (name, reading, organisation,
department, participation type, the purpose of use and a consent box), :func:`submitted`
reads a ``view_submission`` back, :func:`errors_for` maps the web form's field errors onto the
modal's blocks, and :func:`result_view` is what replaces the form once it is sent. Nothing here
talks to Slack or the database (``service.py`` does).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from .mrkdwn import escape, link

CALLBACK_ID = "eventsvc_register"

#: block id → the registration field whose error is shown under it
FIELD_BLOCKS = {
    "name": "name",
    "name_kana": "kana",
    "organization_name": "organization",
    "organization_code": "organization",
    "department": "department",
    "ticket_type": "ticket_type",
    "consent_privacy": "consent",
    "email": "name",
}


def _plain(text: str, limit: int) -> dict:
    return {"type": "plain_text", "text": text[:limit], "emoji": True}


def _input(block_id: str, label: str, *, initial: str = "", max_length: int, optional: bool = False,
           hint: str = "", placeholder: str = "") -> dict:
    element: dict[str, Any] = {"type": "plain_text_input", "action_id": "value", "max_length": max_length}
    if initial:
        element["initial_value"] = initial[:max_length]
    if placeholder:
        element["placeholder"] = _plain(placeholder, 150)
    block: dict[str, Any] = {"type": "input", "block_id": block_id, "label": _plain(label, 2000),
                             "element": element, "optional": optional}
    if hint:
        block["hint"] = _plain(hint, 2000)
    return block


@dataclass(frozen=True)
class Prefill:
    """What Slack already tells us about the person."""

    name: str = ""
    name_kana: str = ""
    organization: str = ""


def registration_view(*, slug: str, email: str, event_title: str, when: str,
                      ticket_types: Sequence[tuple[str, str]], purpose: str, prefill: Prefill) -> dict:
    """The modal. ``ticket_types`` are (code, name); a choice appears when there are several.
    The event and the Slack e-mail travel in ``private_metadata`` (only our app sets it)."""
    head = f"*{escape(event_title[:150])}*\n{escape(when)}"
    blocks: list[dict] = [
        {"type": "section", "text": {"type": "mrkdwn", "text": head}},
        {"type": "context", "elements": [{"type": "mrkdwn", "text": escape(
            f"連絡先はSlackのメールアドレス（{email}）です。はじめての方は、ふりがなと所属を入力してください。")[:3000]}]},
        _input("name", "氏名", initial=prefill.name, max_length=100),
        _input("kana", "ふりがな", initial=prefill.name_kana, max_length=100, placeholder="やまだ はなこ"),
        _input("organization", "所属（自治体・府省庁など）", initial=prefill.organization, max_length=200,
               placeholder="那覇市", hint="団体名で入力してください（例: 那覇市、沖縄県、デジタル庁）。"),
        _input("department", "部署", max_length=200, optional=True),
    ]
    if len(ticket_types) > 1:
        options = [{"text": _plain(name, 75), "value": code} for code, name in ticket_types[:100]]
        blocks.append({"type": "input", "block_id": "ticket_type", "label": _plain("参加区分", 2000),
                       "element": {"type": "static_select", "action_id": "value", "options": options,
                                   "initial_option": options[0]}})
    blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": "*個人情報の利用目的*\n" + escape(
        purpose)[:2900]}})
    blocks.append({"type": "input", "block_id": "consent", "label": _plain("同意", 2000), "element": {
        "type": "checkboxes", "action_id": "value", "options": [
            {"text": _plain("個人情報の利用目的に同意して申し込みます", 75), "value": "yes"}]}})
    return {
        "type": "modal", "callback_id": CALLBACK_ID,
        "title": _plain("参加登録", 24), "submit": _plain("申し込む", 24), "close": _plain("やめる", 24),
        "private_metadata": json.dumps({"slug": slug, "email": email}, ensure_ascii=False)[:3000],
        "blocks": blocks,
    }


@dataclass(frozen=True)
class Submission:
    slug: str
    email: str
    name: str
    name_kana: str
    organization: str
    department: str
    ticket_type: str | None
    consent: bool


def submitted(view: Mapping[str, Any]) -> Submission | None:
    """The values of a ``view_submission`` of our modal, or None when it is not ours."""
    if not isinstance(view, Mapping) or view.get("callback_id") != CALLBACK_ID:
        return None
    try:
        meta = json.loads(view.get("private_metadata") or "")
    except ValueError:
        return None
    if not isinstance(meta, dict) or not isinstance(meta.get("slug"), str) or not isinstance(meta.get("email"), str):
        return None
    values = _dict(_dict(view.get("state")).get("values"))

    def state(block: str) -> dict:
        return _dict(_dict(values.get(block)).get("value"))

    def text(block: str) -> str:
        value = state(block).get("value")
        return value if isinstance(value, str) else ""

    selected = _dict(state("ticket_type").get("selected_option"))
    ticked = state("consent").get("selected_options")
    ticked = ticked if isinstance(ticked, list) else []
    return Submission(
        slug=meta["slug"][:64], email=meta["email"][:254], name=text("name"), name_kana=text("kana"),
        organization=text("organization"), department=text("department"),
        ticket_type=selected.get("value") if isinstance(selected.get("value"), str) else None,
        consent=any(isinstance(o, dict) and o.get("value") == "yes" for o in ticked),
    )


def _dict(value: Any) -> dict:
    return value if isinstance(value, dict) else {}


def errors_for(fields: Mapping[str, str]) -> dict[str, str]:
    """``{"response_action": "errors"}``'s map: each field error under its block (one per block)."""
    out: dict[str, str] = {}
    for field, message in fields.items():
        block = FIELD_BLOCKS.get(field.split(".")[0])
        if block and block not in out:
            out[block] = str(message)[:150]
    return out


def result_view(title: str, lines: Sequence[str], *, url: str | None = None, url_label: str = "") -> dict:
    """What replaces the form after it is sent: the outcome and, when there is one, the ticket link."""
    text = "\n".join(lines)
    if url:
        text += "\n" + link(url, url_label)
    return {"type": "modal", "callback_id": CALLBACK_ID + "_done", "title": _plain(title, 24),
            "close": _plain("閉じる", 24),
            "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": text[:3000]}}]}
