"""What became of one submitted event, as values that can only be built valid.

``Outcome`` answers a single event or one batch item: its ``status`` (an
``Status``, whose values are the API's ``created`` / ``duplicate`` /
``rejected``), the stored event, the refusal, and the ``RaisedFinding`` s the
event is evidence of. Strings given where an enum belongs are parsed here, so a
misspelt status or finding kind fails where it is made, not in a client.

``Work`` is what the custody rules are asked to judge, and ``Judged`` what
judging it stored (``ledger.service.judge``).
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from .domain import Event, FindingKind, Severity
from .errors import LedgerError

__all__ = ["Judged", "Outcome", "Purpose", "RaisedFinding", "Status", "Work"]


class Status(enum.StrEnum):
    """What became of a submitted event (CONTRACT.md, ``POST /v1/events/batch``)."""

    CREATED = "created"  # recorded now
    DUPLICATE = "duplicate"  # recorded before under the same idempotency key and content
    REJECTED = "rejected"  # refused; nothing was written


@dataclass(frozen=True, slots=True)
class RaisedFinding:
    """A stored finding that a recorded event is evidence of, as the event's answer names it."""

    id: int
    kind: FindingKind
    severity: Severity
    party: str | None
    note: str

    def __post_init__(self) -> None:
        object.__setattr__(self, "kind", FindingKind(self.kind))
        object.__setattr__(self, "severity", Severity(self.severity))

    def as_dict(self) -> dict[str, Any]:
        return {"id": self.id, "kind": self.kind.value, "severity": self.severity.value, "party": self.party,
                "note": self.note}

    def __getitem__(self, name: str) -> Any:
        """The field as the answer's JSON spells it (``finding["kind"] == "short_weight"``)."""
        return self.as_dict()[name]


@dataclass(frozen=True)
class Outcome:
    """What became of one submitted event: ``event`` unless rejected, ``error`` when rejected."""

    status: Status
    event: Event | None = None
    error: LedgerError | None = None
    findings: list[RaisedFinding] = field(default_factory=list)
    log: str | None = None  # another city's log that recorded ``event`` (a relay); None: this ledger's

    def __post_init__(self) -> None:
        object.__setattr__(self, "status", Status(self.status))


class Purpose(enum.Enum):
    """Why cylinders are judged, which decides what of the judgement is kept (``Judge.store``)."""

    WRITTEN = "written"  # their events were just recorded and the writer answers with the findings
    REVIEW = "review"  # they wait on the review queue; nobody waits for the answer
    CLOCK = "clock"  # nothing was recorded: time alone may have turned their story into findings


@dataclass(frozen=True)
class Work:
    """Cylinders to judge, and why; ``written``: the recorded events that put them here."""

    purpose: Purpose
    cylinders: Sequence[str]
    written: Sequence[Event] = ()

    @classmethod
    def of_written(cls, written: Sequence[Event]) -> Work:
        """The cylinders of events just recorded."""
        return cls(Purpose.WRITTEN, list(dict.fromkeys(event.cylinder for event in written)), list(written))

    @property
    def triggers(self) -> dict[str, Event | None]:
        """Per cylinder, the written event that explains what its judgement resolves (its last one)."""
        found: dict[str, Event | None] = dict.fromkeys(self.cylinders)
        found.update((event.cylinder, event) for event in self.written)
        return found

    def chunks(self, size: int) -> Iterable[Work]:
        """The same work in pieces of at most ``size`` cylinders (each piece one short transaction)."""
        for start in range(0, len(self.cylinders), size):
            piece = set(self.cylinders[start:start + size])
            yield Work(self.purpose, self.cylinders[start:start + size],
                       [event for event in self.written if event.cylinder in piece])

    def __len__(self) -> int:
        return len(self.cylinders)


@dataclass(frozen=True)
class Judged:
    """What storing a judgement did: per written event id, the open findings it is evidence of,
    and for how many cylinders a judgement was stored."""

    findings: dict[int, list[RaisedFinding]]
    stored: int
