"""End users: registered by a shop, found by phone masked, seen in full on record, and their own
history by phone and one-time code (docs/privacy.md)."""

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Path, Query
from starlette.requests import Request

from ledger.service.endusers import Refused

from ..body import JSONRoute
from ..deps import Allowed, LedgerDep, WriteConn
from ..errors import problem_json, problem_responses
from ..schemas import (
    CodeIn, CodeSent, EndUserIn, EndUserMatches, EndUserOut, EndUserRef, HistoryIn, Identifier, OwnHistory, Page,
    PersonalDataView,
)

__all__ = ["router", "client_address"]

router = APIRouter(route_class=JSONRoute, tags=["end users"], responses=problem_responses(401, 403, 404, 422))
WRITES = problem_responses(400, 409, 413, 415)


def client_address(request: Request) -> str:
    """The address a request came from, as rate limits count it."""
    return request.client.host if request.client else "unknown"


@router.post("/v1/end-users", status_code=201, response_model=EndUserRef, responses=WRITES)
def create_end_user(body: EndUserIn, actor: Allowed("end_users.create"), connection: WriteConn, ledger: LedgerDep):
    """A shop registers an end user for real-name purchase; deliveries then name the returned `ref` in `to`.
    Name, phone and address are stored sealed (encrypted), the phone also as a keyed lookup hash."""
    ref = ledger.create_end_user(connection, actor, kind=body.kind, name=body.name, phone=body.phone,
                                 address=body.address)
    return {"ref": ref}


@router.get("/v1/end-users", response_model=EndUserMatches, responses=problem_responses(429))
def find_end_users(
    actor: Allowed("end_users.lookup"), connection: WriteConn, ledger: LedgerDep,
    phone: Annotated[str, Query(min_length=1, max_length=40, description="the whole number: exact match only")],
):
    """A shop finds the end users registered under one phone number (any shop's), name and phone
    masked (张*, 138****8000). There is no listing: without `phone` the answer is 422. Each account
    may look up at most 30 numbers in 10 minutes (then 429 with `Retry-After`)."""
    return {"items": ledger.find_end_users(connection, actor, phone)}


@router.get("/v1/end-users/views", response_model=Page[PersonalDataView])
def personal_data_views(
    actor: Allowed("end_users.views"), connection: WriteConn, ledger: LedgerDep,
    ref: Annotated[Identifier | None, Query()] = None,
    since: Annotated[datetime | None, Query(description="views at or after this time (UTC if no zone)")] = None,
    until: Annotated[datetime | None, Query(description="views before this time (UTC if no zone)")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100, cursor: Annotated[str | None, Query(max_length=200)] = None,
):
    """Who viewed whose personal data in full, when and why, newest first (regulators). The record is
    append-only: no route changes it and the database refuses UPDATE and DELETE on it."""
    return ledger.personal_data_views(connection, actor, ref=ref, cursor=cursor, limit=limit, since=since, until=until)


@router.get("/v1/end-users/{ref}", response_model=EndUserOut)
def get_end_user(
    ref: Annotated[Identifier, Path()], actor: Allowed("end_users.read"), connection: WriteConn, ledger: LedgerDep,
    reason: Annotated[str, Query(min_length=1, max_length=500,
                                 description="why the data is needed (a case, a complaint); recorded")],
):
    """An end user's identity, phone and address in full: regulators and inspectors only, with a
    `reason`; every answer is recorded (who, whose, when, why) in `GET /v1/end-users/views`."""
    return ledger.end_user(connection, actor, ref, reason=reason)


@router.post("/v1/my/codes", status_code=202, response_model=CodeSent,
             responses={**WRITES, **problem_responses(429, 503)})
def send_code(body: CodeIn, request: Request, connection: WriteConn, ledger: LedgerDep):
    """No sign-in. Sends a one-time code to the phone through the `end_user.code` webhook (the city's SMS
    gateway), if an end user is registered under it; the answer is the same either way."""
    return ledger.send_code(connection, body.phone, client=client_address(request))


@router.post("/v1/my/history", response_model=OwnHistory, responses={**WRITES, **problem_responses(429, 503)})
def own_history(body: HistoryIn, request: Request, connection: WriteConn, ledger: LedgerDep):
    """No sign-in. The deliveries (and their safety checks) of the cylinders delivered to the end users
    registered under `phone`, given the code just sent to it. A code works once, for 10 minutes, and
    5 wrong tries use it up; a wrong code is 403 `code-refused`."""
    answer = ledger.own_history(connection, body.phone, body.code, client=client_address(request))
    if isinstance(answer, Refused):  # answered, not raised: the spent try is committed
        return problem_json(403, answer.message, slug="code-refused")
    return answer
