"""Organizer-written text to safe HTML: Markdown with raw HTML off, then sanitised.

Pure: markdown-it-py renders CommonMark without raw HTML (so ``<script>`` stays
text), nh3 keeps a small allow-list and forces ``rel="noopener noreferrer nofollow"``.
"""

from __future__ import annotations

import nh3
from markdown_it import MarkdownIt

_md = MarkdownIt("commonmark", {"html": False, "linkify": False, "breaks": True}).enable("table")

ALLOWED_TAGS = {
    "p", "br", "strong", "em", "code", "pre", "blockquote", "ul", "ol", "li", "a",
    "h3", "h4", "h5", "h6", "hr", "table", "thead", "tbody", "tr", "th", "td",
}  # fmt: skip


def render_markdown(text: str) -> str:
    """Safe HTML. Headings are shifted down (``#`` → h3) to keep the page outline."""
    html = _md.render(text or "")
    for level in range(6, 0, -1):
        target = min(level + 2, 6)
        html = html.replace(f"<h{level}>", f"<h{target}>").replace(f"</h{level}>", f"</h{target}>")
    return nh3.clean(
        html,
        tags=ALLOWED_TAGS,
        attributes={"a": {"href", "title"}, "th": {"align"}, "td": {"align"}},
        url_schemes={"http", "https", "mailto"},
        link_rel="noopener noreferrer nofollow",
    )
