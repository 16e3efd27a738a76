"""Reading pages in integration tests: the error summary as a person (or a screen reader) meets it;
forms posted back as a page shows them."""

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


def survey_builder_form(survey, title: str | None = None) -> dict:
    """The survey builder's form data as the page shows it for ``survey`` (each question's current version)."""
    data = {"title": title or survey.title, "description": "", "anonymous": "y", "opens_at": "", "closes_at": ""}
    for i, q in enumerate(survey.questions):
        v = q.current
        data.update({f"questions-{i}-id": str(q.id), f"questions-{i}-kind": v.kind, f"questions-{i}-text": v.text,
                     f"questions-{i}-options": "\n".join(v.options), f"questions-{i}-order": str(i + 1),
                     f"questions-{i}-scale_min": "" if v.scale_min is None else str(v.scale_min),
                     f"questions-{i}-scale_max": "" if v.scale_max is None else str(v.scale_max),
                     f"questions-{i}-min_label": v.min_label, f"questions-{i}-max_label": v.max_label})
        if v.required:
            data[f"questions-{i}-required"] = "y"
        if v.allow_other:
            data[f"questions-{i}-allow_other"] = "y"
    return data
