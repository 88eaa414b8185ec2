"""What every rule reads: the replayed trace, the registry, the limits and the clock."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from ..custody import Registry, Step, Trace
from ..domain import FindingKind, Party, Person, Severity
from .config import RulesConfig
from .findings import SEVERITY, FindingDraft, finding_key

__all__ = ["Context"]


class Context:
    """One evaluation of one cylinder; registry look-ups are remembered for its duration."""

    __slots__ = ("trace", "steps", "registry", "config", "now", "cylinder", "owner", "register",
                 "_parties", "_people")

    def __init__(self, trace: Trace, registry: Registry, config: RulesConfig, now: datetime) -> None:
        self.trace = trace
        self.steps: tuple[Step, ...] = trace.steps
        self.registry = registry
        self.config = config
        self.now = now
        self.cylinder = trace.cylinder
        self.owner = trace.origin.owner
        self.register: dict[str, Any] = trace.steps[0].event.data
        self._parties: dict[str, Party | None] = {}
        self._people: dict[str, Person | None] = {}

    def party(self, id: Any) -> Party | None:
        if not isinstance(id, str):
            return None
        if id not in self._parties:
            self._parties[id] = self.registry.party(id)
        return self._parties[id]

    def person(self, id: Any) -> Person | None:
        if not isinstance(id, str):
            return None
        if id not in self._people:
            self._people[id] = self.registry.person(id)
        return self._people[id]

    def finding(
        self,
        kind: FindingKind,
        party: str | None,
        events: tuple[int, ...],
        at: datetime,
        note: str,
        key: tuple[object, ...],
        severity: Severity | None = None,
    ) -> FindingDraft:
        return FindingDraft(
            key=finding_key(kind, self.cylinder, *key),
            kind=kind,
            severity=severity or SEVERITY[kind],
            cylinder=self.cylinder,
            party=party,
            events=events,
            occurred_at=at,
            note=note,
        )
