"""Spreadsheets a regulator opens: CSV (UTF-8 with BOM, so Excel reads Chinese) and XLSX.

A sheet is a list of ``Column``s and rows of display values (api/sheets.py builds
them). The XLSX has a title row (what, when, which filters), the header row
frozen under it with an auto-filter, set column widths, and times as real
date-time cells in China Standard Time to the second. The CSV is one header row
and the rows, so other systems can read it too; its file name says what and when.
Written with XlsxWriter (already the project's writer); tests read the files
back with openpyxl.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import xlsxwriter

__all__ = ["Column", "to_csv", "to_xlsx", "CSV", "XLSX"]

CSV = "text/csv; charset=utf-8"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
# A cell starting with one of these is a formula to a spreadsheet; party names are typed by users.
_FORMULA = ("=", "+", "-", "@", "\t", "\r")
TIME_FORMAT = "yyyy-mm-dd hh:mm:ss"
DAY_FORMAT = "yyyy-mm-dd"


@dataclass(frozen=True, slots=True)
class Column:
    key: str
    zh: str
    en: str
    width: int  # characters; a CJK character counts two
    kind: str = "text"  # text, time (local datetime), day (date)

    def header(self, lang: str) -> str:
        return self.zh if lang == "zh" else self.en


def _cell(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, str) and value.startswith(_FORMULA):
        return "'" + value
    return value


def _text(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S")
    if isinstance(value, date):
        return value.isoformat()
    return _cell(value)


def to_csv(rows: Iterable[dict[str, Any]], columns: Sequence[Column], lang: str = "zh") -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow([c.header(lang) for c in columns])
    for row in rows:
        writer.writerow([_text(row.get(c.key)) for c in columns])
    return ("\ufeff" + out.getvalue()).encode("utf-8")


def to_xlsx(rows: Iterable[dict[str, Any]], columns: Sequence[Column], *, sheet: str, title: str,
            lang: str = "zh") -> bytes:
    out = io.BytesIO()
    book = xlsxwriter.Workbook(out, {"in_memory": True, "strings_to_formulas": False, "strings_to_urls": False})
    page = book.add_worksheet(sheet[:31])
    heading = book.add_format({"bold": True, "font_size": 12})
    header = book.add_format({"bold": True, "bg_color": "#E8EEF4", "border": 1, "text_wrap": True,
                              "valign": "vcenter"})
    formats = {"time": book.add_format({"num_format": TIME_FORMAT}), "day": book.add_format({"num_format": DAY_FORMAT})}
    page.write(0, 0, title, heading)
    page.write_row(1, 0, [c.header(lang) for c in columns], header)
    last = 1
    for last, row in enumerate(rows, start=2):
        for number, column in enumerate(columns):
            value = row.get(column.key)
            if column.kind in formats and isinstance(value, (datetime, date)):
                page.write_datetime(last, number, value, formats[column.kind])
            else:
                page.write(last, number, _cell(value))
    for number, column in enumerate(columns):
        page.set_column(number, number, column.width)
    page.set_row(1, 30)
    page.freeze_panes(2, 0)
    page.autofilter(1, 0, max(last, 1), len(columns) - 1)
    book.close()
    return out.getvalue()
