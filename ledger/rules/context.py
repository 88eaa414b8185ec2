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
    """One evaluation of one cylinder; registry look-ups are remembered for its duration.

    A rule reads ``steps`` in the order things happened. Where it needs what an earlier
    step showed (the last fill, the last located scan, a tally) it keeps that in
    ``carry`` under its own name, so the same rule can judge a story in pieces.
    """

    __slots__ = ("trace", "steps", "registry", "config", "now", "cylinder", "owner", "register", "carry",
                 "_parties", "_people")

    def __init__(self, trace: Trace, registry: Registry, config: RulesConfig, now: datetime,
                 register: dict[str, Any] | None = None, carry: dict[str, Any] | None = None) -> None:
        self.trace = trace
        self.steps: tuple[Step, ...] = trace.steps
        self.registry = registry
        self.config = config
        self.now = now
        self.cylinder = trace.cylinder
        self.owner = trace.origin.owner
        # the genesis register's facts; given when ``trace`` resumes a story and starts later
        self.register: dict[str, Any] = trace.steps[0].event.data if register is None else register
        # what rules that look back carry from one step to the next, as JSON; given when resuming,
        # and left as it stands after the last step (``engine.judge``)
        self.carry: dict[str, Any] = {} if carry is None else carry
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
        evidence: dict[str, Any] | None = None,
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
            evidence=evidence,
        )
