"""Custody events: record one, record a truckload, read one, prove one is in the log."""

from typing import Annotated

from fastapi import APIRouter, Path, Query, Request

from ..body import JSONRoute
from ..deps import Allowed, BatchSlot, LedgerDep, ProofSlot, ReadConn
from ..errors import problem_responses
from ..schemas import BatchIn, BatchOut, EventIn, EventOut, InclusionProof, Recorded
from ..views import FastJSON, batch_item, new_event, outcome_json, parse_item

router = APIRouter(route_class=JSONRoute, tags=["events"], responses=problem_responses(401, 403, 404, 422))
EventId = Annotated[int, Path(ge=0, le=2**53)]


@router.post(
    "/v1/events", status_code=201, response_model=Recorded,
    responses={200: {"model": Recorded, "description": "A repeat of an earlier event (same idempotency_key and content)"},
               **problem_responses(400, 409, 413, 415)},
)
async def record_event(body: EventIn, actor: Allowed("events.record"), request: Request):
    """Record one event for the account's party. A repeat answers 200 with the original; same key, other content: 409.

    Concurrent requests share one transaction (group commit); each is answered only once it is durable.
    """
    outcome = await request.app.state.coalescer.record(actor, new_event(body, actor))
    if outcome.error is not None:
        raise outcome.error
    # Built from the ledger's own types, the answer matches Recorded; returned as is, it is not validated again.
    return FastJSON(outcome_json(outcome), status_code=200 if outcome.status == "duplicate" else 201)


@router.post("/v1/events/batch", response_model=BatchOut, response_model_exclude_unset=True,
             responses=problem_responses(400, 413, 415))
def record_batch(body: BatchIn, actor: Allowed("events.record"), slot: BatchSlot, ledger: LedgerDep,
                 request: Request):
    """Record up to 1,000 events; each item is answered on its own and one bad item never blocks the others.

    The custody rules look at the batch's cylinders a moment after it is committed (the reviewer), so the
    results carry no findings; they appear in the findings and risk lists once reviewed.
    """
    request.app.state.reviewer.batch_arriving()
    # Parsed before the ingest use case admits them, so its write lock is held only to write.
    items = [parse_item(raw, actor) for raw in body.events]
    outcomes = ledger.ingest_one(actor, items, judge=False)
    # Built from the ledger's own types, the answer matches BatchOut; returned as is, it is not validated again.
    return FastJSON({"results": [batch_item(index, outcome) for index, outcome in enumerate(outcomes)]})


@router.get("/v1/events/{event_id:int}", response_model=EventOut)
def get_event(event_id: EventId, actor: Allowed("events.read"), connection: ReadConn, ledger: LedgerDep):
    return ledger.with_notes(connection, actor, [ledger.event(connection, event_id)])[0]


@router.get("/v1/events/{event_id:int}/proof", response_model=InclusionProof, tags=["proofs"])
def get_inclusion_proof(
    event_id: EventId, actor: Allowed("proofs.read"), slot: ProofSlot, ledger: LedgerDep,
    size: Annotated[int | None, Query(ge=1, le=2**53, description="tree size; default: the newest checkpoint's (one is signed if it does not hold the event yet)")] = None,
):
    """The RFC 9162 inclusion proof of the event's leaf in the tree of `size` leaves."""
    if size is None:
        size = ledger.checkpoint_for(event_id).size
    with ledger.db.reading() as connection:
        return ledger.inclusion(connection, event_id, size)
