"""The JSON shape of an event, shared by the API, bundles and offline verifiers."""

from __future__ import annotations

from typing import Any

import rfc8785

from .canonical import event_hash
from .domain import Event, format_time
from .errors import ProofInvalid

__all__ = ["event_json", "hash_of_json", "jcs"]

# Fields of the JSON form that the hash covers (docs/canonical.md).
HASHED = ("cylinder", "seq", "kind", "occurred_at", "recorded_at", "party", "person", "to",
          "location", "data", "idempotency_key", "prev_hash")


def event_json(event: Event) -> dict[str, Any]:
    return {
        "id": event.id,
        "cylinder": event.cylinder,
        "seq": event.seq,
        "kind": event.kind.value,
        "occurred_at": format_time(event.occurred_at),
        "recorded_at": format_time(event.recorded_at),
        "party": event.party,
        "person": event.person,
        "to": event.to,
        "location": None if event.location is None else event.location.as_dict(),
        "data": event.data,
        "idempotency_key": event.idempotency_key,
        "prev_hash": None if event.prev_hash is None else event.prev_hash.hex(),
        "hash": event.hash.hex(),
        "log_index": event.log_index,
    }


def hash_of_json(obj: dict[str, Any]) -> bytes:
    """Recompute an event's hash from its JSON form, by full RFC 8785 canonicalisation.

    This is the verifier's independent path: it shares no template and no number
    formatting with the writer.
    """
    try:
        body = {name: obj[name] for name in HASHED}
    except (KeyError, TypeError):
        raise ProofInvalid("an event in the bundle lacks a hashed field") from None
    body["v"] = 1
    try:
        return event_hash(jcs(body))
    except (rfc8785.CanonicalizationError, TypeError, ValueError, OverflowError) as exc:
        raise ProofInvalid(f"an event in the bundle cannot be canonicalised: {exc}") from None


def jcs(value: Any) -> bytes:
    """RFC 8785 bytes of a value decoded from JSON text.

    Every JSON number is read as the IEEE 754 double it denotes (RFC 8785 §3.2.2.3,
    I-JSON): an integer written beyond ±2^53 stands for the nearest double, as
    ``JSON.parse`` reads it, and is canonicalised as that double.
    Raises ``rfc8785.CanonicalizationError``, ``OverflowError`` or ``ValueError``.
    """
    return rfc8785.dumps(_as_doubles(value))


def _as_doubles(value: Any) -> Any:
    if isinstance(value, int) and not isinstance(value, bool) and not -(2**53) < value < 2**53:
        return float(value)  # correctly rounded, as JSON.parse rounds; rfc8785 refuses such ints
    if isinstance(value, dict):
        return {key: _as_doubles(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_as_doubles(item) for item in value]
    return value
