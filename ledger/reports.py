"""The numbers of a periodic report for the market-supervision bureau (docs/reports.md).

Built once from the ledger's own reads (findings with their steps, risk lists,
enterprise colours) on the caller's connection, then rendered as a workbook and as a
PDF by ``api.report_files``. Days are the local days papers are dated in
(``RulesConfig.local_offset``, China Standard Time).
"""

from __future__ import annotations

import re
from calendar import monthrange
from collections import Counter
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from typing import Any

from .errors import InvalidInput
from .oversight import REASONS
from .storage import Connection

__all__ = ["PERIODS", "COLOUR_ORDER", "Period", "Report", "period", "build", "worsened"]

PERIODS = ("day", "week", "month")
REGION = re.compile(r"\d{6}")
PAGE = 1000
COLOUR_ORDER = {"red": 0, "yellow": 1, "green": 2}


@dataclass(frozen=True)
class Period:
    kind: str
    first: date  # local days, both included
    last: date
    start: datetime  # UTC, start included, end excluded
    end: datetime


@dataclass
class Report:
    period: Period
    region: str | None
    made_at: datetime
    new: Counter = field(default_factory=Counter)  # (kind, region) -> n
    closed: Counter = field(default_factory=Counter)
    overdue: Counter = field(default_factory=Counter)
    colours: Counter = field(default_factory=Counter)  # colour -> enterprises, at the period's end
    colours_before: Counter = field(default_factory=Counter)  # colour -> enterprises, at its start
    enterprises: list[dict[str, Any]] = field(default_factory=list)  # "colour_before": None if registered since
    changes: list[dict[str, Any]] = field(default_factory=list)  # the enterprises whose colour changed
    risk: dict[str, int] = field(default_factory=dict)  # reason -> cylinders on the list now

    def kinds(self) -> list[str]:
        return sorted({k for c in (self.new, self.closed, self.overdue) for k, _ in c})

    def regions(self) -> list[str]:
        return sorted({r for c in (self.new, self.closed, self.overdue) for _, r in c})

    def by(self, counter: Counter, *, kind: str | None = None, region: str | None = None) -> int:
        return sum(n for (k, r), n in counter.items() if kind in (None, k) and region in (None, r))


def period(kind: str, at: date | str | None, offset: timedelta, now: datetime | None = None) -> Period:
    """The day, the Monday-to-Sunday week or the calendar month holding local day ``at``;
    without ``at``, the last such period that has ended."""
    if kind not in PERIODS:
        raise InvalidInput(f"period must be one of {', '.join(PERIODS)}, not {kind!r}", field="period")
    if isinstance(at, str):
        try:
            at = date.fromisoformat(at)
        except ValueError:
            raise InvalidInput(f"--at must be a date like 2026-12-05, not {at!r}", field="at") from None
    today = ((now or datetime.now(timezone.utc)) + offset).date()
    if at is None:
        at = today - timedelta(days=1) if kind == "day" else (
            today - timedelta(days=today.weekday() + 1) if kind == "week" else today.replace(day=1) - timedelta(days=1))
    if at > today:
        raise InvalidInput(f"--at {at.isoformat()} is in the future (today is {today.isoformat()})", field="at")
    if kind == "day":
        first = last = at
    elif kind == "week":
        first = at - timedelta(days=at.weekday())
        last = first + timedelta(days=6)
    else:
        first, last = at.replace(day=1), at.replace(day=monthrange(at.year, at.month)[1])
    start = datetime.combine(first, datetime.min.time(), timezone.utc) - offset
    return Period(kind, first, last, start, start + timedelta(days=(last - first).days + 1))


def check_region(region: str | None) -> str | None:
    if region is not None and not REGION.fullmatch(region):
        raise InvalidInput(f"region must be a 6-digit administrative code, not {region!r}", field="region")
    return region


def worsened(enterprise: dict[str, Any]) -> bool | None:
    """True if its colour went towards red over the period, False if towards green, None if unchanged or new."""
    then = enterprise.get("colour_before")
    if then is None or then == enterprise["colour"]:
        return None
    return COLOUR_ORDER[enterprise["colour"]] < COLOUR_ORDER[then]


def _time(value: str | None) -> datetime | None:
    if not value:
        return None
    moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def _findings(ledger, connection: Connection, region: str | None) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    cursor = None
    while True:
        page = ledger.findings(connection, region=region, cursor=cursor, limit=PAGE)
        items += page["items"]
        if (cursor := page["next_cursor"]) is None:
            return items


def _overdue_within(finding: dict[str, Any], p: Period) -> bool:
    """Its deadline fell within the period and nobody had handled or closed it by then."""
    due = _time(finding.get("due_at"))
    if due is None or not p.start <= due < p.end:
        return False
    return not any(step["action"] in ("handle", "close") and _time(step["at"]) <= due for step in finding["history"])


def _risk_size(ledger, connection: Connection, reason: str, region: str | None) -> int:
    n, cursor = 0, None
    while True:
        page = ledger.risk_cylinders(connection, reason=reason, region=region, cursor=cursor, limit=PAGE)
        n += len(page["items"])
        if (cursor := page["next_cursor"]) is None:
            return n


def build(ledger, connection: Connection, kind: str, *, at: date | str | None = None, region: str | None = None,
          now: datetime | None = None) -> Report:
    """Every number of the report for period ``kind`` holding ``at`` in ``region`` (None: the whole city)."""
    now = now or datetime.now(timezone.utc)
    p = period(kind, at, ledger.rules_config.local_offset, now)
    report = Report(p, check_region(region), now)
    opened_by: Counter = Counter()
    closed_by: Counter = Counter()
    for f in _findings(ledger, connection, region):
        key = (f["kind"], f["region"] or "")
        if p.start <= _time(f["detected_at"]) < p.end:
            report.new[key] += 1
            opened_by[f["party"]] += 1
        if any(step["action"] == "close" and p.start <= _time(step["at"]) < p.end for step in f["history"]):
            report.closed[key] += 1
            closed_by[f["party"]] += 1
        if _overdue_within(f, p):
            report.overdue[key] += 1
    # Colours as they stood when the period began and when it ended (or now, for one still running),
    # from the statuses findings had then (docs/reports.md "Colours in the past").
    today = min(p.last, (now + ledger.rules_config.local_offset).date())
    before = {e["party"]["id"]: e for e in ledger.risk_enterprises(connection, region=region, today=p.first,
                                                                     before=p.start)}
    for e in ledger.risk_enterprises(connection, region=region, today=today, before=min(p.end, now)):
        then = before.get(e["party"]["id"])
        if then is not None:
            report.colours_before[then["colour"]] += 1
        report.colours[e["colour"]] += 1
        report.enterprises.append({**e, "colour_before": then["colour"] if then else None,
                                   "score_before": then["score"] if then else None,
                                   "opened": opened_by[e["party"]["id"]], "closed": closed_by[e["party"]["id"]]})
    report.enterprises.sort(key=lambda e: (COLOUR_ORDER.get(e["colour"], 3), -e["score"], e["party"]["name"] or ""))
    report.changes = sorted(
        (e for e in report.enterprises if e["colour_before"] not in (None, e["colour"])),
        key=lambda e: (worsened(e) is False, COLOUR_ORDER[e["colour"]], e["party"]["name"] or ""))
    report.risk = {reason: _risk_size(ledger, connection, reason, region) for reason in REASONS}
    return report
