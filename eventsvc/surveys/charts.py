"""Accessible bar charts as inline SVG, drawn on the server (no script, no chart service).

Pure: imports only the standard library. Each chart is ``role="img"`` with a
``<title>`` (what it shows) and a ``<desc>`` listing every row, and the number
printed at the end of each bar is the very string the data table beside it shows
(the caller passes it in :attr:`ChartRow.text`), so the picture, its text
alternative and the table can't disagree.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from xml.sax.saxutils import escape, quoteattr

WIDTH = 640
LABEL_WIDTH = 190
VALUE_WIDTH = 140
ROW_HEIGHT = 30
BAR_HEIGHT = 18
PAD = 8
FONT_SIZE = 14
#: design tokens: blue-900 bars (≥ 3:1 against white), gray-900 text
BAR_COLOUR = "#0017c1"
TEXT_COLOUR = "#1a1a1a"
AXIS_COLOUR = "#626264"

_ID = re.compile(r"[^A-Za-z0-9_-]")


@dataclass(frozen=True)
class ChartRow:
    """One bar: ``value`` sets its length, ``text`` is printed after it (as in the table)."""

    label: str
    value: float
    text: str


def text_width(text: str, font_size: int = FONT_SIZE) -> float:
    """An estimate of the rendered width: wide (CJK) characters 1 em, others 0.6 em."""
    return sum(1.0 if unicodedata.east_asian_width(ch) in "WF" else 0.6 for ch in text) * font_size


def fit(text: str, max_width: float, font_size: int = FONT_SIZE) -> str:
    """``text`` shortened with "…" to fit ``max_width`` pixels."""
    if text_width(text, font_size) <= max_width:
        return text
    out = ""
    for ch in text:
        if text_width(out + ch + "…", font_size) > max_width:
            break
        out += ch
    return out + "…"


def format_number(value: float, digits: int = 1) -> str:
    """``12`` for whole numbers, else ``12.3`` (``digits`` decimals)."""
    if float(value).is_integer():
        return str(int(value))
    return f"{value:.{digits}f}"


def format_percent(value: float) -> str:
    return f"{format_number(value)}%"


def bar_chart(rows: Sequence[ChartRow], *, title: str, chart_id: str, description: str = "",
              scale_max: float | None = None, empty_text: str = "データがありません", width: int = WIDTH,
              label_width: int = LABEL_WIDTH, value_width: int = VALUE_WIDTH) -> str:
    """A horizontal bar chart (one row per bar) as an inline ``<svg>`` element.

    ``chart_id`` makes the ``<title>``/``<desc>`` ids unique on the page.
    ``scale_max`` fixes the length of a full bar (default: the largest value).
    A narrower ``width`` (the viewBox; the chart scales to its box) makes larger text in a
    small box, e.g. on a printed page.
    """
    cid = _ID.sub("-", chart_id)
    rows = list(rows)
    height = PAD * 2 + max(1, len(rows)) * ROW_HEIGHT
    listing = "、".join(f"{r.label}: {r.text}" for r in rows) if rows else empty_text
    desc = f"{description} {listing}".strip() if description else listing
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" role="img" viewBox="0 0 {width} {height}" '
        f'aria-labelledby="{cid}-title {cid}-desc" font-size="{FONT_SIZE}" '
        f'font-family="Hiragino Sans, Noto Sans JP, Meiryo, sans-serif">',
        f'<title id="{cid}-title">{escape(title)}</title>',
        f'<desc id="{cid}-desc">{escape(desc)}</desc>',
    ]
    if not rows:
        out.append(f'<text x="{PAD}" y="{PAD + ROW_HEIGHT / 2 + 5:.0f}" fill="{TEXT_COLOUR}">{escape(empty_text)}</text>')
        out.append("</svg>")
        return "".join(out)
    top = max((r.value for r in rows), default=0)
    full = scale_max if scale_max and scale_max > 0 else top
    bar_area = width - label_width - value_width - PAD
    out.append(f'<line x1="{label_width}" y1="{PAD}" x2="{label_width}" y2="{height - PAD}" '
               f'stroke="{AXIS_COLOUR}" stroke-width="1"/>')
    for i, r in enumerate(rows):
        y = PAD + i * ROW_HEIGHT
        length = 0.0 if not full or r.value <= 0 else min(1.0, r.value / full) * bar_area
        baseline = y + ROW_HEIGHT / 2 + FONT_SIZE * 0.35
        out.append('<g class="chart-row">')
        out.append(f'<text class="chart-label" x="{label_width - 8}" y="{baseline:.1f}" text-anchor="end" '
                   f'fill="{TEXT_COLOUR}">{escape(fit(r.label, label_width - 16))}</text>')
        if length > 0:
            out.append(f'<rect x="{label_width}" y="{y + (ROW_HEIGHT - BAR_HEIGHT) / 2:.1f}" width="{length:.1f}" '
                       f'height="{BAR_HEIGHT}" fill="{BAR_COLOUR}"/>')
        out.append(f'<text class="chart-value" x="{label_width + length + 6:.1f}" y="{baseline:.1f}" '
                   f'fill="{TEXT_COLOUR}" data-value={quoteattr(format_number(r.value, 2))}>{escape(r.text)}</text>')
        out.append("</g>")
    out.append("</svg>")
    return "".join(out)


__all__ = ["ChartRow", "bar_chart", "fit", "format_number", "format_percent", "text_width"]
