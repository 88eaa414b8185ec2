"""The witness's HTTP service (c2sp.org/tlog-witness): ``POST /add-checkpoint`` and the monitors' read.

A separate application from the ledger's API: a witness is run by someone else
(another city, the provincial regulator, an enterprise association) on a
machine of their own, with only its key and its own small database. The
submission and monitoring prefixes are both the root of this server.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable
from typing import Protocol

from fastapi import FastAPI, Request
from fastapi.responses import PlainTextResponse, Response
from starlette.concurrency import run_in_threadpool

from ledger.witness import MAX_BODY, AddCheckpoint, Cosigned, Cosigner, LogState, Refused, decide, parse_request

__all__ = ["WitnessState", "witness_app"]

SIZE_TYPE = "text/x.tlog.size"  # tlog-witness: the content type of a 409's body
_HEX = re.compile(r"[0-9a-f]{64}")
_log = logging.getLogger("ledger.api")


class WitnessState(Protocol):
    """What the service needs of the store (``ledger.storage.witness.WitnessStore``)."""

    def advance(self, origin: str, step: Callable[[LogState | None], Cosigned]) -> Cosigned: ...

    def latest_note(self, hashed_origin: str) -> str | None: ...


def _refusal(refused: Refused) -> Response:
    if refused.status == 409 and refused.known_size is not None:
        # "The response body MUST consist of the tree size of the latest cosigned checkpoint in decimal,
        # followed by a newline", with Content-Type text/x.tlog.size.
        # Given as a header, not a media type, so no charset parameter is added to it.
        return Response(f"{refused.known_size}\n".encode(), status_code=409, headers={"content-type": SIZE_TYPE})
    return PlainTextResponse(refused.message + "\n", status_code=refused.status)


def witness_app(state: WitnessState, cosigner: Cosigner, clock: Callable[[], float] = time.time) -> FastAPI:
    app = FastAPI(title=f"witness {cosigner.name}", docs_url=None, redoc_url=None, openapi_url=None)

    @app.post("/add-checkpoint")
    async def add_checkpoint(request: Request) -> Response:
        raw = bytearray()
        async for chunk in request.stream():
            raw += chunk
            if len(raw) > MAX_BODY:  # read no further than a request may be long
                break
        try:
            parsed = parse_request(bytes(raw))
        except Refused as refused:
            return _refusal(refused)
        # The store's transaction blocks: run it on a worker thread, as FastAPI runs plain functions.
        return await run_in_threadpool(_cosign, parsed)

    def _cosign(parsed: AddCheckpoint) -> Response:
        try:
            done = state.advance(parsed.origin, lambda log: decide(log, parsed, cosigner, int(clock())))
        except Refused as refused:
            if refused.status == 422:
                # Signed by the log's own key yet not consistent with what was cosigned: possible evidence
                # of a split view, which tlog-witness lets a witness keep. The checkpoint is public.
                _log.warning("witness refused an inconsistent checkpoint signed by %s: %s\n%s",
                             parsed.origin, refused.message, parsed.note)
            return _refusal(refused)
        return PlainTextResponse(done.cosignature)

    @app.get("/{hashed_origin}/checkpoint")
    def latest(hashed_origin: str) -> Response:
        # tlog-witness "Monitor Retrieval Mechanism": the latest cosigned checkpoint, or 404 if none.
        note = state.latest_note(hashed_origin) if _HEX.fullmatch(hashed_origin) else None
        if note is None:
            return PlainTextResponse("this witness has cosigned no checkpoint of that log\n", status_code=404)
        return PlainTextResponse(note)

    @app.get("/")
    def about() -> Response:
        return PlainTextResponse(f"{cosigner.vkey()}\n")

    return app
