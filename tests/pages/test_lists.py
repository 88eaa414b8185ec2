"""The regulator's lists show what matters: districts by name, cases still to act on, a chart that says what it counts."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest

from tests.conftest import BACKENDS

from .city import Town, populate
from .conftest import close_ledger, open_ledger, sign_in
from .stories import add_stories
from .test_public import visible


@pytest.fixture(scope="module", params=BACKENDS)
def town(request, tmp_path_factory) -> Iterator[Town]:
    ledger, url = open_ledger(request.param, tmp_path_factory.mktemp("lists"))
    try:
        yield add_stories(populate(ledger))
    finally:
        close_ledger(ledger, request.param, url)


def every_finding(town: Town) -> list[dict]:
    with town.ledger.db.reading() as c:
        return town.ledger.findings(c, limit=500)["items"]


def listed(html: str) -> set[int]:
    body = html[html.index("<tbody>"):html.index("</tbody>")] if "<tbody>" in html else ""
    return {int(n) for n in re.findall(r'<td><a href="/findings/(\d+)">#', body)}


def test_districts_are_shown_by_name(town: Town, client):
    sign_in(client, town.tokens["regulator"])
    dashboard = visible(client.get("/dashboard").text)
    assert "余杭区 330110" in dashboard  # the tally: the name, its code beside it
    findings = client.get("/findings").text
    assert '<option value="330110">余杭区（330110）</option>' in findings
    assert '<option value="330106">西湖区（330106）</option>' in findings
    assert '<span title="330110">余杭区</span>' in findings
    risk = client.get("/risk", params={"reason": "overdue_inspection"}).text
    assert '<span title="330110">余杭区</span>' in risk
    case = next(f for f in every_finding(town) if f["region"] == "330110")
    assert "余杭区 330110" in visible(client.get(f"/findings/{case['id']}").text)
    assert "· 西湖区" in visible(client.get("/dashboard", params={"region": "330106"}).text)


def test_the_case_list_opens_on_cases_still_to_act_on(town: Town, client):
    sign_in(client, town.tokens["regulator"])
    findings = every_finding(town)
    active = {f["id"] for f in findings if f["status"] in ("open", "dispatched", "handled")}
    resolved = {f["id"] for f in findings if f["status"] == "resolved"}
    assert active and resolved  # the stories leave both (a late record explained a handover)
    html = client.get("/findings").text
    assert listed(html) == active
    assert '<option value="active" selected>' in html and "尚未办结" in visible(html)
    link = re.search(r'id="show-resolved" href="([^"]+)"', html).group(1).replace("&amp;", "&")
    assert listed(client.get(link).text) == resolved  # one click away
    assert listed(client.get("/findings", params={"status": "all"}).text) == {f["id"] for f in findings}
    assert client.get("/findings", params={"status": "nonsense"}).status_code == 422


def test_the_chart_counts_what_people_act_on_and_says_so(town: Town, client):
    sign_in(client, town.tokens["regulator"])
    findings = every_finding(town)
    counted = [f for f in findings if f["status"] != "resolved"]
    assert len(counted) < len(findings)
    html = client.get("/dashboard").text
    svg = html[html.index("<svg"):html.index("</svg>")]
    totals = [int(n) for n in re.findall(r"<title>\d{4}-\d{2}-\d{2}: (\d+) 件", svg)]
    assert sum(totals) == len(counted)
    assert "计入尚未办结和经人工办结的问题" in visible(html) and "已自动解除的问题不计入" in visible(html)
    english = visible(client.get("/dashboard?lang=en").text)
    assert "counting findings still open or closed by people" in english
