"""The regulator's spreadsheets, downloaded from the pages as a person would and opened with openpyxl.

Chinese headers, a title row saying what, when and which filters, names with ids in
their own columns, districts by name, states in Chinese, local times to the second,
a frozen header with an auto-filter, set widths, and no column left empty; CSV with
a BOM. Run on both databases.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone

import openpyxl
import pytest

from tests.conftest import BACKENDS

from .city import Town, populate
from .conftest import close_ledger, open_ledger, sign_in
from .stories import add_stories
from .test_findings_language import english_words

WORD = re.compile(r"[A-Za-z]{2,}")
CST = timezone(timedelta(hours=8))


@pytest.fixture(scope="module", params=BACKENDS)
def town(request, tmp_path_factory) -> Iterator[Town]:
    ledger, url = open_ledger(request.param, tmp_path_factory.mktemp("sheets"))
    try:
        yield add_stories(populate(ledger))
    finally:
        close_ledger(ledger, request.param, url)


def workbook(client, path: str, **params):
    answer = client.get(path, params=params)
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"].startswith("application/vnd.openxmlformats")
    assert re.search(r'filename="[\w-]+-\d{8}-\d{4}\.xlsx"', answer.headers["content-disposition"])
    return openpyxl.load_workbook(io.BytesIO(answer.content)).active


def table(sheet) -> tuple[str, list[str], list[dict]]:
    rows = list(sheet.iter_rows(values_only=True))
    title, headers = rows[0][0], list(rows[1])
    return title, headers, [dict(zip(headers, row)) for row in rows[2:]]


def assert_laid_out(sheet, headers: list[str]) -> None:
    assert sheet.freeze_panes == "A3"  # the title and the header stay in view
    assert sheet.auto_filter.ref and sheet.auto_filter.ref.startswith("A2:")
    for letter in (openpyxl.utils.get_column_letter(n) for n in range(1, len(headers) + 1)):
        assert sheet.column_dimensions[letter].width >= 8, letter


def assert_no_empty_column(headers: list[str], rows: list[dict]) -> None:
    assert rows
    for header in headers:
        assert any(row[header] not in (None, "") for row in rows), f"column {header} is empty"


def utc_of(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def test_a_risk_list_as_a_regulator_reads_it(town: Town, client):
    sign_in(client, town.tokens["regulator"])
    sheet = workbook(client, "/risk/export.xlsx", reason="overdue_inspection", region="330110")
    title, headers, rows = table(sheet)
    assert "风险清单：超期未检" in title and "导出于" in title and "北京时间" in title and "余杭区（330110）" in title
    assert headers[:6] == ["气瓶编码", "风险类别", "产权单位", "产权单位编号", "区县", "行政区划代码"]
    assert "状态" in headers and "当前持有方" in headers and "最近记录时间" in headers
    assert_laid_out(sheet, headers)
    assert_no_empty_column(headers, rows)
    (row,) = [r for r in rows if r["气瓶编码"] == town.cylinders["overdue"]]
    assert row["产权单位"] == "东方燃气有限公司" and row["产权单位编号"] == town.parties["company"]
    assert row["区县"] == "余杭区" and row["行政区划代码"] == "330110" and row["风险类别"] == "超期未检"
    assert row["状态"] == "在充装站" and row["当前持有方"] == "东方燃气城北充装站"
    with town.ledger.db.reading() as c:
        last = town.ledger.cylinder(c, town.cylinders["overdue"]).last_event_at
    expected = utc_of(last).astimezone(CST).replace(tzinfo=None, microsecond=0)
    assert row["最近记录时间"] == expected  # a date-time cell, local, whole seconds
    assert row["下次检验日期"].date().isoformat() == "2023-03-01"


def test_the_open_findings_list_fills_every_column(town: Town, client):
    sign_in(client, town.tokens["regulator"])
    sheet = workbook(client, "/risk/export.xlsx", reason="open_findings")
    title, headers, rows = table(sheet)
    assert headers[-3:] == ["问题编号", "问题类型", "处置状态"]
    assert_no_empty_column(headers, rows)
    for row in rows:
        assert re.fullmatch(r"#\d+( #\d+)*", row["问题编号"]) and row["问题类型"] and row["处置状态"], row
    (short,) = [r for r in rows if r["气瓶编码"] == town.cylinders["short"]]
    assert "缺斤短两" in short["问题类型"] and "待处置" in short["处置状态"]


def test_unregistered_scans_name_who_scanned(town: Town, client):
    sign_in(client, town.tokens["regulator"])
    sheet = workbook(client, "/risk/export.xlsx", reason="unregistered")
    _, headers, rows = table(sheet)
    assert_no_empty_column(headers, rows)
    (row,) = [r for r in rows if r["扫描到的编码"] == town.cylinders["stranger"]]
    assert row["扫描单位"] == "街角液化气供应站" and row["扫描单位编号"] == town.parties["shop"]
    assert isinstance(row["发现时间"], datetime) and row["发现时间"].microsecond == 0


def test_the_findings_list_as_a_spreadsheet_speaks_chinese(town: Town, client):
    sign_in(client, town.tokens["regulator"])
    sheet = workbook(client, "/findings/export.xlsx")  # the page's default: cases not yet closed
    title, headers, rows = table(sheet)
    assert "问题清单" in title and "处置状态：尚未办结" in title
    assert headers == ["问题编号", "问题类型", "严重程度", "处置状态", "气瓶编码", "责任单位", "责任单位编号", "区县",
                       "行政区划代码", "发现时间", "情况说明", "最近一步", "最近一步时间"]
    assert_laid_out(sheet, headers)
    assert_no_empty_column(headers, rows)
    assert {row["处置状态"] for row in rows} <= {"待处置", "已派发", "已处置"}
    for row in rows:
        if "no event for 41 days" in row["情况说明"]:
            continue  # the finding stored before evidence keeps its English note
        assert not english_words(row["情况说明"], town), row["情况说明"]
    short = [r for r in rows if r["问题类型"] == "缺斤短两"][0]
    assert short["责任单位"] == "街角液化气供应站" and short["责任单位编号"] == town.parties["shop"]
    assert "短少2.5千克" in short["情况说明"] and short["区县"] == "余杭区"


def test_csv_opens_in_excel_with_the_same_columns(town: Town, client):
    sign_in(client, town.tokens["regulator"])
    answer = client.get("/risk/export.csv", params={"reason": "open_findings"})
    assert answer.status_code == 200 and answer.content.startswith(b"\xef\xbb\xbf")  # the BOM Excel looks for
    rows = list(csv.reader(io.StringIO(answer.content.decode("utf-8-sig"))))
    assert rows[0][:3] == ["气瓶编码", "风险类别", "产权单位"] and rows[0][-1] == "处置状态"
    times = [row[rows[0].index("最近记录时间")] for row in rows[1:]]
    assert times and all(re.fullmatch(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}", t) for t in times)
    for column in range(len(rows[0])):
        assert any(row[column] for row in rows[1:]), rows[0][column]
    findings = client.get("/findings/export.csv", params={"status": "all"})
    assert findings.content.startswith(b"\xef\xbb\xbf") and "情况说明" in findings.content.decode("utf-8-sig")


def test_the_api_exports_the_same_files_in_english_on_request(town: Town, client):
    headers = {"Authorization": f"Bearer {town.tokens['regulator']}"}
    answer = client.get("/v1/findings", params={"format": "xlsx", "lang": "en", "kind": "short_weight"}, headers=headers)
    assert answer.status_code == 200, answer.text
    title, columns, rows = table(openpyxl.load_workbook(io.BytesIO(answer.content)).active)
    assert title.startswith("Findings") and "kind: short weight" in title and columns[1] == "Kind"
    assert rows and "kg short" in rows[0]["What was found"] and rows[0]["Responsible party"] == "街角液化气供应站"
    assert client.get("/v1/findings", params={"format": "pdf"}, headers=headers).status_code == 422
