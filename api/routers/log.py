"""The verifiable log: signed checkpoints, the verifier key and consistency proofs. Public: no token needed."""

from typing import Annotated, Literal

from fastapi import APIRouter, Path, Query
from fastapi.responses import PlainTextResponse
from pydantic import BaseModel, ConfigDict, Field

from ledger import ingest
from ledger.service import mirror

from ..body import JSONRoute
from ..deps import LedgerDep, ProofSlot, ReadConn
from ..errors import problem_responses
from ..schemas import Bundle, ConsistencyProof, CrossingKept, CrossingNews, Recorded, SegmentsBundle
from ..views import FastJSON, cylinder_code, outcome_json

router = APIRouter(route_class=JSONRoute, tags=["proofs"], responses=problem_responses(422))
TEXT = {200: {"content": {"text/plain": {"schema": {"type": "string"}}}}}
Size = Annotated[int, Query(ge=1, le=2**53)]


@router.get("/v1/log/checkpoint", response_class=PlainTextResponse, responses=TEXT)
def get_checkpoint(slot: ProofSlot, ledger: LedgerDep):
    """The newest C2SP tlog-checkpoint the log published, as one signed note: origin, tree size, base64 root,
    the log's Ed25519 signature line, then one cosignature line per witness that has cosigned it
    (c2sp.org/tlog-cosignature). The log publishes one at most every `LEDGER_CHECKPOINT_INTERVAL` seconds."""
    return PlainTextResponse(ledger.published().note)


@router.get("/v1/log/public-key", response_class=PlainTextResponse, responses=TEXT)
def get_log_public_key(ledger: LedgerDep, connection: ReadConn):
    """The log's verifier key in signed-note form: `<name>+<key id>+<base64 key>`; a mirror answers with the key
    of the log it copies."""
    return PlainTextResponse((mirror.log_vkey(connection) or ledger.verifier.vkey()) + "\n")


@router.get("/v1/log/consistency", response_model=ConsistencyProof)
def get_consistency_proof(old: Size, new: Size, connection: ReadConn, ledger: LedgerDep):
    """The RFC 9162 consistency proof between tree sizes `old` and `new` (old ≤ new ≤ log size)."""
    return ledger.consistency(connection, old, new)


Position = Annotated[int, Query(ge=0, le=2**53)]


@router.get("/v1/log/entries")
def get_log_entries(start: Position, end: Position, connection: ReadConn):
    """The events at log positions [start, end) in log order, each exactly as stored, in the JSON form whose
    fields recompute its hash (docs/canonical.md): at most 1000, and none past the log's size, so the answer's
    `end` says where they stop. What a mirror fetches (docs/mirror.md)."""
    return FastJSON(mirror.log_entries(connection, start, end))


CylinderId = Annotated[str, Path(min_length=1, max_length=64, description="the trace code, in any spelling")]


Segment = Annotated[Literal["own"] | None, Query(
    description="`own`: this log's events only, in the one-log form, even of a cylinder that crossed city lines "
                "(what a peer city verifies at a crossing)")]


@router.get("/v1/log/cylinders/{cylinder_id}/bundle", response_model=Bundle | SegmentsBundle,
            responses=problem_responses(404))
def get_public_bundle(cylinder_id: CylinderId, slot: ProofSlot, ledger: LedgerDep, segment: Segment = None):
    """The cylinder's bundle, as `GET /v1/cylinders/{id}/bundle` gives it: its events, inclusion proofs and the
    signed checkpoint; for a cylinder whose chain crossed city lines, the `cylinder-ledger/segments/v1` form with
    the other cities' segments this ledger verified and kept, so it verifies on its own with the cities' keys.
    With `segment=own`, this log's events only: what another city's ledger verifies before a cylinder handed
    to it joins its chain (docs/regions.md). The events are the public log's; no personal data."""
    with ledger.db.reading() as connection:
        code = ledger.cylinder(connection, cylinder_code(cylinder_id)).id
    return ledger.bundle(code) if segment == "own" else ledger.whole_bundle(code)


@router.post("/v1/log/crossings", status_code=202, response_model=CrossingKept,
             responses=problem_responses(400, 404, 409, 413, 415, 503))
def post_crossing(body: CrossingNews, ledger: LedgerDep):
    """A peer city says a cylinder this ledger handed to it goes on there. Nothing of the request is
    trusted: the ledger asks the city its chain was handed to for its segment, verifies it with that
    city's log key (LEDGER_PEERS) and keeps it beside the chain (docs/regions.md)."""
    kept = ingest.follow(ledger, cylinder_code(body.cylinder))
    return {"cylinder": body.cylinder, "kept": kept}


class RelayIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    note: str = Field(max_length=16 * 1024, description="a signed note: `cylinder-ledger/relay/v1`, the relaying "
                      "city's log origin and the event as its client sent it, signed with that city's log key")


@router.post("/v1/log/relays", status_code=201, response_model=Recorded,
             responses={200: {"model": Recorded, "description": "the same relay again: the event recorded then"},
                        **problem_responses(400, 403, 404, 409, 413, 415)})
def post_relay(body: RelayIn, ledger: LedgerDep):
    """A peer city relays an event one of its parties made before it handed the cylinder to this city, uploaded
    after the hand-off. No account: the note's signature by the peer's log key (LEDGER_PEERS) is the
    authentication, and the event's party must be registered here as homed in that city. The event is
    recorded through the one ingest path with `data.relayed_from` and judged in event time; the peer is told
    (docs/regions.md)."""
    outcome = ledger.take_relay(body.note)
    return FastJSON(outcome_json(outcome), status_code=200 if outcome.status == "duplicate" else 201)
