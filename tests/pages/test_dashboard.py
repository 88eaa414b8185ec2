"""The regulator's dashboard, the findings chart and the risk lists with their downloads."""

from __future__ import annotations

import csv
import io
import re
from collections import Counter
from datetime import date, timedelta

import openpyxl

from api.pages.chart import nice_ceiling, stacked_bars

from .city import Town
from .conftest import sign_in
from .test_public import visible


def section(html: str, anchor: str) -> str:
    start = html.index(f'id="{anchor}"')
    return html[start:html.index("</section>", start)]


def test_open_findings_by_kind_and_by_district(town: Town, client):
    sign_in(client, town.tokens["regulator"])
    html = client.get("/dashboard").text
    assert "未关闭问题按类型（共 2 件）" in html
    assert re.search(r"交接断档</a><span class=\"n\">2<", section(html, "by-kind"))
    assert re.search(r"余杭区</a> <span class=\"hint mono\">330110</span><span class=\"n\">2<", section(html, "by-region"))
    assert "已自动解除" in section(html, "by-region")


def test_enterprise_colours_with_reasons_in_the_readers_language(town: Town, client):
    sign_in(client, town.tokens["regulator"])
    firms = visible(section(client.get("/dashboard").text, "enterprises"))
    assert "黄 街角液化气供应站" in firms and "1 件未关闭的高级问题" in firms
    assert "绿 顺达危货运输" in firms
    english = visible(section(client.get("/dashboard", params={"lang": "en"}).text, "enterprises"))
    assert "1 open high findings" in english


def test_a_district_narrows_everything(town: Town, client):
    sign_in(client, town.tokens["regulator"])
    html = client.get("/dashboard", params={"region": "330106"}).text
    assert "共 0 件" in html and "河西液化气门店" in html and "街角液化气供应站" not in html
    assert client.get("/dashboard", params={"region": "abc"}).status_code == 422


def test_the_chart_is_inline_svg_with_a_bar_per_day_and_its_numbers(town: Town, client):
    sign_in(client, town.tokens["regulator"])
    html = client.get("/dashboard").text
    svg = html[html.index("<svg"):html.index("</svg>")]
    assert svg.count("<g>") == 30 and 'role="img"' in svg
    totals = [int(n) for n in re.findall(r"<title>\d{4}-\d{2}-\d{2}: (\d+) 件", svg)]
    # two custody jumps; the two handovers a late record explained resolved by themselves and are not counted
    assert sum(totals) == 2 and "共 2 件" in html


def test_chart_geometry():
    assert nice_ceiling(0) == (1, 1) and nice_ceiling(4) == (4, 1) and nice_ceiling(7) == (8, 2)
    assert nice_ceiling(230) == (250, 50)
    days = [date(2026, 5, 1) + timedelta(days=n) for n in range(3)]
    chart = stacked_bars(days, {days[0]: Counter(), days[1]: Counter(high=1, low=3), days[2]: Counter(critical=4)})
    assert [bar.total for bar in chart.bars] == [0, 4, 4] and chart.bars[0].segments == []
    high, low = chart.bars[1].segments  # bottom first
    assert abs(low.height - 3 * high.height) < 0.1  # heights proportional to counts
    assert chart.bars[1].segments[0].severity == "high"  # the most severe at the bottom
    assert abs(sum(s.height for s in chart.bars[2].segments) - (chart.baseline - chart.ticks[-1][0])) < 0.1


def rows_of(html: str) -> list[str]:
    body = html[html.index("<tbody>"):html.index("</tbody>")] if "<tbody>" in html else ""
    return re.findall(r'href="/trace/(\w+)"', body)


def test_risk_lists_filter_by_reason_district_and_owner(town: Town, client):
    sign_in(client, town.tokens["regulator"])
    overdue = rows_of(client.get("/risk").text)
    assert town.cylinders["overdue"] in overdue and town.cylinders["clean"] not in overdue
    old = rows_of(client.get("/risk", params={"reason": "past_design_life"}).text)
    assert old == [town.cylinders["old"]]
    assert rows_of(client.get("/risk", params={"reason": "overdue_inspection", "region": "330106"}).text) == []
    owned = rows_of(client.get("/risk", params={"reason": "overdue_inspection", "owner": town.parties["company"]}).text)
    assert set(owned) == set(overdue)
    assert client.get("/risk", params={"reason": "everything"}).status_code == 422


def test_the_downloads_are_the_whole_list_as_csv_and_xlsx(town: Town, client):
    sign_in(client, town.tokens["inspector"])
    page = client.get("/risk", params={"reason": "past_design_life"}).text
    link = re.search(r'href="(/risk/export\.csv\?[^"]+)"', page).group(1).replace("&amp;", "&")
    answer = client.get(link)
    assert answer.status_code == 200 and answer.headers["content-type"].startswith("text/csv")
    assert "attachment" in answer.headers["content-disposition"]
    table = list(csv.DictReader(io.StringIO(answer.content.decode("utf-8-sig"))))
    assert [row["气瓶编码"] for row in table] == [town.cylinders["old"]]
    xlsx = client.get("/risk/export.xlsx", params={"reason": "overdue_inspection"})
    sheet = openpyxl.load_workbook(io.BytesIO(xlsx.content)).active
    codes = {row[0] for row in sheet.iter_rows(min_row=3, values_only=True)}  # under the title and the header
    assert town.cylinders["overdue"] in codes
    assert client.get("/risk/export.pdf", params={"reason": "vanished"}).status_code in (404, 422)


def test_unregistered_codes_are_a_list_of_scans(town: Town, client):
    from ledger import tracecode
    from ledger.domain import EventKind

    stranger = tracecode.generate()
    town.record("shop", stranger, EventKind.RECEIVE, 1)
    sign_in(client, town.tokens["regulator"])
    html = client.get("/risk", params={"reason": "unregistered"}).text
    assert stranger in html and "扫码单位" in html and "街角液化气供应站" in visible(html)
