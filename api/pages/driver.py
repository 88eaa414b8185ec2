"""The driver's phone page: scan, choose the action, queue offline, sync, see each scan's outcome.

The page keeps its queue in the browser (docs/pages.md "The offline queue") and
sends it to ``POST /driver/sync``, which runs what ``POST /v1/events/batch``
runs (the API's own parser, the one ingest use case ``Ledger.ingest``, the API's
item answers) for the signed-in account: the page's script never sees the
bearer token, which stays in the HttpOnly cookie. Unlike the batch endpoint it
has the rules judge the scans as soon as they are committed, because each answer
adds what a driver must know at once: the findings the scan is evidence of, and
whether the cylinder must not be delivered (overdue, past its design life,
scrapped: ``ledger.standing``), read once they are judged.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, File, Path, Query, UploadFile
from fastapi.responses import FileResponse, JSONResponse, PlainTextResponse
from pydantic import BaseModel, Field
from starlette.requests import Request

from ledger import tracecode
from ledger.domain import EventKind, FindingKind, PartyKind, PersonRole
from ledger.errors import LedgerError, NotFound
from ledger.photos import MAX_PHOTO_BYTES
from ledger.standing import cautions
from scanners.errors import ForgedLabel
from scanners.payload import parse_scan

from .. import permissions
from ..deps import LedgerDep, ReadConn, WriteConn
from ..views import batch_item, parse_item
from .gather import directory
from .i18n import Translator, language, local_today
from .render import STATIC, PageRoute, render
from .session import Holder, check_form

router = APIRouter(route_class=PageRoute)
# What a driver or a shop's delivery worker scans for; each role sees the kinds the API lets it record.
ACTIONS = (EventKind.RECEIVE, EventKind.DISPATCH, EventKind.DELIVER, EventKind.COLLECT, EventKind.RETURN)
# The strings the page's script shows, sent along with the page.
SCRIPT_STRINGS = (
    "driver.queued", "driver.sending", "driver.recorded", "driver.duplicate", "driver.rejected", "driver.held",
    "driver.remove", "driver.send_anyway", "driver.online", "driver.offline", "driver.waiting", "driver.all_sent", "driver.unchecked",
    "driver.forged", "driver.unregistered", "driver.needs_to", "driver.scan_error.check",
    "driver.scan_error.length", "driver.scan_error.character", "driver.scan_error.not_label",
    "driver.scan_error.altered", "driver.scan_error.truncated", "driver.scan_error.empty", "driver.finding",
    "caution.overdue_inspection", "caution.past_design_life", "caution.scrapped", "caution.stop",
    "driver.safety_failed", "driver.hazard", "driver.photo_kept", "driver.photo_offline", "driver.photo_refused",
    "driver.notice",
)


def script_strings(t: Translator) -> dict[str, str]:
    """The page script's strings in the reader's language, with the names of event and finding kinds."""
    terms = {f"kind.{k.value}": t.term("kind", k.value) for k in EventKind}
    terms.update({f"finding.{k.value}": t.term("finding", k.value) for k in FindingKind})
    return {**terms, **{key: t(key) for key in SCRIPT_STRINGS}}


class Batch(BaseModel):
    events: list[Any] = Field(max_length=1000)


def _kinds(session) -> list[str]:
    return [kind.value for kind in ACTIONS if session.actor.role in permissions.KINDS[kind]]


@router.get("/driver")
def driver_page(request: Request, session: Holder, connection: ReadConn, ledger: LedgerDep):
    party = session.actor.party
    parties = directory(ledger, connection)
    receivers = sorted((p for p in parties.values() if p.kind is not PartyKind.REGULATOR and p.id != party),
                       key=lambda p: (p.kind.value, p.name))
    people = ledger.people(connection, party) if party else []
    t = Translator(language(request))
    checklist = [{"code": item.code, "name": item.zh if t.lang == "zh" else item.en,
                  "critical": item.severity.value == "critical"} for item in ledger.checklist]
    return render(request, "driver.html", kinds=_kinds(session), receivers=receivers, party=party,
                  checklist=checklist,
                  party_name=parties[party].name if party in parties else party,
                  drivers=[p for p in people if p.role is PersonRole.DRIVER],
                  escorts=[p for p in people if p.role is PersonRole.ESCORT],
                  workers=[p for p in people if p.role is PersonRole.DELIVERY_WORKER],
                  script_strings=script_strings(t))


@router.get("/driver/sw.js")
def service_worker():
    """The service worker that lets /driver open without a network (static/pages/driver-sw.js)."""
    return FileResponse(STATIC / "pages" / "driver-sw.js", media_type="text/javascript", headers={
        "Service-Worker-Allowed": "/driver", "Cache-Control": "no-cache"})


@router.post("/driver/sync")
def sync(request: Request, body: Batch, session: Holder, ledger: LedgerDep):
    """The queue's scans, recorded exactly once each (their idempotency keys were fixed at scan time)."""
    check_form(request, session, request.headers.get("x-csrf-token"))
    items = [parse_item(raw, session.actor) for raw in body.events]
    outcomes = ledger.ingest_one(session.actor, items)
    with ledger.db.reading() as connection:  # the cylinders as the rules have just left them
        return _answers(ledger, connection, outcomes)


def _answers(ledger, connection, outcomes) -> JSONResponse:
    """Each outcome as the batch endpoint answers it, with its cylinder's cautions and the findings it raised."""
    today = local_today()
    rows: dict[str, list[str]] = {}
    results = []
    for index, outcome in enumerate(outcomes):
        answer = batch_item(index, outcome)
        if outcome.event is not None:
            code = outcome.event.cylinder
            if code not in rows:
                rows[code] = cautions(ledger.cylinder(connection, code), today)
            answer["cautions"] = rows[code]
        answer["findings"] = [{"id": f["id"], "kind": f["kind"], "severity": f["severity"]} for f in outcome.findings]
        results.append(answer)
    return JSONResponse({"results": results}, headers={"Cache-Control": "no-store"})


@router.post("/driver/photo")
def photo(request: Request, session: Holder, connection: WriteConn, ledger: LedgerDep,
          photo: Annotated[UploadFile, File()]):
    """One photo of a delivery's safety check, kept as ``POST /v1/photos`` keeps it; answers its SHA-256."""
    check_form(request, session, request.headers.get("x-csrf-token"))
    return JSONResponse(ledger.upload_photo(connection, session.actor, photo.file.read(MAX_PHOTO_BYTES + 1)),
                        headers={"Cache-Control": "no-store"})


@router.get("/driver/notice/{finding_id}")
def notice(finding_id: Annotated[int, Path(ge=1, le=2**31 - 1)], request: Request, session: Holder,
           connection: ReadConn, ledger: LedgerDep):
    """The printable rectification notice of an unsafe installation this party's delivery found."""
    finding = ledger.finding(connection, finding_id)
    if finding["party"] != session.actor.party:
        raise NotFound(f"no finding {finding_id}")
    return PlainTextResponse(ledger.rectification_notice(connection, finding, language(request)),
                             headers={"Cache-Control": "private, no-store"})


@router.get("/driver/check")
def check(session: Holder, connection: ReadConn, ledger: LedgerDep,
          scan: Annotated[str, Query(max_length=600)]):
    """What the server knows of one scan at once: a forged label, an unregistered code, cautions."""
    try:
        found = parse_scan(scan, ledger.label_key.public_key())
    except LedgerError as error:
        return JSONResponse({"ok": False, "forged": isinstance(error, ForgedLabel), "detail": error.message})
    try:
        row = ledger.cylinder(connection, found.code)
    except NotFound:
        return JSONResponse({"ok": True, "code": found.code, "printed": tracecode.printed(found.code),
                             "registered": False, "cautions": []})
    return JSONResponse({"ok": True, "code": found.code, "printed": tracecode.printed(found.code),
                         "registered": True, "verified": found.verified, "state": row.state.value,
                         "yours": row.holder == session.actor.party,
                         "cautions": cautions(row, local_today())})
