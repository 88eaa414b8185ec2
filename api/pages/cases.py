"""Findings and their closed loop (流转、处置、督办、反馈): the list, a case's page, its forms.

Each form is one step of ``Ledger.finding_action``; the page offers only the
steps the case's status and the reader's role allow (``OFFERS``, the loop of
ledger/oversight.py), and the ledger checks them again.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, File, Form, Path, Query, UploadFile
from fastapi.responses import RedirectResponse, Response
from starlette.requests import Request

from ledger import cases as case_rules
from ledger.domain import FindingKind, Role
from ledger.errors import LedgerError, NotFound
from ledger.service.citizen import may_read_reports
from ledger.wire import event_json

from ..deps import LedgerDep, ReadConn, WriteConn
from .. import sheets
from ..errors import status_of
from .dashboard import region_filter
from .gather import directory, regions
from .i18n import language
from .render import PageError, PageRoute, render
from .roles import REPORTERS
from .session import Oversight, Session, check_form

router = APIRouter(route_class=PageRoute)
FindingId = Annotated[int, Path(ge=1, le=2**53)]
STATUSES = ("open", "dispatched", "handled", "closed", "resolved")
# The list's default: cases people still have to act on. "all" lifts the filter.
ACTIVE = ("open", "dispatched", "handled")


def status_filter(status: str | None) -> tuple[str, Any]:
    """The status chosen on the list (``active`` when none), and what the ledger filters by."""
    chosen = status or "active"
    if chosen == "active":
        return chosen, ACTIVE
    if chosen == "all":
        return chosen, None
    return chosen, _choice(chosen, STATUSES)
PAGE = 50
_REGULATORS = frozenset({Role.REGULATOR, Role.ADMIN})
# action -> (statuses it starts from, roles that may take it)
OFFERS: dict[str, tuple[frozenset[str], frozenset[Role]]] = {
    "dispatch": (frozenset({"open", "dispatched", "handled"}), _REGULATORS),
    "handle": (frozenset({"dispatched"}), _REGULATORS | {Role.INSPECTOR}),
    "supervise": (frozenset({"open", "dispatched", "handled"}), _REGULATORS),
    "close": (frozenset({"open", "dispatched", "handled", "resolved"}), _REGULATORS),
    "reopen": (frozenset({"closed", "resolved"}), _REGULATORS),
}


def offered(finding: dict[str, Any], session: Session) -> list[str]:
    """The steps this reader may take on this case; an inspector handles only a case sent to them."""
    return [action for action, (starts, roles) in OFFERS.items()
            if finding["status"] in starts and session.can(roles)
            and not (action == "handle" and session.actor.role is Role.INSPECTOR
                     and finding["assignee"] != str(session.actor.account))]


def _choice(value: str | None, allowed) -> str | None:
    if not value:
        return None
    if value not in allowed:
        raise PageError("error.bad_request", 422)
    return value


@router.get("/findings")
def finding_list(request: Request, session: Oversight, connection: ReadConn, ledger: LedgerDep,
                 kind: Annotated[str | None, Query(max_length=40)] = None,
                 status: Annotated[str | None, Query(max_length=20)] = None,
                 region: Annotated[str | None, Query(max_length=6)] = None,
                 party: Annotated[str | None, Query(max_length=64)] = None,
                 cylinder: Annotated[str | None, Query(max_length=64)] = None,
                 cursor: Annotated[str | None, Query(max_length=200)] = None):
    shown, statuses = status_filter(status)
    chosen = {"kind": _choice(kind, {k.value for k in FindingKind}), "status": shown,
              "region": region_filter(region), "party": party or None, "cylinder": cylinder or None}
    page = ledger.findings(connection, **{**chosen, "status": statuses}, cursor=cursor or None, limit=PAGE)
    parties = directory(ledger, connection)
    return render(request, "findings.html", items=page["items"], next_cursor=page["next_cursor"],
                  first_page=not cursor, chosen=chosen, query={k: v for k, v in chosen.items() if v},
                  kinds=[k.value for k in FindingKind], statuses=STATUSES, region=chosen["region"] or "",
                  regions=regions(parties), names={pid: p.name for pid, p in parties.items()})


@router.get("/findings/export.{file_format}")
def finding_export(request: Request, session: Oversight, connection: ReadConn, ledger: LedgerDep,
                   file_format: Annotated[str, Path(pattern="^(csv|xlsx)$")],
                   kind: Annotated[str | None, Query(max_length=40)] = None,
                   status: Annotated[str | None, Query(max_length=20)] = None,
                   region: Annotated[str | None, Query(max_length=6)] = None,
                   party: Annotated[str | None, Query(max_length=64)] = None,
                   cylinder: Annotated[str | None, Query(max_length=64)] = None):
    """The list as filtered on the page, every page of it, as a spreadsheet (the API's own export)."""
    shown, statuses = status_filter(status)
    chosen = {"kind": _choice(kind, {k.value for k in FindingKind}), "status": statuses,
              "region": region_filter(region), "party": party or None, "cylinder": cylinder or None}
    return sheets.findings_file(ledger, connection, chosen, file_format, language(request))


def _evidence(ledger, connection, ids: list[int]) -> list[dict[str, Any]]:
    found = []
    for event_id in ids:
        try:
            found.append(event_json(ledger.event(connection, event_id)))
        except NotFound:  # deleted behind the ledger's back: the finding says so itself
            continue
    return found


def case_page(request: Request, session: Session, connection, ledger, finding_id: int, *,
              problem: str | None = None, done: str | None = None, status: int = 200):
    finding = ledger.finding(connection, finding_id)
    parties = directory(ledger, connection)
    names = {pid: p.name for pid, p in parties.items()}
    if finding["party"] in parties:  # drivers and escorts its evidence may name, as the trace page names them
        names.update({person.id: person.name for person in ledger.people(connection, finding["party"])})
    inspectors = ledger.inspectors(connection, finding["region"])  # the case's district first
    # An assignee is an account id; a disabled account's id, or a name from older cases, shows as it is.
    assignees = {str(i["account"]): f'{i["name"]} · {names.get(i["party"], i["party"])}' for i in inspectors}
    reports = []  # a citizen's words and contact: regulators, and the inspector it is sent to (docs/citizens.md)
    if finding["kind"] == "citizen_report" and may_read_reports(connection, session.actor, finding_id):
        reports = ledger.case_reports(connection, session.actor, finding_id)
    return render(request, "case.html", status=status, f=finding, names=names, problem=problem, done=done,
                  reports=reports,
                  evidence=_evidence(ledger, connection, finding["events"]), actions=offered(finding, session),
                  inspectors=inspectors, assignees=assignees,
                  overdue=case_rules.overdue(finding, request.app.state.clock()))


@router.get("/findings/{finding_id}")
def case(request: Request, finding_id: FindingId, session: Oversight, connection: ReadConn, ledger: LedgerDep,
         done: Annotated[str | None, Query(max_length=20)] = None):
    return case_page(request, session, connection, ledger, finding_id, done=_choice(done, OFFERS))


@router.post("/findings/{finding_id}/actions")
def act(request: Request, finding_id: FindingId, session: Oversight, connection: WriteConn, ledger: LedgerDep,
        action: Annotated[str, Form(max_length=20)], note: Annotated[str, Form(max_length=2000)] = "",
        assignee: Annotated[str, Form(max_length=200)] = "", csrf: Annotated[str, Form(max_length=100)] = "",
        photos: Annotated[list[UploadFile], File()] = []):  # noqa: B006
    check_form(request, session, csrf)
    try:
        # a browser sends an empty file part when no photo was chosen
        sent = [photo.file.read(case_rules.MAX_PHOTO_BYTES + 1) for photo in photos if photo.filename][
            :case_rules.MAX_PHOTOS + 1]
        # a browser sends a textarea's lines with CR LF; the ledger keeps notes with LF alone
        ledger.finding_action(connection, session.actor, finding_id, action=action, note=note.replace("\r\n", "\n"),
                              assignee=assignee.strip() or None, photos=sent,
                              now=request.app.state.clock())
    except NotFound:
        raise
    except LedgerError as error:  # refused before anything is written: shown on the case, to be corrected
        return case_page(request, session, connection, ledger, finding_id, problem=error.message,
                         status=status_of(error))
    return RedirectResponse(f"/findings/{finding_id}?done={action}#history", status_code=303)


@router.get("/findings/{finding_id}/photos/{sha256}")
def photo(finding_id: FindingId, sha256: Annotated[str, Path(pattern=r"^[0-9a-f]{64}$")], session: Oversight,
          connection: ReadConn, ledger: LedgerDep):
    """A photo of a handling: regulators and inspectors only, as in the API."""
    if not session.can(REPORTERS):
        raise PageError("error.forbidden", 403)
    found = ledger.case_photo(connection, finding_id, sha256)
    if found is None:
        raise PageError("error.not_found", 404)
    return Response(found.data, media_type=found.media_type,
                    headers={"Cache-Control": "private, no-store", "X-Content-Type-Options": "nosniff"})


@router.get("/cases/mine")
def my_cases(request: Request, session: Oversight, connection: ReadConn, ledger: LedgerDep):
    """An inspector's inbox: the cases dispatched to this account, nearest deadline first."""
    if session.actor.role is not Role.INSPECTOR:
        raise PageError("error.forbidden", 403)
    items = ledger.my_cases(connection, session.actor)
    now = request.app.state.clock()
    parties = directory(ledger, connection)
    return render(request, "my_cases.html", items=items, overdue={f["id"] for f in items if case_rules.overdue(f, now)},
                  names={pid: p.name for pid, p in parties.items()})
