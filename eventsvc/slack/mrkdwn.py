"""Slack mrkdwn text: escaping, links, mentions, safe truncation.

Pure: standard library only. Only ``&``, ``<`` and ``>`` are special in Slack text
(``<@U…>`` mentions, ``<!channel>`` pings, ``<url|label>`` links), so every user-supplied
string goes through :func:`escape` — a name like ``<!channel>`` then shows as text and
pings nobody. Nothing else is encoded (SLACK.md §2, docs.slack.dev "formatting message text").
"""

from __future__ import annotations

import re
from urllib.parse import quote, urlsplit

ELLIPSIS = "…"

_USER_ID = re.compile(r"[UW][A-Z0-9]{2,20}")
_URL_SAFE = "/:?#[]@!$&'()*+,;=%~-._"  # RFC 3986 reserved + unreserved, kept as-is
_CONTROL = re.compile(r"[\x00-\x1f\x7f\u2028\u2029]")


def escape(text: object) -> str:
    """``&`` → ``&amp;`` first, then ``<`` → ``&lt;``, ``>`` → ``&gt;``; nothing else."""
    return str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def one_line(text: object) -> str:
    """Collapse line breaks and other controls to spaces (for names, titles, venues)."""
    return " ".join(_CONTROL.sub(" ", str(text)).split())


def truncate(text: str, limit: int) -> str:
    """``text`` cut to at most ``limit`` characters, ending in ``…`` when cut (raw text)."""
    if limit < 1:
        return ""
    return text if len(text) <= limit else text[: limit - 1] + ELLIPSIS


def escape_line(text: object, limit: int) -> str:
    """A user-supplied one-line value: collapsed, truncated (before escaping), escaped."""
    return escape(truncate(one_line(text), limit))


def safe_url(url: object) -> str | None:
    """``url`` if it is an absolute http(s) URL, percent-encoded for use inside ``<…|…>``.

    ``|``, ``<``, ``>``, spaces and non-ASCII are percent-encoded; ``&`` becomes ``&amp;``
    (Slack decodes it). Anything else (``javascript:``, relative, empty) gives ``None``.
    """
    if not isinstance(url, str):
        return None
    url = url.strip()
    if not url or _CONTROL.search(url):
        return None
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    if parts.scheme.lower() not in ("http", "https") or not parts.netloc:
        return None
    encoded = quote(url, safe=_URL_SAFE.replace("<", "").replace(">", ""))
    return encoded.replace("|", "%7C").replace("&", "&amp;")


def button_url(url: object) -> str | None:
    """A URL for a Block Kit button's ``url`` (not mrkdwn: no ``&amp;``), or ``None``."""
    safe = safe_url(url)
    if safe is None:
        return None
    plain = safe.replace("&amp;", "&")
    return plain if len(plain) <= 3000 else None


def link(url: object, label: object, *, label_limit: int = 200) -> str:
    """``<url|label>`` with the label escaped; just the escaped label if the URL is unsafe."""
    text = escape_line(label, label_limit)
    safe = safe_url(url)
    if safe is None:
        return text
    return f"<{safe}|{text}>" if text else f"<{safe}>"


def is_user_id(value: object) -> bool:
    return isinstance(value, str) and _USER_ID.fullmatch(value) is not None


def mention(user_id: str) -> str:
    """``<@U…>`` — only for a syntactically valid Slack user id (else ``ValueError``)."""
    if not is_user_id(user_id):
        raise ValueError(f"not a Slack user id: {user_id!r}")
    return f"<@{user_id}>"


def clip(mrkdwn: str, limit: int) -> str:
    """Cut already-formatted mrkdwn to ``limit`` characters without splitting a ``<…>``
    token or an ``&…;`` entity; ends in ``…`` when cut."""
    if len(mrkdwn) <= limit:
        return mrkdwn
    cut = mrkdwn[: max(0, limit - 1)]
    open_tag = cut.rfind("<")
    if open_tag > cut.rfind(">"):
        cut = cut[:open_tag]
    amp = cut.rfind("&")
    if amp != -1 and ";" not in cut[amp:]:
        cut = cut[:amp]
    return cut + ELLIPSIS
