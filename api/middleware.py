"""ASGI middleware: the request-size limit and the access log.

They are plain ASGI callables (no per-request task or buffering) so they cost
little on the hot path of a driver's scan.
"""

from __future__ import annotations

import itertools
import json
import logging
import os
import re
import time
from typing import Any

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .errors import PROBLEM, problem_body

__all__ = ["BodyTooLarge", "BodyLimit", "AccessLog", "MAX_BODY_BYTES"]

MAX_BODY_BYTES = 2 * 1024 * 1024
# A handling, a citizen's report or a safety check's photo (docs/cases.md, citizens.md, custody.md):
# three photos of at most 5 MB each, and the form around them.
PHOTO_BODY_BYTES = 16 * 1024 * 1024
_PHOTO_PATHS = re.compile(r"/(v1/findings/\d+/handle|findings/\d+/actions|v1/reports|report|v1/photos|driver/photo)")
access = logging.getLogger("ledger.access")


class _RequestIds:
    """Request ids unique across processes and restarts: a random prefix per process, then a counter.

    Cheaper than a UUID per request (which reads the OS's random source every time).
    """

    def __init__(self) -> None:
        self._pid = -1

    def next(self) -> str:
        if self._pid != os.getpid():  # a forked worker draws its own prefix
            self._pid, self._prefix, self._count = os.getpid(), os.urandom(4).hex(), itertools.count()
        return f"{self._prefix}{next(self._count):08x}"


_request_ids = _RequestIds()


class BodyTooLarge(HTTPException):
    """Raised from ``receive`` once a body passes the limit; FastAPI re-raises HTTPExceptions."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, f"the request body exceeds {limit} bytes")


async def _send_problem(send: Send, status: int, detail: str, kind: str | None = None) -> None:
    body = json.dumps({**problem_body(status, detail), **({"type": kind} if kind else {})}).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", PROBLEM.encode()), (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", ()):
        if key == name:
            return value.decode("latin-1")
    return None


class BodyLimit:
    """Refuses bodies over ``limit`` bytes by counting what arrives, whatever Content-Length says."""

    def __init__(self, app: ASGIApp, limit: int = MAX_BODY_BYTES, wider: dict[str, tuple[int, str]] | None = None) -> None:
        """``wider``: path -> (limit, problem type) for the few routes that take larger bodies (EPCIS capture)."""
        self.app = app
        self.limit = limit
        self.wider = wider or {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit, kind = self.wider.get(scope.get("path", ""), (self.limit, None))
        if _PHOTO_PATHS.fullmatch(scope["path"]):
            limit = max(limit, PHOTO_BODY_BYTES)
        declared = _header(scope, b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            await _send_problem(send, 413, f"the request body exceeds {limit} bytes", kind)
            return
        seen = 0

        async def counted() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    raise BodyTooLarge(limit)
            return message

        await self.app(scope, counted, send)


class AccessLog:
    """One JSON line per request: never a header value, a query's secrets or a body.

    The route template (``/v1/end-users/{ref}``) is logged instead of the raw path,
    so identifiers that name people never reach the log.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500
        request_id = _request_ids.next()
        scope.setdefault("state", {})["request_id"] = request_id

        async def observed(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", ()), (b"x-request-id", request_id.encode())]
            await send(message)

        try:
            await self.app(scope, receive, observed)
        finally:
            if access.isEnabledFor(logging.INFO):
                access.info(json.dumps(_record(scope, status, started, request_id)))


def _record(scope: Scope, status: int, started: float, request_id: str) -> dict[str, Any]:
    route = scope.get("route")
    state = scope.get("state", {})
    client = scope.get("client")
    return {
        "at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "request_id": request_id,
        "method": scope["method"],
        "route": getattr(route, "path", None) or "(unmatched)",
        "status": status,
        "ms": round((time.perf_counter() - started) * 1000, 2),
        "account": state.get("account"),
        "role": state.get("role"),
        "client": client[0] if client else None,
    }
