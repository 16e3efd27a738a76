"""Reading pages in integration tests: the error summary as a person (or a screen reader) meets it;
forms posted back as a page shows them."""

from __future__ import annotations

import html as htmllib
import re
from html.parser import HTMLParser


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


class _Forms(HTMLParser):
    """Every <form> of a page: its action and the values its controls would send (no buttons)."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.forms: list[dict] = []
        self._select: str | None = None
        self._option: str | None = None
        self._textarea: str | None = None

    def _add(self, name, value):
        self.forms[-1]["fields"].setdefault(name, []).append(value)

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "form":
            self.forms.append({"action": a.get("action", ""), "fields": {}, "buttons": []})
        elif not self.forms:
            return
        elif tag == "button" or (tag == "input" and a.get("type") == "submit"):
            self.forms[-1]["buttons"].append((a.get("name"), a.get("value", "")))
        elif tag == "input" and a.get("name"):
            kind = a.get("type", "text")
            if kind in ("checkbox", "radio"):
                if "checked" in a:
                    self._add(a["name"], a.get("value", "on"))
            else:
                self._add(a["name"], a.get("value", ""))
        elif tag == "select":
            self._select = a.get("name")
        elif tag == "option" and self._select and "selected" in a:
            self._add(self._select, a.get("value", ""))
        elif tag == "textarea" and a.get("name"):
            self._textarea = a["name"]
            self._add(self._textarea, "")

    def handle_endtag(self, tag):
        if tag == "select":
            self._select = None
        elif tag == "textarea":
            self._textarea = None

    def handle_data(self, data):
        if self._textarea:
            values = self.forms[-1]["fields"][self._textarea]
            if not values[-1]:  # a browser drops the newline that follows <textarea>
                data = data.removeprefix("\r").removeprefix("\n")
            values[-1] += data


def page_forms(page: str) -> list[dict]:
    """The page's forms as ``{"action", "fields": {name: [values]}, "buttons": [(name, value)]}``:
    ``fields`` is what the form sends as shown (checked boxes, selected options, textareas), to post
    back with the test client (``data=form["fields"]`` plus the button pressed)."""
    parser = _Forms()
    parser.feed(page)
    return parser.forms
