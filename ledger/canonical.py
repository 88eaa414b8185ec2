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
from collections.abc import Iterator
from typing import Any

from .errors import InvalidInput

__all__ = [
    "VERSION",
    "MAX_DATA_BYTES",
    "as_doubles",
    "canonical_json",
    "number_text",
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

    Every finite float is accepted and written as ECMAScript writes that double
    (``number_text``). Raises ``InvalidInput`` for non-finite numbers, Python
    integers beyond ±2^53, non-string keys, unpaired surrogates, nesting deeper
    than four levels or more than 4 KiB.
    """
    plain = [True]
    ready = _ready(value, name, 0, plain)
    text = _ENCODER.encode(ready) if plain[0] else "".join(_serialise(value))
    if len(text) > MAX_DATA_BYTES:
        raise InvalidInput(f"{name} is larger than {MAX_DATA_BYTES} bytes", field=name)
    return text


def number_text(value: float) -> str:
    """ECMAScript's text of a finite double (ECMA-262 Number::toString, radix 10), as RFC 8785 §3.2.2.3 demands.

    The digits are the shortest that read back as ``value``; Python's ``repr``
    finds the same digits, only its choice between plain and exponent form differs.
    """
    if value == 0:
        return "0"  # -0 too: ECMAScript writes no sign for it
    sign = "-" if value < 0 else ""
    mantissa, _, exponent = repr(abs(value)).partition("e")
    whole, _, fraction = mantissa.partition(".")
    run = whole + fraction
    digits = run.lstrip("0")
    # ECMA-262's n: the value is 0.<digits> × 10^n
    n = len(whole) + (int(exponent) if exponent else 0) - (len(run) - len(digits))
    digits = digits.rstrip("0")
    k = len(digits)
    if k <= n <= 21:
        return sign + digits + "0" * (n - k)
    if 0 < n <= 21:
        return sign + digits[:n] + "." + digits[n:]
    if -6 < n <= 0:
        return sign + "0." + "0" * -n + digits
    tail = "." + digits[1:] if k > 1 else ""
    return f"{sign}{digits[0]}{tail}e{'+' if n > 0 else '-'}{abs(n - 1)}"


def _ready(value: Any, name: str, depth: int, plain: list[bool]) -> Any:
    """Validate ``value`` and return it ready for ``json.dumps``.

    ``json.dumps`` agrees with RFC 8785 on strings, integers, booleans, null and
    the order of ASCII keys. A float goes through it as the integer ECMAScript
    would print (``15`` for 15.0, ``9007199254740994`` for 2^53 + 2) or as itself
    when ``repr`` already gives ECMAScript's text; anything else (exponents,
    non-ASCII keys) clears ``plain[0]`` and the value goes to ``_serialise``.
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
        text = number_text(value)
        if text == repr(value):
            return value
        if value.is_integer() and "e" not in text:
            return int(text)  # the digits ECMAScript prints, not the double's exact value
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


def _serialise(value: Any) -> Iterator[str]:
    """RFC 8785 §3.2 text of a value ``_ready`` has accepted, in pieces."""
    if isinstance(value, float):
        yield number_text(value)
    elif isinstance(value, dict):
        yield "{"
        # §3.2.3: members sorted by their names' UTF-16 code units
        for position, key in enumerate(sorted(value, key=lambda k: k.encode("utf-16-be"))):
            yield ("," if position else "") + _ENCODER.encode(key) + ":"
            yield from _serialise(value[key])
        yield "}"
    elif isinstance(value, list):
        yield "["
        for position, item in enumerate(value):
            if position:
                yield ","
            yield from _serialise(item)
        yield "]"
    else:
        yield _ENCODER.encode(value)


def as_doubles(value: Any) -> Any:
    """``value`` decoded from canonical text, with every integer beyond ±2^53 read as the double it stands for.

    Canonical text writes a large integral double without a fraction
    (``123456789012345680000``); read back as an exact integer it would no longer
    equal the double it was written from.
    """
    if isinstance(value, int) and not isinstance(value, bool):
        return value if -(2**53) < value < 2**53 else float(value)
    if isinstance(value, dict):
        return {key: as_doubles(item) for key, item in value.items()}
    if isinstance(value, list):
        return [as_doubles(item) for item in value]
    return value


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
