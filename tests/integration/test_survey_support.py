"""Helpers shared by the survey tests (imported by them; no tests here).

- ``attendee(event)``: a confirmed registration made through the real registration
  service (``tests.factories.registration``); its attendee token is on ``.attendee_token``.
- ``checked_in(monkeypatch, event, regs)``: plugs a check-in source into the survey
  service's attendance hook that says exactly these registrations came.
- ``answers_for(survey, **by_key)``: AnswerData for the template's questions by key.
- ``HtmlTables``/``svg_values``: read result tables and chart numbers back out of a page.
"""

from __future__ import annotations

import re
from datetime import timedelta
from html.parser import HTMLParser

from eventsvc.core.clock import now_utc
from eventsvc.extensions import db
from eventsvc.surveys import service
from tests import factories

SECRET = "survey-test-secret"


def attendee(event, **kw):
    reg = factories.registration(event, **kw)
    assert reg.status == kw.get("status", "confirmed"), reg.status
    return reg


def make_survey(event, organizer, data=None, **changes):
    """The event's survey (the template unless ``data``), then ``changes`` set on it.

    It takes answers at once (``opens_at`` an hour ago) unless ``changes`` say otherwise: the
    tests' events are still ahead, and a survey left to the default opens only when its event
    starts (see ``test_a_new_survey_opens_when_the_event_starts``).
    """
    changes.setdefault("opens_at", now_utc() - timedelta(hours=1))
    survey = service.create_survey(event, organizer, now_utc(), data)
    for key, value in changes.items():
        setattr(survey, key, value)
    db.session.commit()
    return survey


def checked_in(monkeypatch, regs_by_event: dict):
    """Attendance: ``{event_id: [registrations]}`` (the only source while the test runs)."""
    ids = {event_id: {r.id for r in regs} for event_id, regs in regs_by_event.items()}
    monkeypatch.setattr(service, "_attendance_sources", [lambda event: ids.get(event.id, set())])


def no_attendance(monkeypatch):
    monkeypatch.setattr(service, "_attendance_sources", [])


def question(survey, key):
    return next(q for q in survey.questions if q.key == key)


def answers_for(survey, **by_key) -> list[service.AnswerData]:
    out = []
    for key, value in by_key.items():
        other = ""
        if isinstance(value, tuple):
            value, other = value
        out.append(service.AnswerData(question(survey, key).id, value, other))
    return out


#: a complete, valid answer to the default template
FULL = {"satisfaction": 5, "usefulness": 4, "recommend": 9, "most_useful": "窓口BPRの事例",
        "next_themes": ["生成AIの業務活用", "アナログ規制の見直し"], "will_post": "今回をきっかけに投稿してみたい",
        "comments": "また参加したいです"}


def submit(survey, reg, **by_key):
    values = {**FULL, **by_key}
    response = service.submit_response(survey, reg, answers_for(survey, **values), now_utc(), secret=SECRET)
    db.session.commit()
    return response


class HtmlTables(HTMLParser):
    """Rows of every ``<table class="… sv-result-table">`` (cell texts), and the SVG value texts
    of every chart, in page order, grouped by the enclosing ``<section class="sv-result">``."""

    def __init__(self):
        super().__init__()
        self.sections: list[dict] = []
        self._in_table = self._in_value = False
        self._cell: list[str] | None = None
        self._row: list[str] | None = None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        cls = a.get("class", "") or ""
        if tag == "section" and "sv-result" in cls.split():
            self.sections.append({"id": a.get("id"), "rows": [], "values": [], "labels": []})
        elif tag == "table" and "sv-result-table" in cls:
            self._in_table = True
        elif self._in_table and tag == "tr":
            self._row = []
        elif self._in_table and tag in ("td", "th") and self._row is not None:
            self._cell = []
        elif tag == "text" and "chart-value" in cls:
            self._in_value = True
            self.sections[-1]["values"].append("")

    def handle_endtag(self, tag):
        if tag == "table":
            self._in_table = False
        elif tag in ("td", "th") and self._cell is not None:
            self._row.append("".join(self._cell).strip())
            self._cell = None
        elif tag == "tr" and self._row is not None:
            if self._row and self.sections:
                self.sections[-1]["rows"].append(self._row)
            self._row = None
        elif tag == "text":
            self._in_value = False

    def handle_data(self, data):
        if self._cell is not None:
            self._cell.append(data)
        if self._in_value:
            self.sections[-1]["values"][-1] += data


def result_sections(html: str) -> list[dict]:
    p = HtmlTables()
    p.feed(html)
    return p.sections


def numbers(text: str) -> list[str]:
    return re.findall(r"\d+(?:\.\d+)?", text)
