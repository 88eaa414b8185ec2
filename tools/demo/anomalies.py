"""Planting anomalies, and the planted truth the quality report scores against.

Each kind has a number of plants and a day from which each one may happen;
the simulation asks ``due(kind, day)`` at every opportunity of that kind and
plants when the answer is yes. A plant records which cylinder it touched and
the idempotency keys of the events it made (or changed), so the truth can be
matched to the ledger's findings afterwards.
"""

from __future__ import annotations

import csv
import json
import random
from dataclasses import dataclass, field
from pathlib import Path

from .config import ANOMALY_KINDS

__all__ = ["Plant", "Plants", "TRIP_KINDS", "write_truth"]

# Kinds planted once per truck trip: every cylinder on the trip carries the anomaly.
TRIP_KINDS = ("missing_escort", "certificate_expired")


@dataclass(eq=False)
class Plant:
    """One planted anomaly: a kind, a cylinder (fleet ``Cylinder`` or bare code) and its events."""

    kind: str
    cylinder: object
    keys: list[str]
    note: str
    day: int
    events: list[int] = field(default_factory=list)  # log positions, once written
    outcome: str = "pending"  # created | rejected (the ledger refused the planted scan)
    reason: str | None = None

    @property
    def code(self) -> str | None:
        return self.cylinder if isinstance(self.cylinder, str) else self.cylinder.code

    def as_dict(self) -> dict[str, object]:
        return {"kind": self.kind, "cylinder": self.code, "events": self.events, "keys": self.keys,
                "day": self.day, "outcome": self.outcome, "reason": self.reason, "note": self.note}


def _window(kind: str, days: int) -> tuple[int, int]:
    """The days on which a plant of ``kind`` may start, so that it can be seen by the end."""
    if kind == "vanished":  # 30 silent days must pass before the window closes
        return 2, days - 33
    if kind == "handover_unconfirmed":  # old enough to count, too young to have vanished
        return days - 25, days - 4
    if kind in ("filled_overdue_inspection", "filled_past_design_life"):
        return 1, max(2, days * 3 // 5)  # planted at registration, which rolls out early
    if kind == "event_after_scrap":
        return 1, days // 2  # planted at the inspection bench, where few cylinders go
    if kind == "certificate_expired":  # the lapsing certificates run out by day 20
        return 21, days - 2
    return 1, days - 2


class Plants:
    """The plan of anomalies and the truth of those planted so far."""

    def __init__(self, rate: float, rng: random.Random, days: int, cylinders: int, trips: int) -> None:
        self.pending: dict[str, list[int]] = {}
        self.truth: list[Plant] = []
        self.keys: set[str] = set()
        if rate <= 0:
            return
        for kind in ANOMALY_KINDS:
            opportunities = trips if kind in TRIP_KINDS else cylinders
            if kind == "unlicensed_party":
                opportunities //= 4  # each drop at the lapsed point carries several cylinders
            lo, hi = _window(kind, days)
            count = max(1, round(rate * opportunities))
            self.pending[kind] = sorted(rng.randint(lo, max(lo, hi)) for _ in range(count))

    def due(self, kind: str, day: int) -> bool:
        """True (and consumed) when a plant of ``kind`` is waiting for an opportunity on ``day``."""
        queue = self.pending.get(kind)
        if queue and queue[0] <= day:
            queue.pop(0)
            return True
        return False

    def plant(self, kind: str, cylinder: object, keys: list[str | None], note: str, day: int) -> Plant:
        entry = Plant(kind, cylinder, [key for key in keys if key], note, day)
        self.truth.append(entry)
        self.keys.update(entry.keys)
        return entry

    def missed(self) -> dict[str, int]:
        """Plants that found no opportunity before the window closed."""
        return {kind: len(queue) for kind, queue in self.pending.items() if queue}

    def settle(self, fate: dict[str, tuple[str, int | None, str | None]]) -> None:
        """Attach each plant's written events (or the ledger's refusal) from the writer's record."""
        for entry in self.truth:
            outcomes = [fate[key] for key in entry.keys if key in fate]
            entry.events = [event for status, event, _ in outcomes if event is not None]
            refused = [reason for status, _, reason in outcomes if status == "rejected"]
            entry.outcome = "rejected" if refused else "created"
            entry.reason = refused[0] if refused else None


def write_truth(path: Path, plants: list[Plant], meta: dict[str, object]) -> None:
    """The planted truth as JSON (``.json``) or one row per plant (``.csv``)."""
    if path.suffix == ".csv":
        with path.open("w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle)
            writer.writerow(["kind", "cylinder", "events", "outcome", "day", "note"])
            for entry in plants:
                writer.writerow([entry.kind, entry.code, " ".join(map(str, entry.events)), entry.outcome,
                                 entry.day, entry.note])
        return
    body = {**meta, "plants": [entry.as_dict() for entry in plants]}
    path.write_text(json.dumps(body, ensure_ascii=False, indent=1, default=str) + "\n", encoding="utf-8")
