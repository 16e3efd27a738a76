"""Organizer text is Markdown without raw HTML, sanitised."""

from eventsvc.core.markup import render_markdown


def test_links_get_safe_rel_and_script_stays_text():
    html = render_markdown("[資料](https://example.lg.jp/a.pdf) <script>alert(1)</script>")
    assert 'href="https://example.lg.jp/a.pdf"' in html
    assert "noopener" in html
    assert "<script>" not in html and "&lt;script&gt;" in html


def test_javascript_links_are_not_links():
    html = render_markdown("[x](javascript:alert(1)) [y](data:text/html,hi)")
    assert "href" not in html


def test_headings_start_below_the_page_outline():
    assert "<h3>" in render_markdown("# 見出し")
