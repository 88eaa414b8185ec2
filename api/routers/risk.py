"""Risk lists for regulators and inspectors: cylinders by reason (JSON, CSV or XLSX) and enterprise colours."""

from typing import Annotated, Literal

from fastapi import APIRouter, Query, Response

from ..body import JSONRoute
from ..deps import Allowed, LedgerDep, ReadConn
from ..errors import problem_responses
from ..export import CSV, XLSX, to_csv, to_xlsx
from ..schemas import Identifier, Page, Region
from ..schemas_oversight import RiskCylinder, RiskEnterprise, RiskReason

router = APIRouter(route_class=JSONRoute, tags=["risk"], responses=problem_responses(401, 403, 422))
EXPORT_LIMIT = 100_000  # rows in one spreadsheet; a city's worst list fits many times over
COLUMNS = ("cylinder", "reason", "owner", "region", "model", "serial", "state", "holder", "next_inspection_due",
           "life_ends_on", "last_event_at", "scanned_by", "detected_at", "finding", "status")
FILES = {200: {"content": {CSV: {"schema": {"type": "string"}},
                           XLSX: {"schema": {"type": "string", "format": "binary"}}}}}


@router.get("/v1/risk/cylinders", response_model=Page[RiskCylinder], response_model_exclude_unset=True, responses=FILES)
def risk_cylinders(
    actor: Allowed("risk.read"), connection: ReadConn, ledger: LedgerDep, reason: RiskReason,
    region: Annotated[Region | None, Query()] = None, owner: Annotated[Identifier | None, Query()] = None,
    file_format: Annotated[Literal["json", "csv", "xlsx"], Query(alias="format")] = "json",
    limit: Annotated[int, Query(ge=1, le=1000)] = 100, cursor: Annotated[str | None, Query(max_length=200)] = None,
):
    """Cylinders on one risk list; `format=csv|xlsx` exports the whole list as a spreadsheet."""
    if file_format == "json":
        return ledger.risk_cylinders(connection, reason=reason, region=region, owner=owner, cursor=cursor, limit=limit)
    rows: list[dict] = []
    while len(rows) < EXPORT_LIMIT:
        page = ledger.risk_cylinders(connection, reason=reason, region=region, owner=owner, cursor=cursor, limit=1000)
        rows += page["items"]
        if (cursor := page["next_cursor"]) is None:
            break
    name = f"risk-{reason}" + (f"-{region}" if region else "")
    if file_format == "csv":
        content, media = to_csv(rows, COLUMNS), CSV
    else:
        content, media = to_xlsx(rows, COLUMNS, reason), XLSX
    return Response(content, media_type=media,
                    headers={"Content-Disposition": f'attachment; filename="{name}.{file_format}"'})


@router.get("/v1/risk/enterprises", response_model=list[RiskEnterprise])
def risk_enterprises(actor: Allowed("risk.read"), connection: ReadConn, ledger: LedgerDep,
                     region: Annotated[Region | None, Query()] = None):
    """Each enterprise's colour, score and reasons (docs/custody.md gives the formula)."""
    return ledger.risk_enterprises(connection, region=region)
