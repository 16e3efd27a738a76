"""SVG bar charts: accessible (role, title, desc), escaped, and carrying the numbers given."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from eventsvc.surveys.charts import (
    ChartRow,
    bar_chart,
    fit,
    format_number,
    format_percent,
    text_width,
)

NS = {"svg": "http://www.w3.org/2000/svg"}


def parse(svg: str) -> ET.Element:
    return ET.fromstring(svg)


def rows():
    return [ChartRow("5（満足）", 12, "12件（60%）"), ChartRow("4", 6, "6件（30%）"), ChartRow("1（不満）", 2, "2件（10%）")]


def test_chart_is_an_accessible_image_with_title_and_description():
    root = parse(bar_chart(rows(), title="Q1 満足度", chart_id="q1", description="回答20件の分布。"))
    assert root.get("role") == "img"
    assert root.get("aria-labelledby") == "q1-title q1-desc"
    title = root.find("svg:title", NS)
    desc = root.find("svg:desc", NS)
    assert title.get("id") == "q1-title" and title.text == "Q1 満足度"
    assert desc.get("id") == "q1-desc"
    assert desc.text == "回答20件の分布。 5（満足）: 12件（60%）、4: 6件（30%）、1（不満）: 2件（10%）"


def test_each_bar_prints_the_given_text_and_bar_lengths_follow_values():
    root = parse(bar_chart(rows(), title="t", chart_id="c"))
    values = [t.text for t in root.iter("{http://www.w3.org/2000/svg}text") if t.get("class") == "chart-value"]
    labels = [t.text for t in root.iter("{http://www.w3.org/2000/svg}text") if t.get("class") == "chart-label"]
    assert values == ["12件（60%）", "6件（30%）", "2件（10%）"]
    assert labels == ["5（満足）", "4", "1（不満）"]
    widths = [float(r.get("width")) for r in root.iter("{http://www.w3.org/2000/svg}rect")]
    assert widths[0] > widths[1] > widths[2] > 0
    assert abs(widths[0] / widths[1] - 2) < 0.01


def test_zero_values_draw_no_bar_but_keep_their_number():
    root = parse(bar_chart([ChartRow("a", 0, "0件（0%）"), ChartRow("b", 3, "3件（100%）")], title="t", chart_id="z"))
    assert len(list(root.iter("{http://www.w3.org/2000/svg}rect"))) == 1
    assert "0件（0%）" in ET.tostring(root, encoding="unicode")


def test_scale_max_fixes_the_full_length():
    a = parse(bar_chart([ChartRow("x", 2.5, "2.5")], title="t", chart_id="a", scale_max=5))
    b = parse(bar_chart([ChartRow("x", 5, "5")], title="t", chart_id="b", scale_max=5))
    wa = float(next(a.iter("{http://www.w3.org/2000/svg}rect")).get("width"))
    wb = float(next(b.iter("{http://www.w3.org/2000/svg}rect")).get("width"))
    assert abs(wb / wa - 2) < 0.01


def test_text_is_escaped_and_ids_are_safe():
    svg = bar_chart([ChartRow("<script>&\"", 1, "1 <b>")], title="</title><script>", chart_id='q"1 <x>')
    root = parse(svg)  # still well-formed
    assert "<script>" not in svg
    assert root.find("svg:title", NS).text == "</title><script>"
    assert root.get("aria-labelledby") == "q-1--x--title q-1--x--desc"


def test_empty_chart_says_so():
    root = parse(bar_chart([], title="t", chart_id="e", empty_text="回答はまだありません"))
    assert root.find("svg:desc", NS).text == "回答はまだありません"
    assert not list(root.iter("{http://www.w3.org/2000/svg}rect"))


def test_long_labels_are_shortened_to_fit():
    label = "システム標準化・ガバメントクラウドへの移行と運用の実務"
    short = fit(label, 174)
    assert short.endswith("…") and text_width(short) <= 174
    assert fit("AI", 174) == "AI"


def test_number_formats():
    assert format_number(4) == "4" and format_number(4.0) == "4"
    assert format_number(3.756, 2) == "3.76"
    assert format_percent(33.3) == "33.3%" and format_percent(100.0) == "100%"


def test_a_narrower_chart_keeps_its_numbers_and_fits_its_view_box():
    svg = bar_chart([ChartRow("とても長いラベルのテキストです", 3, "3件（100%）")], title="t", chart_id="n", width=440,
                    label_width=150, value_width=100)
    root = parse(svg)
    assert root.get("viewBox") == "0 0 440 46"
    rect = next(root.iter("{http://www.w3.org/2000/svg}rect"))
    assert float(rect.get("x")) + float(rect.get("width")) <= 440 - 100
    label = next(t for t in root.iter("{http://www.w3.org/2000/svg}text") if t.get("class") == "chart-label")
    assert label.text.endswith("…") and text_width(label.text) <= 150 - 16
