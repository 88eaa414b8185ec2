"""Risk lists for regulators and inspectors: cylinders by reason (JSON, CSV or XLSX) and enterprise colours."""

from typing import Annotated, Literal

from fastapi import APIRouter, Query

from ..body import JSONRoute
from ..deps import Allowed, LedgerDep, ReadConn
from ..errors import problem_responses
from .. import sheets
from ..export import CSV, XLSX
from ..pages.i18n import Translator
from ..schemas import Identifier, Page, Region
from ..schemas_oversight import RiskCylinder, RiskEnterprise, RiskReason

router = APIRouter(route_class=JSONRoute, tags=["risk"], responses=problem_responses(401, 403, 422))
EXPORT_LIMIT = 100_000  # rows in one spreadsheet; a city's worst list fits many times over
Language = Annotated[Literal["zh", "en"], Query(description="the spreadsheet's language (headers, states, kinds)")]
FILES = {200: {"content": {CSV: {"schema": {"type": "string"}},
                           XLSX: {"schema": {"type": "string", "format": "binary"}}}}}


@router.get("/v1/risk/cylinders", response_model=Page[RiskCylinder], response_model_exclude_unset=True, responses=FILES)
def risk_cylinders(
    actor: Allowed("risk.read"), connection: ReadConn, ledger: LedgerDep, reason: RiskReason,
    region: Annotated[Region | None, Query()] = None, owner: Annotated[Identifier | None, Query()] = None,
    file_format: Annotated[Literal["json", "csv", "xlsx"], Query(alias="format")] = "json",
    limit: Annotated[int, Query(ge=1, le=1000)] = 100, cursor: Annotated[str | None, Query(max_length=200)] = None,
    lang: Language = "zh",
):
    """Cylinders on one risk list; `format=csv|xlsx` exports the whole list as a spreadsheet
    (Chinese headers and names; `lang=en` for English; docs/regulator.md)."""
    if file_format == "json":
        return ledger.risk_cylinders(connection, reason=reason, region=region, owner=owner, cursor=cursor, limit=limit)
    rows: list[dict] = []
    while len(rows) < EXPORT_LIMIT:
        page = ledger.risk_cylinders(connection, reason=reason, region=region, owner=owner, cursor=cursor, limit=1000)
        rows += page["items"]
        if (cursor := page["next_cursor"]) is None:
            break
    t = Translator(lang)
    table = sheets.risk_rows(ledger, connection, rows, reason, t)
    columns = (sheets.UNREGISTERED if reason == "unregistered" else
               sheets.RISK_FOUND if reason in sheets.FOUND_KINDS else sheets.RISK)
    heading = sheets.title(t, t("sheet.risk", reason=t.term("reason", reason)), {"region": region, "owner": owner},
                           sheets.party_names(ledger, connection))
    return sheets.sheet_file(table, columns, file_format=file_format, sheet=t.term("reason", reason), heading=heading,
                             name=f"risk-{reason}" + (f"-{region}" if region else ""), lang=lang)


@router.get("/v1/risk/enterprises", response_model=list[RiskEnterprise])
def risk_enterprises(actor: Allowed("risk.read"), connection: ReadConn, ledger: LedgerDep,
                     region: Annotated[Region | None, Query()] = None):
    """Each enterprise's colour, score and reasons (docs/custody.md gives the formula)."""
    return ledger.risk_enterprises(connection, region=region)
