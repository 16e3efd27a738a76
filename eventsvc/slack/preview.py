"""Show a Block Kit message as HTML, for the organizer's preview before anything is queued.

Pure: standard library and ``markupsafe`` only. The message is rendered from exactly the
``text``/``blocks`` that will be sent, so the preview cannot drift from the post. Slack
mrkdwn is read conservatively: ``&amp;``/``&lt;``/``&gt;`` are decoded and everything is
HTML-escaped again; ``<url|label>`` becomes a link, ``<@U…>`` a mention (with the name the
caller knows), ``<!here>``/``<!channel>`` a visible warning badge (our builders never
produce them — if one shows up, the preview makes it obvious); ``*bold*``, ``_italic_``
and ``~strike~`` become ``strong``/``em``/``s``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from markupsafe import Markup, escape

_TOKEN = re.compile(r"<([^<>]*)>")
_BOLD = re.compile(r"(?<![\w*])\*(?=\S)([^*\n]+?)(?<=\S)\*(?![\w*])")
_ITALIC = re.compile(r"(?<![\w_])_(?=\S)([^_\n]+?)(?<=\S)_(?![\w_])")
_STRIKE = re.compile(r"(?<![\w~])~(?=\S)([^~\n]+?)(?<=\S)~(?![\w~])")
_SAFE_URL = re.compile(r"^https?://", re.IGNORECASE)


def _unescape(text: str) -> str:
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def _plain(text: str) -> str:
    """Escaped Slack text → HTML with bold/italic/strike (on already-escaped text)."""
    html = str(escape(_unescape(text)))
    html = _BOLD.sub(r"<strong>\1</strong>", html)
    html = _ITALIC.sub(r"<em>\1</em>", html)
    html = _STRIKE.sub(r"<s>\1</s>", html)
    return html.replace("\n", "<br>")


def _token(inner: str, names: Mapping[str, str]) -> str:
    if inner.startswith("@"):
        user = inner[1:].split("|", 1)[0]
        label = names.get(user) or user
        return f'<span class="slack-mention">@{escape(label)}</span>'
    if inner.startswith("#"):
        channel, _, label = inner[1:].partition("|")
        return f'<span class="slack-mention">#{escape(label or channel)}</span>'
    if inner.startswith("!"):
        word = inner[1:].split("|", 1)[0]
        return f'<span class="slack-ping">@{escape(word)}</span>'
    url, _, label = inner.partition("|")
    url = _unescape(url)
    text = _plain(label) if label else str(escape(url))
    if not _SAFE_URL.match(url):
        return text
    return f'<a href="{escape(url)}" rel="noopener noreferrer">{text}</a>'


def mrkdwn_to_html(text: str, names: Mapping[str, str] | None = None) -> Markup:
    """One mrkdwn string as safe HTML; ``names`` maps user ids to display names."""
    names = names or {}
    out: list[str] = []
    pos = 0
    for m in _TOKEN.finditer(text):
        out.append(_plain(text[pos : m.start()]))
        out.append(_token(m.group(1), names))
        pos = m.end()
    out.append(_plain(text[pos:]))
    return Markup("".join(out))


def _text_obj(obj: Any, names: Mapping[str, str]) -> Markup:
    if not isinstance(obj, Mapping):
        return Markup("")
    text = str(obj.get("text", ""))
    if obj.get("type") == "plain_text":
        return Markup(escape(text))
    return mrkdwn_to_html(text, names)


def _button(el: Mapping[str, Any], names: Mapping[str, str]) -> str:
    label = _text_obj(el.get("text"), names)
    cls = "slack-button" + (" slack-button-primary" if el.get("style") == "primary" else "")
    url = el.get("url")
    if isinstance(url, str) and _SAFE_URL.match(url):
        return f'<a class="{cls}" href="{escape(url)}" rel="noopener noreferrer">{label}</a>'
    return f'<span class="{cls}">{label}</span>'


def blocks_to_html(blocks: Sequence[Mapping[str, Any]], names: Mapping[str, str] | None = None) -> Markup:
    """The blocks of one message as HTML (section, header, context, actions, divider)."""
    names = names or {}
    parts: list[str] = []
    for block in blocks:
        kind = block.get("type")
        if kind == "section":
            inner = str(_text_obj(block.get("text"), names))
            fields = block.get("fields") or []
            if fields:
                inner += "".join(f"<div>{_text_obj(f, names)}</div>" for f in fields)
            accessory = block.get("accessory")
            if isinstance(accessory, Mapping) and accessory.get("type") == "button":
                inner += " " + _button(accessory, names)
            parts.append(f'<div class="slack-section">{inner}</div>')
        elif kind == "header":
            parts.append(f'<p class="slack-header">{_text_obj(block.get("text"), names)}</p>')
        elif kind == "context":
            items = " ".join(str(_text_obj(e, names)) for e in block.get("elements") or [])
            parts.append(f'<div class="slack-context">{items}</div>')
        elif kind == "actions":
            buttons = " ".join(
                _button(e, names) for e in block.get("elements") or [] if isinstance(e, Mapping)
            )
            parts.append(f'<div class="slack-actions">{buttons}</div>')
        elif kind == "divider":
            parts.append('<hr class="slack-divider">')
    return Markup("".join(parts))
