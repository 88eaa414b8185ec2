"""Dependencies of the routes: the ledger, transactions and the acting account.

``WriteConn`` is one write transaction per request, committed when the route
returns and *before* the answer is sent (scope "function"), so a client that
sees 201 knows the write is durable; any exception rolls it back. A request's
write transactions begin in ``request_transaction`` and nowhere else; events
are recorded by the ingest use case, which begins its own (``ledger.ingest``).

Each process bounds how many requests hold a database connection at once, and
the bound is below the connection pool's size. Without it, requests that hold
a connection wait for a worker thread to run their route while every worker
thread waits for a connection: a deadlock until the pool times out. Requests
over the bound wait without holding a thread or a connection.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Iterator
from typing import Annotated

import anyio
from fastapi import Depends, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.exceptions import HTTPException

from ledger.errors import InvalidInput
from ledger.service import Actor, Ledger
from ledger.storage import Connection

from . import permissions
from .accounts import AccountCache

__all__ = ["LedgerDep", "ReadConn", "WriteConn", "BatchSlot", "ProofSlot", "Allowed", "request_checks"]

# At most this many at once per process. With two connections per proof and a batch holding a
# read connection to check its items, then a write connection, the sum (23, and one each for the
# process's single-event writer, reviewer and log checkpoints) stays within every pool create_app
# builds: 32 connections, for each of SQLite's two engines and for PostgreSQL's one.
WRITERS, READERS, AUTHENTICATING, PROVING, BATCHES = 8, 6, 4, 2, 1

_bearer = HTTPBearer(auto_error=False, description="A token from `ledger accounts create`")
_MAX_TOKEN = 256


def _check_content_type(request: Request) -> None:
    """415 for a body that is not JSON; checked after routing, so an unknown method still answers 405."""
    if request.method in ("POST", "PUT", "PATCH"):
        media = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
        if media != "application/json" and not (media.startswith("application/") and media.endswith("+json")):
            raise HTTPException(415, "send the request body as application/json")


# Per route: the query parameters it takes, and whether it authenticates its caller.
_ROUTE_QUERY: dict[int, tuple[frozenset[str], bool]] = {}


def _route_query(route) -> tuple[frozenset[str], bool]:
    known = _ROUTE_QUERY.get(id(route))
    if known is None:
        known = _ROUTE_QUERY[id(route)] = (frozenset(_query_names(route.dependant)), _authenticates(route.dependant))
    return known


def _check_query(request: Request) -> None:
    """422 for a query parameter the route does not take: `?regon=` must not quietly list everything."""
    if not request.scope.get("query_string"):
        return
    names, _ = _route_query(request.scope["route"])
    unknown = sorted(set(request.query_params) - names)
    if unknown:
        raise InvalidInput(f"unknown query parameter {unknown[0]!r}; this endpoint takes: "
                           f"{', '.join(sorted(names)) or 'none'}", field=unknown[0])


async def request_checks(request: Request) -> None:
    """What every API route checks before its own parameters: a JSON body, no unknown query parameter.

    A route that authenticates checks its query after the caller (``Allowed``), so a caller
    without a token learns 401, not what the route takes. One dependency rather than two: each
    dependency costs every request its resolution.
    """
    _check_content_type(request)
    if request.scope.get("query_string") and not _route_query(request.scope["route"])[1]:
        _check_query(request)


def _query_names(dependant) -> set[str]:
    names = {param.alias for param in dependant.query_params}
    for sub in dependant.dependencies:
        names |= _query_names(sub)
    return names


def _authenticates(dependant) -> bool:
    return getattr(dependant.call, "authenticates", False) or any(_authenticates(sub) for sub in dependant.dependencies)


async def get_ledger(request: Request) -> Ledger:
    return request.app.state.ledger


LedgerDep = Annotated[Ledger, Depends(get_ledger)]


def read_connection(ledger: LedgerDep) -> Iterator[Connection]:
    with ledger.db.reading() as connection:
        yield connection


@contextlib.contextmanager
def request_transaction(ledger: Ledger) -> Iterator[Connection]:
    """A request's write transaction; where every one begins (the route's ``WriteConn``, a page's sign-in).

    Events are the exception: they go to the ingest use case, which begins its own (``ledger.ingest``).
    """
    with ledger.db.writing() as connection:
        yield connection


def write_connection(ledger: LedgerDep) -> Iterator[Connection]:
    with request_transaction(ledger) as connection:
        yield connection


async def proving() -> AsyncIterator[None]:
    yield


async def batch_slot() -> AsyncIterator[None]:
    yield


ReadConn = Annotated[Connection, Depends(read_connection, scope="function", max_concurrency=READERS)]
WriteConn = Annotated[Connection, Depends(write_connection, scope="function", max_concurrency=WRITERS)]
# Proof routes have the checkpoint publisher sign a checkpoint first (its own short transaction), so
# they take a slot instead.
ProofSlot = Annotated[None, Depends(proving, scope="function", max_concurrency=PROVING)]
# A batch is parsed, checked and answered outside its write transaction, which the ingest use case
# opens, so the database's write lock is held only to write. One batch at a time per process: two would share
# the interpreter lock, and each time SQLite handed it back to the one writing, the other's parsing
# would hold it first, stretching the write lock every process waits for. Other processes overlap.
BatchSlot = Annotated[None, Depends(batch_slot, scope="function", max_concurrency=BATCHES)]


def _unauthenticated(detail: str) -> HTTPException:
    return HTTPException(401, detail, headers={"WWW-Authenticate": 'Bearer realm="cylinder-ledger"'})


# Looking a token up reads the database in a worker thread; at most this many at once per process.
# A remembered token (nearly every request) needs neither a thread nor a slot.
_lookups: dict[int, anyio.Semaphore] = {}


async def _authenticate(request: Request, credentials: HTTPAuthorizationCredentials | None) -> Actor:
    if credentials is None:
        raise _unauthenticated("send an account's token as `Authorization: Bearer <token>`")
    token = credentials.credentials
    if len(token) > _MAX_TOKEN:
        raise _unauthenticated("the bearer token is not valid")
    accounts: AccountCache = request.app.state.accounts
    actor = accounts.get(token)
    if actor is None:
        ledger: Ledger = request.app.state.ledger
        async with _lookup_slot():
            actor = await run_in_threadpool(_look_up, ledger, token)
        if actor is None:
            raise _unauthenticated("the bearer token is not valid")
        accounts.put(token, actor)
    state = request.scope.setdefault("state", {})
    state["account"], state["role"] = actor.account, actor.role.value
    return actor


def _lookup_slot() -> anyio.Semaphore:
    """This event loop's bound on concurrent token look-ups (a semaphore belongs to one loop)."""
    key = id(asyncio.get_running_loop())
    slot = _lookups.get(key)
    if slot is None:
        _lookups.clear()  # an earlier loop (a test's) is gone
        slot = _lookups[key] = anyio.Semaphore(AUTHENTICATING)
    return slot


def _look_up(ledger: Ledger, token: str) -> Actor | None:
    with ledger.db.reading() as connection:
        return ledger.authenticate(connection, token)


Bearer = Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]


def Allowed(action: str):  # noqa: N802 - used like a type: `actor: Allowed("parties.create")`
    """The acting account, once its role may attempt ``action`` (else 403).

    Authentication, the role check and the query's names are one dependency (plus the bearer scheme, which documents
    the security of the route in OpenAPI): the route's hot path resolves as few as it can.
    """

    async def allowed(request: Request, credentials: Bearer) -> Actor:
        actor = await _authenticate(request, credentials)
        permissions.check(actor, action)
        _check_query(request)  # after the caller is known: 401, then 403, then an unknown parameter's 422
        return actor

    allowed.__name__ = f"allowed_{action.replace('.', '_')}"
    allowed.authenticates = True  # type: ignore[attr-defined]
    return Annotated[Actor, Depends(allowed)]
