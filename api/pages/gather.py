"""What the regulator's pages read from the ledger in bulk: every finding, every party, the regions.

The ledger's lists are paginated; these helpers walk the pages up to a cap so a
dashboard counts a whole city without one query per row.
"""

from __future__ import annotations

from collections import Counter
from datetime import date, timedelta
from typing import Any

from ledger.domain import Party, PartyKind

from .i18n import Translator, local_today

__all__ = ["OPEN", "all_findings", "directory", "regions", "companies", "tallies", "daily"]

OPEN = ("open", "dispatched", "handled")
# What the daily chart counts: findings that were real to somebody (gather.daily).
COUNTED = frozenset({"open", "dispatched", "handled", "closed"})
FINDINGS_CAP = 50_000  # far above a city's open cases; the dashboard says so if it is reached
PARTIES_CAP = 10_000


def all_findings(ledger, connection, *, region: str | None = None) -> tuple[list[dict[str, Any]], bool]:
    """Every finding (newest first), and whether the cap cut the list short."""
    items: list[dict[str, Any]] = []
    cursor = None
    while len(items) < FINDINGS_CAP:
        page = ledger.findings(connection, region=region, cursor=cursor, limit=1000)
        items += page["items"]
        cursor = page["next_cursor"]
        if cursor is None:
            return items, False
    return items, True


def directory(ledger, connection) -> dict[str, Party]:
    """Every party by id, for names and the filters' choices."""
    parties: dict[str, Party] = {}
    after = None
    while len(parties) < PARTIES_CAP:
        page = ledger.parties(connection, after=after, limit=1000)
        parties.update({party.id: party for party in page})
        if len(page) < 1000:
            break
        after = page[-1].id
    return parties


def regions(parties: dict[str, Party]) -> list[str]:
    return sorted({party.region for party in parties.values()})


def companies(parties: dict[str, Party]) -> list[Party]:
    return sorted((p for p in parties.values() if p.kind is PartyKind.GAS_COMPANY), key=lambda p: p.name)


def tallies(findings: list[dict[str, Any]]) -> dict[str, Counter]:
    """Open findings by kind, by district (region code) and by severity; all findings by status."""
    open_ = [f for f in findings if f["status"] in OPEN]
    return {
        "kind": Counter(f["kind"] for f in open_),
        "region": Counter(f["region"] or "—" for f in open_),
        "severity": Counter(f["severity"] for f in open_),
        "status": Counter(f["status"] for f in findings),
    }


def daily(findings: list[dict[str, Any]], t: Translator, days: int = 30) -> tuple[list[date], dict[date, Counter]]:
    """Findings detected per local day by severity, over the ``days`` ending on the latest detection.

    Counted: findings still open (open, dispatched, handled) or closed by people. Not counted:
    those resolved by themselves, which a late record explained (docs/regulator.md)."""
    per_day: dict[date, Counter] = {}
    for finding in findings:
        if finding["status"] not in COUNTED:
            continue
        day = date.fromisoformat(t.day(finding["detected_at"]))
        per_day.setdefault(day, Counter())[finding["severity"]] += 1
    last = max(per_day) if per_day else local_today()
    window = [last - timedelta(days=n) for n in range(days - 1, -1, -1)]
    return window, {day: per_day.get(day, Counter()) for day in window}
