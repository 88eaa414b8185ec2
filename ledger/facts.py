"""The facts an event's ``data`` may carry, kind by kind, and the check every door runs on them.

Everything in ``data`` is hashed into a chain that can never be erased, so each
kind's keys are a closed set (``DATA_KEYS``) and a key that is not listed is
refused by name rather than kept; free text about people goes in a report's
note, which is stored beside the chain (docs/privacy.md).
"""

from __future__ import annotations

import math
from typing import Any

from .domain import EventKind, _show, check_identifier, iso_day
from .errors import InvalidInput
from .safety import check_shape
from .text import readable

__all__ = ["DATA_KEYS", "SCRAP_REASONS", "NOTE_LENGTH", "check_event_data", "check_note"]


def _is_kg(value: Any, low: float) -> bool:
    return (isinstance(value, (int, float)) and not isinstance(value, bool)
            and math.isfinite(value) and low < value <= 1000)


_REGISTER_FACTS = (
    ("owner", "an identifier"), ("serial", "text"), ("manufacturer", "text"),
    ("manufactured_on", "a date"), ("model", "text"), ("tare_kg", "kilograms"),
    ("design_life_years", "whole years"), ("last_inspected_on", "a date"),
    ("next_inspection_due", "a date"),
)

# Why an inspection station scraps a cylinder: a closed list, so no free text reaches the chain.
SCRAP_REASONS = frozenset({
    "design service life reached", "failed periodic inspection", "damaged", "forced scrap at 12 years",
})

# The keys each kind's data may hold (CONTRACT.md "Cylinders and events").
DATA_KEYS: dict[EventKind, frozenset[str]] = {
    EventKind.REGISTER: frozenset(name for name, _ in _REGISTER_FACTS),
    EventKind.FILL: frozenset({"net_kg"}),
    # to_log, from_log: set by the ledger on a chain that crosses city lines, never sent (docs/regions.md)
    EventKind.DISPATCH: frozenset({"vehicle", "driver", "escort", "to_log"}),
    EventKind.RETURN: frozenset({"vehicle", "driver", "escort", "to_log"}),
    EventKind.RECEIVE: frozenset({"from_log"}),
    EventKind.DELIVER: frozenset({"net_kg", "safety_check"}),
    EventKind.COLLECT: frozenset(),
    EventKind.INSPECT: frozenset({"result", "next_inspection_due"}),
    EventKind.SCRAP: frozenset({"reason"}),
    EventKind.REPORT: frozenset({"note"}),
}
# relayed_from: set by the ledger holding a chain on an event another city relayed to it (docs/regions.md)
DATA_KEYS.update({kind: keys | {"relayed_from"} for kind, keys in DATA_KEYS.items()
                  if kind not in (EventKind.REGISTER, EventKind.DELIVER, EventKind.COLLECT, EventKind.REPORT)})


def _unknown_key(kind: EventKind, data: dict[str, Any]) -> None:
    allowed = DATA_KEYS[kind]
    for name in data:
        if name not in allowed:
            shown = name if isinstance(name, str) and name.isprintable() and len(name) <= 40 else _show(name)
            keys = ", ".join(sorted(allowed)) or "none"
            raise InvalidInput(f"data.{shown} is not a fact of {kind.value} (its keys: {keys})",
                               field=f"data.{shown}")


def check_event_data(kind: EventKind, data: Any) -> dict[str, Any]:
    """Return ``data`` if it carries the facts ``kind`` needs and nothing else (CONTRACT.md), else raise
    ``InvalidInput`` naming the field (``data.<key>``).

    Each kind's keys are the closed set ``DATA_KEYS[kind]``; every text value passes
    ``ledger.text.readable``. Only shapes are checked here; whether the facts are legal
    (an overfill, an overdue inspection) is for ``ledger.rules`` to judge after recording.
    """
    if not isinstance(data, dict):
        raise InvalidInput("data must be an object", field="data")
    if not DATA_KEYS[kind].issuperset(data):
        _unknown_key(kind, data)
    if kind is EventKind.REGISTER:
        for name, what in _REGISTER_FACTS:
            value = data.get(name)
            if what == "a date":
                ok = iso_day(value) is not None
            elif what == "kilograms":
                ok = _is_kg(value, 0)
            elif what == "whole years":
                ok = isinstance(value, int) and not isinstance(value, bool) and 0 < value <= 100
            else:
                ok = isinstance(value, str) and value.strip() != ""
            if not ok:
                raise InvalidInput(f"register needs data.{name} ({what})", field=f"data.{name}")
            if what == "text":
                readable(value, f"data.{name}")
    elif kind is EventKind.FILL and not _is_kg(data.get("net_kg"), 0):
        raise InvalidInput("a fill needs data.net_kg, the net weight filled in kg", field="data.net_kg")
    elif kind is EventKind.DELIVER:
        if "net_kg" in data and not _is_kg(data["net_kg"], -1e-9):
            raise InvalidInput("data.net_kg must be the net weight at the door in kg", field="data.net_kg")
        if "safety_check" in data:
            check_shape(data["safety_check"])
    elif kind is EventKind.INSPECT:
        if data.get("result") not in ("pass", "fail"):
            raise InvalidInput("an inspection needs data.result: pass or fail", field="data.result")
        if data["result"] == "pass" and iso_day(data.get("next_inspection_due")) is None:
            raise InvalidInput("a passed inspection needs data.next_inspection_due (YYYY-MM-DD)",
                               field="data.next_inspection_due")
        if "next_inspection_due" in data and iso_day(data["next_inspection_due"]) is None:
            raise InvalidInput("data.next_inspection_due must be a date (YYYY-MM-DD)",
                               field="data.next_inspection_due")
    elif kind is EventKind.SCRAP and "reason" in data and data["reason"] not in SCRAP_REASONS:
        raise InvalidInput("data.reason must be one of: " + ", ".join(sorted(SCRAP_REASONS)), field="data.reason")
    elif kind is EventKind.REPORT:
        check_note(data.get("note"))
    elif kind in (EventKind.DISPATCH, EventKind.RETURN):
        for name in ("driver", "escort"):
            if name in data:
                check_identifier(data[name], f"data.{name}")
        if "vehicle" in data:
            readable(data["vehicle"], "data.vehicle", max_length=16)
    return data


NOTE_LENGTH = 2000


def check_note(value: Any) -> str:
    """A report's note as submitted: readable text of at most ``NOTE_LENGTH`` characters, lines allowed."""
    if not (isinstance(value, str) and value.strip()):
        raise InvalidInput("a report needs data.note, what was observed", field="data.note")
    return readable(value, "data.note", max_length=NOTE_LENGTH, multiline=True)
