"""Enterprise colours in the past, from the statuses findings had then, and a periodic report that lists
each enterprise's colour at the period's start and end and the enterprises whose colour changed
(docs/reports.md "Colours in the past"). Both databases."""

from __future__ import annotations

import io
import uuid
from datetime import datetime, timedelta, timezone

import openpyxl
from pypdf import PdfReader

from api.report_files import to_pdf, to_xlsx
from ledger import reports, tracecode
from ledger.domain import EventKind, NewEvent, Role
from ledger.service import Actor
from tests.conftest import NOW, build_town

REGULATOR = Actor(Role.REGULATOR, None, "Officer Zhao")
CST = timezone(timedelta(hours=8))
# The week of Monday 11 May 2026 in China Standard Time; the town's parties were registered on 1 May.
WEEK_START = datetime(2026, 5, 11, tzinfo=CST)
WEEK_END = datetime(2026, 5, 18, tzinfo=CST)


def _scan_unknown_code(ledger, party: str, role: Role, at: datetime) -> int:
    """``party`` scans a code the platform never issued (黑气瓶): a critical finding about it, detected at ``at``."""
    code = tracecode.generate()
    with ledger.db.writing() as c:
        ledger.record_batch(c, Actor(role, party, "staff"),
                            [NewEvent(code, EventKind.RECEIVE, at - timedelta(minutes=5), party, str(uuid.uuid4()))],
                            now=at)
    with ledger.db.reading() as c:
        (finding,) = ledger.findings(c, cylinder=code)["items"]
    assert finding["severity"] == "critical" and finding["party"] == party
    return finding["id"]


def _act(ledger, finding: int, action: str, at: datetime) -> None:
    with ledger.db.writing() as c:
        ledger.finding_action(c, REGULATOR, finding, action=action, note=f"{action} after inspection", now=at)


def _colours(ledger, before: datetime) -> dict[str, str]:
    with ledger.db.reading() as c:
        return {e["party"]["id"]: e["colour"] for e in ledger.risk_enterprises(c, before=before)}


def _city(ledger):
    """The shop turns red within the week; the transporter, red since before it, turns green within it;
    the gas company is green throughout, red only after the week has ended."""
    town = build_town(ledger)
    assert NOW < WEEK_START
    _scan_unknown_code(ledger, town.shop, Role.SHOP, WEEK_START + timedelta(days=2))
    old = _scan_unknown_code(ledger, town.transporter, Role.TRANSPORTER, WEEK_START - timedelta(days=3))
    _act(ledger, old, "close", WEEK_START + timedelta(days=1))
    _scan_unknown_code(ledger, town.station, Role.COMPANY, WEEK_END + timedelta(days=2))
    return town


def test_a_colour_in_the_past_follows_the_statuses_findings_had_then(ledger):
    town = build_town(ledger)
    finding = _scan_unknown_code(ledger, town.shop, Role.SHOP, NOW + timedelta(days=2))
    _act(ledger, finding, "close", NOW + timedelta(days=4))
    _act(ledger, finding, "reopen", NOW + timedelta(days=6))
    # Days after NOW: detected on day 2, closed on day 4, reopened on day 6; each step counts from its moment on.
    expected = [(1, "green"), (2, "green"), (3, "red"), (4, "red"), (5, "green"), (6, "green"), (7, "red")]
    assert [(d, _colours(ledger, NOW + timedelta(days=d))[town.shop]) for d, _ in expected] == expected
    # Just before the detection it was green; a registered party did not exist before it was registered.
    assert _colours(ledger, NOW + timedelta(days=2))[town.shop] == "green"
    assert town.shop not in _colours(ledger, NOW - timedelta(seconds=1))
    with ledger.db.reading() as c:  # today, the dashboard's colour, from the current statuses
        now = {e["party"]["id"]: e["colour"] for e in ledger.risk_enterprises(c)}
    assert now == _colours(ledger, datetime.now(timezone.utc) + timedelta(days=1)) and now[town.shop] == "red"


def test_the_week_report_lists_who_went_green_to_red_and_red_to_green(ledger):
    town = _city(ledger)
    with ledger.db.reading() as c:
        report = reports.build(ledger, c, "week", at="2026-05-13", now=datetime(2026, 6, 1, tzinfo=timezone.utc))
    assert report.period.start == WEEK_START and report.period.end == WEEK_END
    by_id = {e["party"]["id"]: e for e in report.enterprises}
    assert (by_id[town.shop]["colour_before"], by_id[town.shop]["colour"]) == ("green", "red")
    assert (by_id[town.transporter]["colour_before"], by_id[town.transporter]["colour"]) == ("red", "green")
    assert (by_id[town.station]["colour_before"], by_id[town.station]["colour"]) == ("green", "green")
    assert [e["party"]["id"] for e in report.changes] == [town.shop, town.transporter]  # worse first
    assert report.colours_before["red"] == 1 and report.colours["red"] == 1

    names = {town.shop: "Corner Gas", town.transporter: "Fast Haul", town.station: "Station 1"}
    book = openpyxl.load_workbook(io.BytesIO(to_xlsx(report)))
    changes = book["风险等级变化"]
    assert [c.value for c in changes[2]] == ["企业名称", "企业编号", "区县", "期初风险等级", "期末风险等级", "风险变化"]
    rows = [r for r in changes.iter_rows(min_row=3, values_only=True) if r[0] is not None]
    assert rows == [("Corner Gas", town.shop, "余杭区", "绿", "红", "上升"),
                    ("Fast Haul", town.transporter, "余杭区", "红", "绿", "下降")]
    firms = book["企业明细"]
    header = [c.value for c in firms[2]]
    detail = {r[1]: dict(zip(header, r)) for r in firms.iter_rows(min_row=3, values_only=True) if r[0] is not None}
    assert (detail[town.station]["期初风险等级"], detail[town.station]["期末风险等级"]) == ("绿", "绿")
    assert (detail[town.shop]["期初风险等级"], detail[town.shop]["期末风险等级"]) == ("绿", "红")
    counts = {r[0]: r[1:] for r in book["企业风险等级"].iter_rows(min_row=3, values_only=True) if r[0] is not None}
    assert [c.value for c in book["企业风险等级"][2]] == ["风险等级", "期初企业数", "期末企业数"]
    assert counts["红"] == (1, 1) and sum(n for n, _ in counts.values()) == len(report.enterprises)

    text = "".join(page.extract_text() for page in PdfReader(io.BytesIO(to_pdf(report))).pages)
    section = text[text.index("风险等级变化"):text.index("企业明细")]
    cells = [line.strip() for line in section.splitlines() if line.strip()]  # a table row's cells, in order
    assert _run(cells, ["Corner Gas", town.shop, "余杭区", "绿", "红", "上升"]), section
    assert _run(cells, ["Fast Haul", town.transporter, "余杭区", "红", "绿", "下降"]), section
    assert names[town.station] not in section and names[town.shop] in section


def _run(cells: list[str], row: list[str]) -> bool:
    return any(cells[i:i + len(row)] == row for i in range(len(cells)))


def test_a_report_over_a_quiet_period_says_no_colour_changed(ledger):
    _city(ledger)
    with ledger.db.reading() as c:
        report = reports.build(ledger, c, "day", at="2026-05-05", now=datetime(2026, 6, 1, tzinfo=timezone.utc))
    assert report.changes == [] and report.colours_before == report.colours
    text = "".join(page.extract_text() for page in PdfReader(io.BytesIO(to_pdf(report))).pages)
    assert "本期没有企业的风险等级发生变化" in text
