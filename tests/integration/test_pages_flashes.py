"""Flash messages in the base layout: each category's visible label and its live-region role."""

from __future__ import annotations

import re

import pytest
from flask import flash, render_template_string
from flask_babel import refresh

FLASHES = '{% from "_macros/ui.html" import flashes %}{{ flashes() }}'


def _flashed(app, category: str, lang: str = "ja") -> tuple[str, str, str]:
    """(class, role, label) of the one flash of this category, as the layout shows it."""
    with app.test_request_context("/", headers={"Cookie": f"lang={lang}"}):
        refresh()  # the test's app context outlives each request context: forget its language
        flash("メッセージ本文", category)
        html = render_template_string(FLASHES)
    m = re.search(r'<div class="notice ([^"]+)" role="(\w+)">\s*<span class="notice-label">([^<]*):</span>\s*'
                  r"メッセージ本文", html)
    assert m, html
    return m.group(1), m.group(2), m.group(3)


@pytest.mark.parametrize(("category", "label", "english", "role"), [
    ("warning", "注意", "Warning", "status"),
    ("error", "エラー", "Error", "alert"),
    ("success", "完了", "Done", "status"),
    ("info", "お知らせ", "Notice", "status"),
    ("message", "お知らせ", "Notice", "status"),  # flash() without a category
])
def test_each_category_has_its_label_and_role(app, category, label, english, role):
    assert _flashed(app, category) == (f"notice-{category}", role, label)
    assert _flashed(app, category, "en") == (f"notice-{category}", role, english)


def test_a_page_shows_a_flashed_warning_as_a_warning(client):
    """Through a real page (the flash put in the session as a view's redirect leaves it)."""
    with client.session_transaction() as session:
        session["_flashes"] = [("warning", "受付開始の前です。")]
    page = client.get("/").get_data(as_text=True)
    assert re.search(r'<div class="notice notice-warning" role="status">\s*<span class="notice-label">注意:</span>'
                     r"\s*受付開始の前です。", page)
