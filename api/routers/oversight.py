"""The three questions (trace, responsible), findings and their closed loop."""

from datetime import datetime, timezone
from typing import Annotated, Literal

from fastapi import APIRouter, Path, Query

from ledger.domain import FindingKind
from ledger.errors import PermissionDenied

from .. import sheets
from ..body import JSONRoute
from .. import permissions
from ..deps import Allowed, LedgerDep, ReadConn, WriteConn
from ..errors import problem_responses
from ..schemas import Identifier, Moment, Page, Region
from .risk import FILES, Language
from ..schemas_oversight import FindingActionIn, FindingCounts, FindingOut, FindingStatus, ResponsibleAt, TraceOut
from ..views import cylinder_code

router = APIRouter(route_class=JSONRoute, responses=problem_responses(401, 403, 404, 422))
CylinderId = Annotated[str, Path(min_length=1, max_length=64, description="the trace code, in any spelling")]
FindingId = Annotated[int, Path(ge=1, le=2**31 - 1)]


@router.get("/v1/cylinders/{cylinder_id}/trace", response_model=TraceOut, tags=["cylinders"])
def get_trace(cylinder_id: CylinderId, actor: Allowed("trace.read"), connection: ReadConn, ledger: LedgerDep):
    """Where it came from, every holder with times, who answers for it now, whether its chain is intact, open findings."""
    return ledger.trace(connection, cylinder_code(cylinder_id))


@router.get("/v1/cylinders/{cylinder_id}/responsible", response_model=ResponsibleAt, tags=["cylinders"])
def get_responsible(
    cylinder_id: CylinderId, actor: Allowed("trace.read"), connection: ReadConn, ledger: LedgerDep,
    at: Annotated[Moment | None, Query(description="an RFC 3339 time with offset; default: now")] = None,
):
    """The one party answerable for the cylinder at `at`, and since which event."""
    return ledger.responsible_at(connection, cylinder_code(cylinder_id), at or datetime.now(timezone.utc))


@router.get("/v1/findings", response_model=Page[FindingOut], tags=["findings"], responses=FILES)
def list_findings(
    actor: Allowed("findings.read"), connection: ReadConn, ledger: LedgerDep,
    kind: FindingKind | None = None, status: FindingStatus | None = None,
    cylinder: Annotated[str | None, Query(max_length=64)] = None,
    party: Annotated[Identifier | None, Query()] = None, region: Annotated[Region | None, Query()] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 50, cursor: Annotated[str | None, Query(max_length=200)] = None,
    file_format: Annotated[Literal["json", "csv", "xlsx"], Query(alias="format")] = "json", lang: Language = "zh",
):
    """Findings, newest first. A party's own accounts see the findings about that party only.
    `format=csv|xlsx` exports every finding the filters select as a spreadsheet (docs/regulator.md)."""
    filters = {"kind": kind.value if kind else None, "status": status,
               "cylinder": cylinder_code(cylinder) if cylinder else None,
               "party": permissions.findings_of(actor, party), "region": region}
    if file_format == "json":
        return ledger.findings(connection, **filters, cursor=cursor, limit=limit)
    return sheets.findings_file(ledger, connection, filters, file_format, lang)


# Before ``/v1/findings/{finding_id}``, which would otherwise take ``counts`` for an id.
@router.get("/v1/findings/counts", response_model=FindingCounts, tags=["findings"])
def count_findings(
    actor: Allowed("findings.read"), connection: ReadConn, ledger: LedgerDep,
    kind: FindingKind | None = None, status: FindingStatus | None = None,
    cylinder: Annotated[str | None, Query(max_length=64)] = None,
    party: Annotated[Identifier | None, Query()] = None, region: Annotated[Region | None, Query()] = None,
):
    """How many findings `GET /v1/findings` lists under the same filters, by status, kind and severity,
    without their rows (a dashboard's numbers). A party's own accounts count the findings about that party only."""
    return ledger.finding_counts(connection, kind=kind.value if kind else None, status=status,
                                 cylinder=cylinder_code(cylinder) if cylinder else None,
                                 party=permissions.findings_of(actor, party), region=region)


@router.get("/v1/findings/{finding_id}", response_model=FindingOut, tags=["findings"])
def get_finding(finding_id: FindingId, actor: Allowed("findings.read"), connection: ReadConn, ledger: LedgerDep):
    finding = ledger.finding(connection, finding_id)
    if permissions.findings_of(actor, None) not in (None, finding["party"]):
        raise PermissionDenied("this finding is about another party")
    return finding


@router.post("/v1/findings/{finding_id}/actions", response_model=FindingOut, tags=["findings"],
             responses=problem_responses(400, 409, 413, 415))
def act_on_finding(finding_id: FindingId, body: FindingActionIn, actor: Allowed("findings.act"),
                   connection: WriteConn, ledger: LedgerDep):
    """One step of the closed loop: dispatch (to an inspector), handle, supervise, close, reopen; each needs a note."""
    return ledger.finding_action(connection, actor, finding_id, action=body.action, note=body.note,
                                 assignee=body.assignee)
