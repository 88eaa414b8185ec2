"""Cylinders: registration (which issues the trace code), the cylinder, its chain of events, its bundle."""

import dataclasses
from typing import Annotated

from fastapi import APIRouter, Path, Query, Response

from ledger.cursor import MAX_POSITION
from ledger.service import Registration
from ledger.wire import event_json

from ..body import JSONRoute
from ..deps import Allowed, LedgerDep, ProofSlot, ReadConn, WriteConn
from ..errors import problem_responses
from ..schemas import Bundle, CylinderOut, EventOut, Page, Registered, RegistrationIn, SegmentsBundle
from ..views import cylinder_code, label_links

router = APIRouter(route_class=JSONRoute, tags=["cylinders"], responses=problem_responses(401, 403, 404, 422))
CylinderId = Annotated[str, Path(min_length=1, max_length=64, description="the trace code, in any spelling")]


@router.post(
    "/v1/cylinders", status_code=201, response_model=Registered,
    responses={200: {"model": Registered, "description": "A repeat of an earlier registration (same idempotency_key)"},
               **problem_responses(400, 409, 413, 415)},
)
def register_cylinder(
    body: RegistrationIn, actor: Allowed("cylinders.register"), connection: WriteConn, ledger: LedgerDep,
    response: Response,
):
    """Register a cylinder of the account's gas company: issues its trace code and writes the genesis event."""
    outcome = ledger.register(connection, actor, Registration(**body.model_dump()))
    if outcome.status == "duplicate":
        response.status_code = 200
    code = outcome.event.cylinder
    return {"id": code, **label_links(ledger, code), "event": event_json(outcome.event)}


@router.get("/v1/cylinders/{cylinder_id}", response_model=CylinderOut)
def get_cylinder(cylinder_id: CylinderId, actor: Allowed("cylinders.read"), connection: ReadConn, ledger: LedgerDep):
    """The registration facts and where the chain stands (holder, state, length); `disputed` when an audit found
    its stored record altered (docs/audit.md)."""
    code = cylinder_code(cylinder_id)
    return {**dataclasses.asdict(ledger.cylinder(connection, code)), "disputed": bool(ledger.disputes(connection, code))}


@router.get("/v1/cylinders/{cylinder_id}/events", response_model=Page[EventOut], tags=["events"])
def list_events(
    cylinder_id: CylinderId, actor: Allowed("events.read"), connection: ReadConn, ledger: LedgerDep,
    after_seq: Annotated[int, Query(ge=-1, le=MAX_POSITION)] = -1,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
):
    """The cylinder's chain in `seq` order, after `after_seq` (or after where `cursor` left off)."""
    after = ledger.cursors.read(cursor, "events")
    events = ledger.history(connection, cylinder_code(cylinder_id), max(after_seq, -1 if after is None else after), limit)
    next_cursor = ledger.cursors.issue("events", events[-1].seq) if len(events) == limit else None
    return {"items": ledger.with_notes(connection, actor, events), "next_cursor": next_cursor}


@router.get("/v1/cylinders/{cylinder_id}/bundle", response_model=Bundle | SegmentsBundle, tags=["proofs"])
def get_bundle(cylinder_id: CylinderId, actor: Allowed("proofs.read"), slot: ProofSlot, ledger: LedgerDep):
    """Every event of the cylinder with inclusion proofs and a signed checkpoint; `ledger verify-bundle` checks it
    offline. A cylinder whose chain crossed city lines answers `cylinder-ledger/segments/v1`: each city's segment
    under that city's checkpoint, checked with the cities' keys (docs/regions.md)."""
    with ledger.db.reading() as connection:  # 404 before a checkpoint is signed
        code = ledger.cylinder(connection, cylinder_code(cylinder_id)).id
    return ledger.whole_bundle(code)
