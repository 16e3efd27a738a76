"""CSV (UTF-8 BOM, CRLF, formula-safe) and XLSX (strings never formulas) writers."""

from __future__ import annotations

import csv
import io

import openpyxl
import pytest

from eventsvc.core.export import Sheet, safe_text, to_csv, to_xlsx


@pytest.mark.parametrize("text", ["=1+1", "+81 90", "-1", "@SUM(A1)", "\tx", "\rx", "＝1+1", "＋1", "－1", "＠x",
                                  '=HYPERLINK("http://x","y")'])
def test_formula_starts_are_neutralised(text):
    assert safe_text(text) == "'" + text


@pytest.mark.parametrize("text", ["満足", "1+1", "a=b", " =x", "メール: a@b"])
def test_ordinary_text_is_unchanged(text):
    assert safe_text(text) == text


def test_csv_has_bom_crlf_and_safe_cells_but_numbers_stay_numbers():
    body = to_csv(["No.", "Q1", "Q2"], [[1, 5, "=cmd|' /C calc'!A0"], [2, None, "改行\nあり, カンマ"]])
    assert body.startswith("\ufeff".encode())
    text = body.decode("utf-8")
    assert text.count("\r\n") >= 3
    rows = list(csv.reader(io.StringIO(text.lstrip("\ufeff"))))
    assert rows == [["No.", "Q1", "Q2"], ["1", "5", "'=cmd|' /C calc'!A0"], ["2", "", "改行\nあり, カンマ"]]


def test_xlsx_keeps_formula_text_as_text_and_numbers_as_numbers():
    body = to_xlsx([Sheet("回答", ["No.", "感想"], [[1, "=1+1"], [2, "@x"]]), Sheet("集:計/[1]", ["a"], [])])
    wb = openpyxl.load_workbook(io.BytesIO(body))
    assert wb.sheetnames == ["回答", "集_計__1_"]
    ws = wb["回答"]
    assert [[c.value for c in row] for row in ws.iter_rows()] == [["No.", "感想"], [1, "=1+1"], [2, "@x"]]
    assert ws["B2"].data_type == "s" and ws["A2"].data_type == "n"
    assert ws.freeze_panes == "A2"


def test_xlsx_columns_are_as_wide_as_their_widest_value_full_width_counting_two():
    """Codes of 38 characters, e-mail addresses and Japanese names are not cut off in Excel; a long
    free text stops at 60 (it wraps), a short column keeps room for its header."""
    code = "T1-" + "A" * 35
    wb = openpyxl.load_workbook(io.BytesIO(to_xlsx([Sheet("s", ["受付コード", "氏名", "ID", "感想"], [
        [code, "比嘉 太郎", 1, "長" * 100], ["T1-A", "寿限無寿限無五劫の擦り切れ", 22, "短い\n" + "二行目" * 40]])])))
    width = {c: wb["s"].column_dimensions[c].width for c in "ABCD"}
    assert width["A"] >= len(code) and width["B"] >= 2 * len("寿限無寿限無五劫の擦り切れ")
    assert 8 <= width["C"] <= 10 and width["D"] == 60
