"""The bureau's periodic reports, downloaded from the dashboard (docs/reports.md).

``GET /reports/{day|week|month}.{xlsx|pdf}?region=&at=``: the same overseers as the
dashboard; the same numbers as ``ledger report`` writes.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response

from ledger.errors import InvalidInput
from ledger.reports import build

from ..deps import LedgerDep, ReadConn
from ..export import XLSX
from .dashboard import region_filter
from .render import PageError, PageRoute
from .session import Oversight

router = APIRouter(route_class=PageRoute)
FORMATS = {"xlsx": ("to_xlsx", XLSX), "pdf": ("to_pdf", "application/pdf")}


@router.get("/reports/{name}")
def report(name: str, session: Oversight, connection: ReadConn, ledger: LedgerDep,
           region: Annotated[str | None, Query(max_length=6)] = None,
           at: Annotated[str | None, Query(max_length=10)] = None):
    period, _, suffix = name.partition(".")
    if suffix not in FORMATS:
        raise PageError("error.not_found", 404)
    try:
        made = build(ledger, connection, period, at=at or None, region=region_filter(region))
    except InvalidInput as exc:
        raise PageError("error.bad_request", 422, detail=exc.message) from exc
    from .. import report_files  # it reads the pages' string table: imported once the pages are

    render, media = FORMATS[suffix]
    stem = f"report-{period}-{made.period.first.isoformat()}" + (f"-{region}" if region else "")
    return Response(getattr(report_files, render)(made), media_type=media,
                    headers={"Content-Disposition": f'attachment; filename="{stem}.{suffix}"'})
