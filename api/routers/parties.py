"""Parties and their people (end users: ``api.routers.endusers``)."""

from typing import Annotated

from fastapi import APIRouter, Path, Query

from ledger.domain import Paper, PartyKind

from ..body import JSONRoute
from .. import permissions
from ..deps import Allowed, LedgerDep, ReadConn, WriteConn
from ..errors import problem_responses
from ..schemas import (
    Page, PaperIn, PartyIn, PartyOut, PersonIn, PersonOut, Region,
)
from ..views import party_json, person_json

router = APIRouter(route_class=JSONRoute, tags=["parties"], responses=problem_responses(401, 403, 404, 422))
WRITES = problem_responses(400, 409, 413, 415)
PartyId = Annotated[str, Path(pattern=r"^[A-Za-z0-9][A-Za-z0-9._:\-]{0,63}$")]


def _paper(paper: PaperIn | None) -> Paper | None:
    return None if paper is None else Paper(paper.number, paper.valid_until)


@router.post("/v1/parties", status_code=201, response_model=PartyOut, responses=WRITES)
def create_party(body: PartyIn, actor: Allowed("parties.create"), connection: WriteConn, ledger: LedgerDep):
    """Register a party (admin, regulator). A filling station names its gas company in `parent`."""
    party = ledger.create_party(connection, kind=body.kind, name=body.name, region=body.region,
                                licence=_paper(body.licence), parent=body.parent, home=body.home, id=body.id)
    return party_json(party)


@router.get("/v1/parties", response_model=Page[PartyOut])
def list_parties(
    actor: Allowed("parties.read"), connection: ReadConn, ledger: LedgerDep,
    kind: PartyKind | None = None, region: Annotated[Region | None, Query()] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100, cursor: Annotated[str | None, Query(max_length=200)] = None,
):
    """Parties in id order, filtered by `kind` and `region`."""
    after = ledger.cursors.read(cursor, "parties")
    parties = ledger.parties(connection, kind=kind, region=region, after=after, limit=limit)
    next_cursor = ledger.cursors.issue("parties", parties[-1].id) if len(parties) == limit else None
    return {"items": [party_json(p) for p in parties], "next_cursor": next_cursor}


@router.get("/v1/parties/{party_id}", response_model=PartyOut)
def get_party(party_id: PartyId, actor: Allowed("parties.read"), connection: ReadConn, ledger: LedgerDep):
    return party_json(ledger.party(connection, party_id))


@router.post("/v1/parties/{party_id}/people", status_code=201, response_model=PersonOut, responses=WRITES)
def create_person(
    party_id: PartyId, body: PersonIn, actor: Allowed("people.create"), connection: WriteConn, ledger: LedgerDep,
):
    """Register a person of a party (admin, regulator, or an account of that party)."""
    permissions.check_party(actor, party_id, "people.create")
    person = ledger.create_person(connection, party=party_id, name=body.name, role=body.role,
                                  certificate=_paper(body.certificate))
    return person_json(person)


@router.get("/v1/parties/{party_id}/people", response_model=Page[PersonOut])
def list_people(party_id: PartyId, actor: Allowed("people.read"), connection: ReadConn, ledger: LedgerDep):
    """A party's people (its own accounts, or admin, regulator, inspector); one page holds them all."""
    permissions.check_party(actor, party_id, "people.read")
    return {"items": [person_json(p) for p in ledger.people(connection, party_id)], "next_cursor": None}
