"""Risk lists for regulators: filter by reason, district and owner; page through; download.

The downloads are the API's own export (``GET /v1/risk/cylinders?format=csv|xlsx``,
api/routers/risk.py), called with the page's signed-in account, so a
spreadsheet from the page and one from the API are the same file.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query
from starlette.requests import Request

from ledger.oversight import REASONS

from ..deps import LedgerDep, ReadConn
from ..routers import risk as api_risk
from .dashboard import region_filter
from .gather import companies, directory, regions
from .i18n import language
from .render import PageError, PageRoute, render
from .session import Oversight

router = APIRouter(route_class=PageRoute)
PAGE = 50
# Which facts each list shows; the unregistered list is of scans, not of cylinders.
COLUMNS = ("cylinder", "owner", "region", "model", "serial", "state", "holder", "next_inspection_due",
           "life_ends_on", "last_event_at")
UNREGISTERED_COLUMNS = ("cylinder", "scanned_by", "region", "detected_at", "status", "finding")


def filters(reason: str, region: str | None, owner: str | None) -> dict[str, Any]:
    if reason not in REASONS:
        raise PageError("error.reason", 422)
    if owner and not (owner.isalnum() and len(owner) <= 64):
        raise PageError("error.bad_request", 422)
    return {"reason": reason, "region": region_filter(region), "owner": owner or None}


@router.get("/risk")
def risk_list(request: Request, session: Oversight, connection: ReadConn, ledger: LedgerDep,
              reason: Annotated[str, Query(max_length=40)] = "overdue_inspection",
              region: Annotated[str | None, Query(max_length=6)] = None,
              owner: Annotated[str | None, Query(max_length=64)] = None,
              cursor: Annotated[str | None, Query(max_length=200)] = None):
    chosen = filters(reason, region, owner)
    page = ledger.risk_cylinders(connection, **chosen, cursor=cursor or None, limit=PAGE)
    parties = directory(ledger, connection)
    names = {pid: party.name for pid, party in parties.items()}
    query = {k: v for k, v in chosen.items() if v}
    return render(request, "risk.html", reasons=REASONS, chosen=chosen, region=chosen["region"] or "",
                  regions=regions(parties), owners=companies(parties), items=page["items"],
                  next_cursor=page["next_cursor"], first_page=not cursor, names=names, query=query,
                  columns=UNREGISTERED_COLUMNS if reason == "unregistered" else COLUMNS)


@router.get("/risk/export.{file_format}")
def risk_export(request: Request, session: Oversight, connection: ReadConn, ledger: LedgerDep,
                file_format: Annotated[str, Path(pattern="^(csv|xlsx)$")],
                reason: Annotated[str, Query(max_length=40)] = "overdue_inspection",
                region: Annotated[str | None, Query(max_length=6)] = None,
                owner: Annotated[str | None, Query(max_length=64)] = None):
    """The whole list as a spreadsheet, by the API's export."""
    chosen = filters(reason, region, owner)
    return api_risk.risk_cylinders(actor=session.actor, connection=connection, ledger=ledger,
                                   file_format=file_format, limit=100, cursor=None, lang=language(request), **chosen)
