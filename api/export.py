"""Risk lists as spreadsheets: CSV (UTF-8 with BOM, so Excel reads Chinese names) and XLSX."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from typing import Any

import xlsxwriter

__all__ = ["to_csv", "to_xlsx", "CSV", "XLSX"]

CSV = "text/csv; charset=utf-8"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
# A cell starting with one of these is a formula to a spreadsheet; party names are typed by users.
_FORMULA = ("=", "+", "-", "@", "\t", "\r")


def _cell(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, str) and value.startswith(_FORMULA):
        return "'" + value
    return value


def to_csv(rows: Iterable[dict[str, Any]], columns: Sequence[str]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(columns)
    for row in rows:
        writer.writerow([_cell(row.get(column)) for column in columns])
    return ("\ufeff" + out.getvalue()).encode("utf-8")


def to_xlsx(rows: Iterable[dict[str, Any]], columns: Sequence[str], sheet: str) -> bytes:
    out = io.BytesIO()
    book = xlsxwriter.Workbook(out, {"in_memory": True, "strings_to_formulas": False, "strings_to_urls": False})
    page = book.add_worksheet(sheet[:31])
    bold = book.add_format({"bold": True})
    page.write_row(0, 0, columns, bold)
    for number, row in enumerate(rows, start=1):
        page.write_row(number, 0, [_cell(row.get(column)) for column in columns])
    page.freeze_panes(1, 0)
    book.close()
    return out.getvalue()
