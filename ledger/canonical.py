"""The one byte encoding of an event that is hashed (version 1).

An event's canonical bytes are the UTF-8 JSON Canonicalization Scheme (RFC 8785)
serialisation of this object, and its ``hash`` is SHA-256 of those bytes::

    {"cylinder": str, "data": object, "idempotency_key": str, "kind": str,
     "location": {"lat": number, "lon": number} | null,
     "occurred_at": str, "party": str, "person": str | null,
     "prev_hash": lowercase hex | null, "recorded_at": str, "seq": int,
     "to": str | null, "v": 1}

Times are ``YYYY-MM-DDTHH:MM:SS.ffffffZ`` (UTC, six fraction digits). The exact
rules, with worked vectors, are in docs/canonical.md; tests/unit/golden holds the
vectors every implementation must reproduce.

Identifiers are restricted (``ledger.domain``) to characters JSON never escapes,
so the writer and the verifier assemble the bytes from a template and only the
free-form parts (``data``, ``location``) go through a JCS serialiser, once, when
the event is written. Their canonical text is what the database stores.
"""

from __future__ import annotations

import hashlib
import json
import math
from typing import Any

import rfc8785

from .errors import InvalidInput

__all__ = [
    "VERSION",
    "MAX_DATA_BYTES",
    "canonical_json",
    "event_bytes",
    "event_hash",
]

VERSION = 1
MAX_DATA_BYTES = 4096
_MAX_DEPTH = 4

_ENCODER = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
_TEMPLATE = (
    '{"cylinder":"%s","data":%s,"idempotency_key":"%s","kind":"%s","location":%s,'
    '"occurred_at":"%s","party":"%s","person":%s,"prev_hash":%s,"recorded_at":"%s",'
    '"seq":%d,"to":%s,"v":1}'
)


def canonical_json(value: Any, name: str = "data") -> str:
    """RFC 8785 text of ``value``; refuses what JSON cannot carry exactly.

    Raises ``InvalidInput`` for non-finite numbers, integers beyond ±2^53,
    non-string keys, unpaired surrogates, nesting deeper than four levels or
    more than 4 KiB.
    """
    plain = [True]
    ready = _ready(value, name, 0, plain)
    if plain[0]:
        text = _ENCODER.encode(ready)
    else:
        try:
            text = rfc8785.dumps(value).decode("utf-8")
        except (rfc8785.CanonicalizationError, TypeError, ValueError, UnicodeError) as exc:
            raise InvalidInput(f"{name} cannot be encoded canonically: {exc}", field=name) from None
    if len(text) > MAX_DATA_BYTES:
        raise InvalidInput(f"{name} is larger than {MAX_DATA_BYTES} bytes", field=name)
    return text


def _ready(value: Any, name: str, depth: int, plain: list[bool]) -> Any:
    """Validate ``value`` and return it ready for ``json.dumps``.

    ``json.dumps`` agrees with RFC 8785 on strings, integers, booleans, null and
    the order of ASCII keys, and on floats that are integral (RFC 8785 writes
    ``15`` for 15.0) or in plain decimal notation. Anything else (exponents,
    non-ASCII keys) clears ``plain[0]`` and goes to the full serialiser.
    """
    if isinstance(value, str):
        if not value.isascii():
            try:
                value.encode("utf-8")
            except UnicodeEncodeError:
                raise InvalidInput(f"{name} holds an unpaired surrogate", field=name) from None
        return value
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, int):
        if not -(2**53) < value < 2**53:
            raise InvalidInput(f"{name} holds an integer beyond ±2^53, which JSON cannot carry exactly", field=name)
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise InvalidInput(f"{name} holds a number that is not finite", field=name)
        if value.is_integer() and abs(value) < 2**53:
            return int(value)
        if "e" in repr(value):
            plain[0] = False
        return value
    if depth >= _MAX_DEPTH:
        raise InvalidInput(f"{name} is nested too deeply", field=name)
    if isinstance(value, dict):
        ready = {}
        for key, item in value.items():
            if not isinstance(key, str):
                raise InvalidInput(f"{name} keys must be strings", field=name)
            if not key.isascii():
                plain[0] = False
            ready[_ready(key, name, depth, plain)] = _ready(item, name, depth + 1, plain)
        return ready
    if isinstance(value, list):
        return [_ready(item, name, depth + 1, plain) for item in value]
    raise InvalidInput(f"{name} holds a value JSON cannot carry", field=name)


def _opt(text: str | None) -> str:
    return "null" if text is None else '"' + text + '"'


def event_bytes(
    *,
    cylinder: str,
    seq: int,
    kind: str,
    occurred_at: str,
    recorded_at: str,
    party: str,
    person: str | None,
    to: str | None,
    location_json: str,
    data_json: str,
    idempotency_key: str,
    prev_hash_hex: str | None,
) -> bytes:
    """Canonical bytes of one event from its stored text fields."""
    return (
        _TEMPLATE
        % (
            cylinder,
            data_json,
            idempotency_key,
            kind,
            location_json,
            occurred_at,
            party,
            _opt(person),
            _opt(prev_hash_hex),
            recorded_at,
            seq,
            _opt(to),
        )
    ).encode("utf-8")


def event_hash(canonical: bytes) -> bytes:
    return hashlib.sha256(canonical).digest()
