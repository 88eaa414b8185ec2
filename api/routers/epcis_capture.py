"""GS1 EPCIS 2.0 capture (the REST binding's ``/capture``): a document in, 202 and a job to poll.

Errors of these two routes carry EPCIS exception types (``epcisException:ValidationException``,
``...:CaptureLimitExceededException``, ``...:SecurityException``) as the problem ``type``, as the
binding's openapi.yaml names them.
"""

from __future__ import annotations

import hashlib
import json
from typing import Annotated, Any

from fastapi import APIRouter, Path, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, Response

from ledger import capture
from ledger.service import Actor, Ledger

from ..body import BodyRefused, JSONRoute, strict_json
from ..deps import Allowed, LedgerDep, ReadConn, request_transaction
from ..errors import PROBLEM, problem_responses

__all__ = ["router", "CAPTURE_PATH", "epcis_problem"]

router = APIRouter(route_class=JSONRoute, tags=["epcis"], responses=problem_responses(422))
CAPTURE_PATH = "/v1/epcis/capture"
_HEADERS = {"GS1-EPCIS-Version": "2.0.0", "GS1-CBV-Version": "2.0.0", "GS1-Capture-Error-Behaviour": "proceed"}
_TITLES = {400: "Document refused", 403: "Forbidden", 413: "Capture payload too large"}


def epcis_problem(status: int, exception: str, detail: str, pointer: str | None = None) -> JSONResponse:
    body: dict[str, Any] = {"type": f"epcisException:{exception}", "title": _TITLES.get(status, "Error"),
                            "status": status, "detail": detail}
    if pointer:
        body["instance"] = pointer
    return JSONResponse(body, status_code=status, media_type=PROBLEM, headers=_HEADERS)


@router.post(
    CAPTURE_PATH, status_code=202,
    responses={202: {"description": "The document is stored as a capture job; poll the URL in `Location`",
                     "headers": {"Location": {"schema": {"type": "string"}}}},
               **problem_responses(400, 401, 403, 413, 415)},
    openapi_extra={"requestBody": {"required": True, "content": {
        "application/json": {"schema": {"type": "object"}}, "application/ld+json": {"schema": {"type": "object"}}}}},
)
async def capture_document(request: Request, actor: Allowed("epcis.capture"), ledger: LedgerDep) -> Response:
    """Capture an EPCISDocument (`application/json` or `application/ld+json`): 202 and `Location: /v1/epcis/capture/{id}`.

    The whole document is refused (4xx, nothing stored) when it is not EPCIS 2.0 JSON; otherwise each event is
    captured on its own, as `POST /v1/events` would record it for this account (`GS1-Capture-Error-Behaviour:
    proceed`: a refused event changes nothing and the others go in). docs/epcis.md "Capture".
    """
    behaviour = request.headers.get("GS1-Capture-Error-Behaviour", "proceed").strip().lower()
    if behaviour != "proceed":
        return epcis_problem(400, "ValidationException", "this ledger captures with GS1-Capture-Error-Behaviour "
                             "proceed only: each refused event changes nothing and the others are recorded")
    body = await request.body()
    settings: capture.CaptureSettings = request.app.state.capture_settings
    try:
        job_id = await run_in_threadpool(_accept, ledger, actor, body, request.headers.get("content-type"), settings)
    except capture.DocumentRefused as refused:
        return epcis_problem(refused.status, refused.exception, refused.detail, refused.pointer)
    request.app.state.capture_worker.wake()
    return Response(status_code=202, headers={"Location": f"{CAPTURE_PATH}/{job_id}", **_HEADERS})


def _accept(ledger: Ledger, actor: Actor, body: bytes, content_type: str | None,
            settings: capture.CaptureSettings) -> str:
    try:
        document = strict_json(body, content_type)
    except BodyRefused as refused:
        raise capture.DocumentRefused(str(refused.detail)) from None
    except json.JSONDecodeError as error:
        raise capture.DocumentRefused(f"the body is not JSON: {error.msg} at line {error.lineno}, "
                                      f"column {error.colno}") from None
    digest = hashlib.sha256(body).digest()
    with request_transaction(ledger) as connection:
        return capture.accept(connection, ledger, actor, document, digest, settings)


@router.get(CAPTURE_PATH + "/{capture_id}", responses=problem_responses(401, 403, 404))
def capture_job(capture_id: Annotated[str, Path(max_length=64)], actor: Allowed("epcis.capture.read"),
                connection: ReadConn) -> JSONResponse:
    """The capture job: `running`, `success`, `errors` (EPCIS exceptions) and each event's outcome so far.

    Visible to the account that captured it and to admins; to anyone else it does not exist (404).
    """
    return JSONResponse(capture.report(connection, actor, capture_id), headers=_HEADERS)
