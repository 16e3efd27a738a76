"""Reading pages in integration tests: the error summary as a person (or a screen reader) meets it."""

from __future__ import annotations

import html as htmllib
import re


def error_summary(page: str) -> list[tuple[str | None, str]]:
    """Each entry of the page's error summaries: ``(link target or None, text)``, in order."""
    out = []
    for box in re.findall(r'<div class="error-summary"[^>]*>(.*?)</div>', page, re.S):
        for item in re.findall(r"<li>(.*?)</li>", box, re.S):
            link = re.match(r'\s*<a href="([^"]*)">', item)
            text = re.sub(r"\s+", " ", htmllib.unescape(re.sub(r"<[^>]+>", "", item))).strip()
            out.append((link.group(1) if link else None, text))
    return out
