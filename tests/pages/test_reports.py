"""The bureau's periodic report: written by `ledger report` as a real process, downloaded from the
dashboard, opened with openpyxl and pypdf, its counts held to what GET /v1/findings lists. Both databases."""

from __future__ import annotations

import io
import os
import subprocess
import sys
import zipfile
from collections import Counter
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path

import openpyxl
import pytest
from fastapi.testclient import TestClient
from pypdf import PdfReader

from api.app import create_app
from tests.conftest import BACKENDS

from .city import Town, populate
from .conftest import close_ledger, open_ledger, sign_in
from .stories import add_stories

CST = timezone(timedelta(hours=8))
KINDS = {"short_weight": "缺斤短两", "vanished": "失联气瓶", "unregistered_code": "未登记气瓶（黑气瓶）"}


@pytest.fixture(scope="module", params=BACKENDS)
def city(request, tmp_path_factory) -> Iterator[tuple[Town, str, Path]]:
    folder = tmp_path_factory.mktemp("reports")
    ledger, url = open_ledger(request.param, folder)
    try:
        yield add_stories(populate(ledger)), url, folder
    finally:
        close_ledger(ledger, request.param, url)


def run(city, *args: str) -> subprocess.CompletedProcess:
    _, url, folder = city
    env = {"LEDGER_KEY_FILE": str(folder / "log.key"), "LEDGER_LABEL_KEY_FILE": str(folder / "label.key"),
           "PATH": "/usr/bin:/bin", "PYTHONPATH": os.getcwd()}
    return subprocess.run([sys.executable, "-m", "tools.cli", "report", *args, "--db", url],
                          env=env, capture_output=True, text=True, timeout=120)


def listed(client: TestClient, token: str, region: str | None) -> list[dict]:
    """Every finding GET /v1/findings lists for ``region``."""
    items, cursor = [], None
    while True:
        params = {"limit": 1000, **({"region": region} if region else {}), **({"cursor": cursor} if cursor else {})}
        page = client.get("/v1/findings", params=params, headers={"Authorization": f"Bearer {token}"}).json()
        items += page["items"]
        if (cursor := page["next_cursor"]) is None:
            return items


def moment(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def rows(sheet) -> list[tuple]:
    return [r for r in sheet.iter_rows(min_row=3, values_only=True) if r[0] is not None]


@pytest.mark.slow
@pytest.mark.parametrize("region", [None, "330110"])
def test_the_cli_writes_both_files_whose_counts_match_the_findings_api(city, tmp_path, region) -> None:
    town = city[0]
    with TestClient(create_app(ledger=town.ledger)) as client:
        found = listed(client, town.tokens["regulator"], region)
    assert found, "the town has findings"
    day = max(moment(f["detected_at"]) for f in found).astimezone(CST).date()
    first, last = day.replace(day=1), (day.replace(day=28) + timedelta(days=4)).replace(day=1)
    start = datetime(first.year, first.month, 1, tzinfo=CST)
    end = datetime(last.year, last.month, 1, tzinfo=CST)
    new = Counter(f["kind"] for f in found if start <= moment(f["detected_at"]) < end)
    closed = Counter(f["kind"] for f in found
                     if any(s["action"] == "close" and start <= moment(s["at"]) < end for s in f["history"]))
    overdue = Counter(f["kind"] for f in found if f["due_at"] and start <= moment(f["due_at"]) < end and not any(
        s["action"] in ("handle", "close") and moment(s["at"]) <= moment(f["due_at"]) for s in f["history"]))
    by_region = Counter(f["region"] for f in found if start <= moment(f["detected_at"]) < end)

    done = run(city, "--period", "month", "--at", day.isoformat(), "--out", str(tmp_path),
               *(["--region", region] if region else []))
    assert done.returncode == 0, done.stderr
    written = sorted(tmp_path.iterdir())
    assert [p.suffix for p in written] == [".pdf", ".xlsx"]
    xlsx = next(p for p in written if p.suffix == ".xlsx")

    book = openpyxl.load_workbook(xlsx)
    kinds = book["按问题类型"]
    assert "月报" in kinds["A1"].value and first.isoformat() in kinds["A1"].value
    assert [c.value for c in kinds[2]][:4] == ["问题类型", "新增", "关闭", "超期"]
    assert kinds.freeze_panes == "A3"
    from api.pages.i18n import Translator
    t = Translator("zh")
    got = {r[0]: (r[1], r[2], r[3]) for r in rows(kinds)}
    expected = {t.term("finding", k): (new[k], closed[k], overdue[k]) for k in set(new) | set(closed) | set(overdue)}
    assert {k: v for k, v in got.items() if k != "合计"} == expected
    assert got["合计"] == (sum(new.values()), sum(closed.values()), sum(overdue.values())) and sum(new.values()) > 0
    districts = {r[1]: r for r in rows(book["按区县"])}
    assert districts["330110"][0] == "余杭区" and districts["330110"][2] == by_region["330110"]
    assert {code: row[2] for code, row in districts.items() if code} == dict(by_region)
    assert [c.value for c in book["风险清单"][2]] == ["风险类别", "气瓶数"]
    assert {r[0] for r in rows(book["企业风险等级"])} == {"红", "黄", "绿"}
    with zipfile.ZipFile(xlsx) as z:  # openpyxl drops charts on reading: look for Excel's own chart parts
        assert any(n.startswith("xl/charts/chart") for n in z.namelist())

    pdf = next(p for p in written if p.suffix == ".pdf").read_bytes()
    assert pdf.startswith(b"%PDF")
    reader = PdfReader(io.BytesIO(pdf))
    fonts = [f.get_object() for page in reader.pages for f in page["/Resources"]["/Font"].values()]
    embedded = [f for f in fonts if "/FontDescriptor" in f and "/FontFile2" in f["/FontDescriptor"].get_object()]
    assert embedded, "a CJK TrueType font is embedded (a subset, as reportlab writes it)"
    text = "".join(page.extract_text() for page in reader.pages)
    assert "气瓶安全监管月报" in text and "余杭区" in text and "按区县" in text


@pytest.mark.parametrize("args, message", [
    (["--period", "year"], "period must be one of day, week, month"),
    (["--period", "day", "--at", "2026-13-01"], "--at must be a date"),
    (["--period", "day", "--at", "2999-01-01"], "is in the future"),
    (["--period", "week", "--region", "hangzhou"], "6-digit"),
])
def test_bad_input_exits_2_and_writes_nothing(city, tmp_path, args, message) -> None:
    out = tmp_path / "out"
    done = run(city, *args, "--out", str(out))
    assert done.returncode == 2, done.stdout + done.stderr
    assert message in " ".join(done.stderr.split())
    assert not out.exists()


def test_the_dashboard_offers_the_reports_to_regulators_only(city) -> None:
    town = city[0]
    with TestClient(create_app(ledger=town.ledger), follow_redirects=False) as client:
        sign_in(client, town.tokens["regulator"])
        page = client.get("/dashboard?region=330110").text
        assert 'href="/reports/week.pdf?region=330110"' in page
        xlsx = client.get("/reports/week.xlsx", params={"region": "330110"})
        assert xlsx.status_code == 200 and xlsx.content.startswith(b"PK")
        assert "按区县" in openpyxl.load_workbook(io.BytesIO(xlsx.content)).sheetnames
        pdf = client.get("/reports/month.pdf")
        assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")
        assert pdf.headers["content-type"] == "application/pdf"
        assert client.get("/reports/year.pdf").status_code == 422
        assert client.get("/reports/day.docx").status_code == 404
    with TestClient(create_app(ledger=town.ledger), follow_redirects=False) as client:
        sign_in(client, town.tokens["shop"])
        assert client.get("/reports/week.xlsx").status_code == 403
