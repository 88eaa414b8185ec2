"""Request bodies: UTF-8 JSON holding finite numbers only, for every API route.

FastAPI reads a JSON body with ``json.loads``, which also reads UTF-16 and
UTF-32, takes ``NaN``, ``Infinity`` and ``-Infinity`` (not JSON: RFC 8259 §6
has no such numbers) and reads ``1e999`` as infinity; the ledger then stored
such numbers as null. Routes of ``JSONRoute`` read their body instead with
``strict_json``, which refuses, in this order:

1. a ``charset`` parameter other than UTF-8 in ``Content-Type``: 415;
2. a body that is not UTF-8 (RFC 8259 §8.1: JSON exchanged between systems is
   UTF-8, without a byte order mark): a UTF-16 or UTF-32 byte order mark, a
   zero byte among the first two (the first two characters of any JSON text
   are ASCII, so zeros there mean UTF-16 or UTF-32: RFC 4627 §3), a UTF-8
   byte order mark, or bytes that do not decode: 400 ``not-utf8``;
3. malformed JSON: 400 ``malformed-json``, as before;
4. ``NaN``, ``Infinity``, ``-Infinity``, or a number beyond a 64-bit float
   (``1e999``): 422 ``non-finite-number``, for the whole body, even a batch's,
   since such a body is not JSON at all.

These come before authentication: the body is read before any dependency runs.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Coroutine
from typing import Any

from fastapi.routing import APIRoute
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

__all__ = ["BodyRefused", "JSONRoute", "strict_json"]

_BYTE_ORDER_MARKS = (b"\x00\x00\xfe\xff", b"\xff\xfe\x00\x00", b"\xfe\xff", b"\xff\xfe")
_UTF8 = frozenset({"utf-8", "utf8"})


class BodyRefused(HTTPException):
    """A body refused before its schema is looked at; ``slug`` names the problem type."""

    def __init__(self, status: int, slug: str, detail: str) -> None:
        super().__init__(status, detail)
        self.slug = slug


def _not_utf8(why: str) -> BodyRefused:
    return BodyRefused(400, "not-utf8", f"the request body {why}; send JSON in UTF-8 (RFC 8259 §8.1)")


def _refuse_constant(name: str) -> Any:
    raise BodyRefused(422, "non-finite-number",
                      f"the request body holds {name}, which JSON has no number for (RFC 8259 §6); send a finite number")


def _finite(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        shown = text if len(text) <= 40 else text[:37] + "..."
        raise BodyRefused(422, "non-finite-number",
                          f"the number {shown} in the request body is beyond a 64-bit float; send a finite number")
    return value


def _check_charset(content_type: str | None) -> None:
    for parameter in (content_type or "").split(";")[1:]:
        name, _, value = parameter.partition("=")
        if name.strip().lower() == "charset" and value.strip().strip('"').lower() not in _UTF8:
            raise BodyRefused(415, "unsupported-media-type",
                              f"charset={value.strip()} is not accepted; send JSON in UTF-8 (RFC 8259 §8.1)")


def strict_json(body: bytes, content_type: str | None = None) -> Any:
    """The JSON value of ``body``, or ``BodyRefused`` / ``json.JSONDecodeError`` as the module lists."""
    _check_charset(content_type)
    if body.startswith(_BYTE_ORDER_MARKS) or b"\x00" in body[:2]:
        raise _not_utf8("is UTF-16 or UTF-32")
    if body.startswith(b"\xef\xbb\xbf"):
        raise _not_utf8("starts with a byte order mark")
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as error:
        raise _not_utf8(f"is not UTF-8 (byte {error.start})") from None
    return json.loads(text, parse_constant=_refuse_constant, parse_float=_finite)


class _StrictRequest(Request):
    async def json(self) -> Any:
        if not hasattr(self, "_json"):
            self._json = strict_json(await self.body(), self.headers.get("content-type"))
        return self._json


class JSONRoute(APIRoute):
    """An API route whose JSON body is read by ``strict_json``."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def strict(request: Request) -> Response:
            return await handler(_StrictRequest(request.scope, request.receive))

        return strict
