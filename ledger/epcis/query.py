"""The subset of the EPCIS 2.0 query language the ledger answers (EPCIS 2.0 §8.2.7.1, REST binding).

``parse_query`` reads the URL's parameters into the constraints of a stored-event query (plain
values: the service turns them into the storage's filter). Lists are pipe-delimited, as the REST
binding's OpenAPI says (``style: pipeDelimited``). A malformed value is ``InvalidInput`` naming the
parameter; a well-formed value that names nothing of this ledger simply matches nothing, as EPCIS says.

| parameter | selects |
|---|---|
| ``MATCH_anyEPC`` | events of these cylinders (GRAI or ``urn:x-cylinder-ledger:cyl:``) |
| ``GE_eventTime``, ``LT_eventTime`` | eventTime ≥ / < (RFC 3339 with offset) |
| ``GE_recordTime``, ``LT_recordTime`` | recordTime ≥ / < |
| ``EQ_bizStep`` | events with one of these bizSteps (bare CBV words or URIs) |
| ``EQ_source_possessing_party``, ``EQ_source_location`` | events with such a source (party / site URIs) |
| ``EQ_destination_possessing_party``, ``EQ_destination_location`` | events with such a destination |
| ``EQ_source``, ``EQ_destination`` | this ledger's shorthand: a source / destination of either type |
"""

from __future__ import annotations

from typing import Any

from ..domain import EventKind, format_time, parse_time
from ..errors import InvalidInput
from .ids import cylinder_of, party_of, user_of
from .mapping import BIZSTEPS, _short

__all__ = ["PARAMETERS", "parse_query", "kinds_for_biz_step"]

_TIMES = {"GE_eventTime": "event_from", "LT_eventTime": "event_until",
          "GE_recordTime": "recorded_from", "LT_recordTime": "recorded_until"}
_PARTY_PARAMETERS = ("EQ_source", "EQ_source_possessing_party", "EQ_source_location",
                     "EQ_destination", "EQ_destination_possessing_party", "EQ_destination_location")
PARAMETERS = ("MATCH_anyEPC", "EQ_bizStep", *_TIMES, *_PARTY_PARAMETERS)

_D, _R, _DL = EventKind.DISPATCH.value, EventKind.RETURN.value, EventKind.DELIVER.value
_HANDOVERS = (_D, _R)
_ARRIVALS = (EventKind.RECEIVE.value, EventKind.COLLECT.value)

# Where ``to_epcis`` puts each party, as (kinds, column) pairs: the same rules read backwards.
_SOURCES = {
    "possessing_party": [((_D, _R, _DL), "party")],
    "location": [(_HANDOVERS, "party")],
}
_DESTINATIONS = {
    "possessing_party": [(_HANDOVERS, "to_ref"), ((EventKind.REGISTER.value, *_ARRIVALS), "party")],
    "location": [(_HANDOVERS, "to_ref"), (_ARRIVALS, "party")],
}
_DELIVERED_TO = [((_DL,), "to_ref")]  # an end user is only ever a delivery's possessing destination


def kinds_for_biz_step(value: str) -> list[str]:
    """The event kinds exported with bizStep ``value`` (a bare CBV word, its URN or Web URI, or ours)."""
    step = _short(value, "BizStep-")
    return [kind.value for kind, mapped in BIZSTEPS.items() if mapped.biz_step == step]


def _values(params: dict[str, Any], name: str) -> list[str] | None:
    raw = params.get(name)
    if raw is None:
        return None
    values = [part.strip() for part in str(raw).split("|")]
    if not values or any(not value or len(value) > 200 for value in values) or len(values) > 100:
        raise InvalidInput(f"{name} must be 1 to 100 values of at most 200 characters, separated by |", field=name)
    return values


def _parties(name: str, uris: list[str]) -> list[tuple[tuple[str, ...], str, list[str]]]:
    side, _, kind = name.partition("_")[2].partition("_")
    table = _SOURCES if side == "source" else _DESTINATIONS
    types = [kind] if kind else ["possessing_party", "location"]
    parties = [p for p in (party_of(uri) for uri in uris) if p is not None]
    users = [u for u in (user_of(uri) for uri in uris) if u is not None]
    found: list[tuple[tuple[str, ...], str, list[str]]] = []
    for sdt in types:
        found += [(kinds, column, parties) for kinds, column in table[sdt] if parties]
    if side == "destination" and "possessing_party" in types and users:
        found += [(kinds, column, users) for kinds, column in _DELIVERED_TO]
    return found


def parse_query(params: dict[str, Any]) -> dict[str, Any]:
    """The EPCIS query ``params`` as keyword arguments of the storage's event filter."""
    unknown = sorted(set(params) - set(PARAMETERS))
    if unknown:
        raise InvalidInput(f"{unknown[0]} is not a query parameter this ledger answers "
                           f"(it answers {', '.join(PARAMETERS)})", field=unknown[0])
    selected: dict[str, Any] = {}
    epcs = _values(params, "MATCH_anyEPC")
    if epcs is not None:
        selected["cylinders"] = sorted({c for c in (cylinder_of(epc) for epc in epcs) if c is not None})
    steps = _values(params, "EQ_bizStep")
    if steps is not None:
        selected["kinds"] = sorted({kind for step in steps for kind in kinds_for_biz_step(step)})
    for name, key in _TIMES.items():
        if params.get(name) is not None:
            selected[key] = format_time(parse_time(params[name], name))
    groups = []  # each parameter is one condition, any of whose alternatives may match; all must hold
    for name in _PARTY_PARAMETERS:
        uris = _values(params, name)
        if uris is not None:
            groups.append(_parties(name, uris))
    if groups:
        selected["parties"] = groups
    return selected
