"""What became of one submitted event, as values that can only be built valid.

``Outcome`` answers a single event or one batch item: its ``status`` (an
``Status``, whose values are the API's ``created`` / ``duplicate`` /
``rejected``), the stored event, the refusal, and the ``RaisedFinding`` s the
event is evidence of. Strings given where an enum belongs are parsed here, so a
misspelt status or finding kind fails where it is made, not in a client.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any

from .domain import Event, FindingKind, Severity
from .errors import LedgerError

__all__ = ["Status", "Outcome", "RaisedFinding"]


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

    def __post_init__(self) -> None:
        object.__setattr__(self, "status", Status(self.status))
