"""Every error the API answers, as RFC 9457 ``application/problem+json``, mapped in one place.

    LedgerError subclass          status
    InvalidInput, Rejected        422
    ProofInvalid (ChainBroken)    422  (a proof, bundle or signature the client sent does not verify)
    NotFound                      404
    PermissionDenied              403
    Conflict (IdempotencyConflict) 409
    RateLimited                   429  (with ``Retry-After``)
    PeerUnavailable               503  (another city's ledger cannot be reached; nothing written)
    CheckpointMismatch            500  (the stored ledger fails a cryptographic check: tampering)
    no or unknown bearer token    401
    body too large                413
    not a JSON content type       415  (or a charset other than UTF-8)
    a body that is not UTF-8      400  (api.body)
    malformed JSON                400
    NaN, Infinity, 1e999          422  (api.body)
    request validation            422, with ``errors: [{field, message}]``

Anything else is a bug: it is logged with its traceback and answered with a
500 problem that reveals nothing of the server's internals.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict
from starlette.exceptions import HTTPException
from starlette.routing import Match

from ledger.errors import (
    Conflict, IntegrityError, InvalidInput, LedgerError, NotFound, PeerUnavailable, PermissionDenied, ProofInvalid,
    RateLimited, Rejected, Unavailable,
)

__all__ = ["Problem", "FieldError", "PROBLEM", "problem_json", "problem_responses", "status_of", "install"]

PROBLEM = "application/problem+json"
log = logging.getLogger("ledger.api")

_STATUS: tuple[tuple[type[LedgerError], int], ...] = (
    (InvalidInput, 422), (Rejected, 422), (NotFound, 404), (PermissionDenied, 403),
    (Conflict, 409), (ProofInvalid, 422), (IntegrityError, 500), (RateLimited, 429), (Unavailable, 503),
    (PeerUnavailable, 503),
)
_TITLES = {
    400: "Malformed request", 401: "Not authenticated", 403: "Forbidden", 404: "Not found",
    405: "Method not allowed", 409: "Conflict", 413: "Request body too large",
    415: "Unsupported media type", 422: "Invalid input", 429: "Too many requests", 500: "Internal error",
    503: "Service unavailable",
}
_SLUGS = {
    400: "malformed-request", 401: "unauthenticated", 403: "forbidden", 404: "not-found",
    405: "method-not-allowed", 409: "conflict", 413: "body-too-large", 415: "unsupported-media-type",
    422: "invalid-input", 429: "rate-limited", 500: "internal-error", 503: "unavailable",
}


class FieldError(BaseModel):
    field: str
    message: str


class Problem(BaseModel):
    """An RFC 9457 problem: ``type`` is a stable URN naming the kind of failure."""

    model_config = ConfigDict(json_schema_extra={"example": {
        "type": "urn:cylinder-ledger:problem:not-found", "title": "Not found", "status": 404,
        "detail": "no cylinder 7K3Q9XZ2ABM"}})

    type: str
    title: str
    status: int
    detail: str
    errors: list[FieldError] | None = None


def status_of(error: LedgerError) -> int:
    for kind, status in _STATUS:
        if isinstance(error, kind):
            return status
    return 422


def problem_body(status: int, detail: str, slug: str | None = None,
                 errors: list[dict[str, str]] | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {
        "type": f"urn:cylinder-ledger:problem:{slug or _SLUGS.get(status, 'error')}",
        "title": _TITLES.get(status, "Error"), "status": status, "detail": detail,
    }
    if errors:
        body["errors"] = errors
    return body


def ledger_problem(error: LedgerError) -> dict[str, Any]:
    """The problem body of a ledger error (also used for rejected batch items)."""
    status = status_of(error)
    errors = [{"field": error.field, "message": error.message}] if error.field else None
    # Tampering is said out loud: the log is public, and hiding a broken chain would help no one.
    detail = f"{error.message} (operators: run `ledger verify`)" if status == 500 else error.message
    return problem_body(status, detail, error.code, errors)


def problem_json(status: int, detail: str, *, headers: dict[str, str] | None = None,
                 slug: str | None = None, errors: list[dict[str, str]] | None = None) -> JSONResponse:
    return JSONResponse(problem_body(status, detail, slug, errors), status_code=status,
                        media_type=PROBLEM, headers=headers)


def problem_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` entries documenting each listed error as a problem."""
    return {
        status: {"model": Problem, "description": _TITLES.get(status, "Error"),
                 "content": {PROBLEM: {"schema": {"$ref": "#/components/schemas/Problem"}}}}
        for status in statuses
    }


def _field(location: tuple[Any, ...]) -> str:
    parts = [str(part) for part in location if part not in ("body", "query", "path", "header")]
    return ".".join(parts) or "body"


def validation_errors(raw: list[dict[str, Any]]) -> list[dict[str, str]]:
    return [{"field": _field(tuple(item.get("loc", ()))), "message": item.get("msg", "invalid")}
            for item in raw]


async def _on_ledger_error(_request: Request, error: LedgerError) -> JSONResponse:
    body = ledger_problem(error)
    if body["status"] == 500:
        log.error("integrity failure: %s", error.message)
    headers = {"Retry-After": str(error.retry_after)} if isinstance(error, RateLimited) else None
    return JSONResponse(body, status_code=body["status"], media_type=PROBLEM, headers=headers)


async def _on_validation(_request: Request, error: RequestValidationError) -> JSONResponse:
    raw = list(error.errors())
    if any(item.get("type") == "json_invalid" for item in raw):
        return problem_json(400, "the request body is not valid JSON", slug="malformed-json")
    return problem_json(422, "the request does not match the schema; see errors",
                        errors=validation_errors(raw))


async def _on_http(request: Request, error: HTTPException) -> JSONResponse:
    detail = error.detail if isinstance(error.detail, str) else _TITLES.get(error.status_code, "Error")
    headers = error.headers
    if error.status_code == 405:  # Starlette names only the first route's methods; a path may have several
        headers = {**(headers or {}), "Allow": ", ".join(sorted(_methods_at(request)))}
    return problem_json(error.status_code, detail, headers=headers, slug=getattr(error, "slug", None))


def _methods_at(request: Request) -> set[str]:
    methods: set[str] = set()
    for route in request.app.router.routes:
        if getattr(route, "methods", None) and route.matches(request.scope)[0] is not Match.NONE:
            methods |= route.methods
    return methods


async def _on_bug(request: Request, error: Exception) -> JSONResponse:
    log.exception("unhandled error on %s %s", request.method, request.url.path, exc_info=error)
    return problem_json(500, "an internal error occurred; it has been logged")


def install(app: FastAPI) -> None:
    app.add_exception_handler(LedgerError, _on_ledger_error)
    app.add_exception_handler(RequestValidationError, _on_validation)
    app.add_exception_handler(HTTPException, _on_http)
    app.add_exception_handler(Exception, _on_bug)
