"""Spreadsheet exports (survey answers, the scan log): CSV for Excel (UTF-8 with BOM,
formula-safe) and XLSX (openpyxl).

Pure: the standard library and openpyxl only. Tables come in as a header and rows of
plain values; nothing here knows about surveys or people.

Formula safety: a text cell starting with ``= + - @``, a tab or a carriage return
(or their full-width forms, which Japanese Excel also reads as formulas) is written
with a leading apostrophe in the CSV, so a spreadsheet shows it as text instead of
running it. In XLSX every text cell is stored with the string type, never as a formula.
"""

from __future__ import annotations

import csv
import io
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from openpyxl import Workbook
from openpyxl.styles import Alignment, Font

FORMULA_START = ("=", "+", "-", "@", "\t", "\r", "＝", "＋", "－", "＠")
BOM = "\ufeff"

Cell = str | int | float | None


@dataclass
class Sheet:
    title: str
    header: Sequence[str]
    rows: Iterable[Sequence[Cell]]


def safe_text(value: str) -> str:
    """A text cell a spreadsheet will not run as a formula."""
    return "'" + value if value.startswith(FORMULA_START) else value


def _csv_cell(value: Cell) -> str | int | float:
    if value is None:
        return ""
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int | float):
        return value
    return safe_text(str(value))


def to_csv(header: Sequence[str], rows: Iterable[Sequence[Cell]]) -> bytes:
    """UTF-8 with a BOM (so Excel reads Japanese correctly), CRLF line ends."""
    buf = io.StringIO()
    buf.write(BOM)
    writer = csv.writer(buf, lineterminator="\r\n", quoting=csv.QUOTE_MINIMAL)
    writer.writerow([_csv_cell(h) for h in header])
    for row in rows:
        writer.writerow([_csv_cell(v) for v in row])
    return buf.getvalue().encode("utf-8")


def to_xlsx(sheets: Sequence[Sheet]) -> bytes:
    """One workbook, one worksheet per :class:`Sheet`; header row bold and frozen."""
    wb = Workbook()
    wb.remove(wb.active)
    for sheet in sheets:
        ws = wb.create_sheet(title=_sheet_title(sheet.title))
        ws.append([str(h) for h in sheet.header])
        for cell in ws[1]:
            cell.font = Font(bold=True)
            cell.data_type = "s"
        widths = [display_width(str(h)) for h in sheet.header]
        for n, row in enumerate(sheet.rows):
            ws.append([None if v is None else (int(v) if isinstance(v, bool) else v) for v in row])
            if n < WIDTH_SAMPLE:  # the widest value decides, as Excel's "autofit" does
                for i, v in enumerate(row[:len(widths)]):
                    if v is not None:
                        widths[i] = max(widths[i], display_width(str(v).split("\n", 1)[0]))
            for cell in ws[ws.max_row]:
                if isinstance(cell.value, str):
                    cell.data_type = "s"  # never a formula, whatever the text starts with
                    if "\n" in cell.value:
                        cell.alignment = Alignment(wrap_text=True, vertical="top")
        ws.freeze_panes = "A2"
        for i, width in enumerate(widths, start=1):
            ws.column_dimensions[ws.cell(1, i).column_letter].width = min(60, max(8, width + 2))
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


#: how many rows are measured for a column's width (the first rows of a long export tell enough)
WIDTH_SAMPLE = 500


def display_width(text: str) -> int:
    """Columns ``text`` takes in a spreadsheet's default font: full-width characters count two."""
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def _sheet_title(title: str) -> str:
    cleaned = "".join("_" if ch in "[]:*?/\\" else ch for ch in title).strip() or "Sheet"
    return cleaned[:31]


__all__ = ["BOM", "FORMULA_START", "Sheet", "display_width", "safe_text", "to_csv", "to_xlsx"]
