"""The regulator's dashboard: open findings by kind and district, enterprise colours, findings over time.

Overseers only (admin, regulator, inspector: the roles the API lets read risk
lists); an optional ``region`` narrows everything to one district.
"""

from __future__ import annotations

import re
from typing import Annotated

from fastapi import APIRouter, Query
from starlette.requests import Request

from ..deps import LedgerDep, ReadConn
from .chart import stacked_bars
from .gather import all_findings, daily, directory, regions, tallies
from .i18n import Translator, language
from .render import PageError, PageRoute, render
from .session import Oversight

router = APIRouter(route_class=PageRoute)
REGION = re.compile(r"\d{6}")
COLOUR_ORDER = {"red": 0, "yellow": 1, "green": 2}
# Severity colours of the chart's bars, matching the page's badges.
COLOURS = {"critical": "#b3261e", "high": "#e08a00", "medium": "#5b6fd6", "low": "#7fb08f"}


_REASONS = ((re.compile(r"(\d+) open (critical|high|medium|low) findings?"), "dash.reason_open"),
            (re.compile(r"licence expired on (\d{4}-\d{2}-\d{2})"), "dash.reason_expired"),
            (re.compile(r"no licence on file"), "dash.reason_no_licence"))


def enterprise_reason(text: str, t: Translator) -> str:
    """A reason of ``Ledger.risk_enterprises`` in the reader's language (as given, if it is new)."""
    for pattern, key in _REASONS:
        match = pattern.fullmatch(text)
        if match and key == "dash.reason_open":
            return t(key, n=match[1], severity=t.term("severity", match[2]))
        if match:
            return t(key, day=match[1]) if match.groups() else t(key)
    return text


def region_filter(region: str | None) -> str | None:
    if not region:
        return None
    if not REGION.fullmatch(region):
        raise PageError("error.region", 422)
    return region


@router.get("/dashboard")
def dashboard(request: Request, session: Oversight, connection: ReadConn, ledger: LedgerDep,
              region: Annotated[str | None, Query(max_length=6)] = None):
    region = region_filter(region)
    t = Translator(language(request))
    findings, capped = all_findings(ledger, connection, region=region)
    counts = tallies(findings)
    days, per_day = daily(findings, t)
    enterprises = sorted(ledger.risk_enterprises(connection, region=region),
                         key=lambda e: (COLOUR_ORDER.get(e["colour"], 3), -e["score"], e["party"]["name"]))
    for enterprise in enterprises:
        enterprise["reasons"] = [enterprise_reason(reason, t) for reason in enterprise["reasons"]]
    colours = {colour: sum(1 for e in enterprises if e["colour"] == colour) for colour in COLOUR_ORDER}
    return render(request, "dashboard.html", region=region or "", regions=regions(directory(ledger, connection)),
                  counts=counts, open_total=sum(counts["kind"].values()), capped=capped,
                  chart=stacked_bars(days, per_day), colours=COLOURS, enterprises=enterprises,
                  colour_counts=colours)
