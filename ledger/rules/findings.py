"""Finding drafts, their severities, and how a fresh evaluation reconciles with stored findings.

A ``FindingDraft`` is what the rules say a history implies; the service stores it
as a finding. Its ``key`` is stable: evaluating the same history again yields
the same keys, so storage reconciles by key alone.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Collection, Iterable, Mapping, NamedTuple

from ..domain import Event, FindingKind, Severity, format_time

__all__ = [
    "FindingDraft",
    "Resolution",
    "Reconciliation",
    "SEVERITY",
    "RESOLVABLE",
    "finding_key",
    "reconcile",
]

F, S = FindingKind, Severity

# The usual severity of each kind; a rule may raise or lower it for a graded case (docs/custody.md).
SEVERITY: Mapping[FindingKind, Severity] = {
    F.CHAIN_TAMPERED: S.CRITICAL,
    F.SEQUENCE_GAP: S.CRITICAL,
    F.CHECKPOINT_MISMATCH: S.CRITICAL,
    F.PROJECTION_EDITED: S.CRITICAL,
    F.FINDING_STATUS_EDITED: S.CRITICAL,
    F.UNREGISTERED_CODE: S.CRITICAL,
    F.EVENT_AFTER_SCRAP: S.CRITICAL,
    F.FILLED_PAST_DESIGN_LIFE: S.HIGH,  # critical past the forced-scrap age
    F.FILLED_OVERDUE_INSPECTION: S.HIGH,  # critical after a failed inspection
    F.CUSTODY_JUMP: S.HIGH,  # medium when the actor was named but skipped the confirmation
    F.FILLED_BY_NON_OWNER: S.HIGH,
    F.UNLICENSED_PARTY: S.HIGH,
    F.MISSING_ESCORT: S.HIGH,
    F.SHORT_WEIGHT: S.HIGH,
    F.OVERFILL: S.HIGH,
    F.IMPOSSIBLE_MOVEMENT: S.HIGH,
    F.CERTIFICATE_EXPIRED: S.MEDIUM,
    F.VANISHED: S.MEDIUM,
    F.HANDOVER_UNCONFIRMED: S.MEDIUM,  # low when it was confirmed, only late
    F.CITIZEN_REPORT: S.MEDIUM,  # graded by the report's category (ledger.citizen.CATEGORIES)
    F.UNSAFE_INSTALLATION: S.MEDIUM,  # the most severe failed item's severity (ledger.safety)
    F.DELIVERED_DESPITE_HAZARD: S.CRITICAL,
}

# An event recorded this long after it occurred was held offline (said so in resolution notes).
_LATE = timedelta(minutes=10)

# Stored statuses a later event may resolve; handled or closed findings belong to people.
RESOLVABLE = frozenset({"open", "dispatched"})


def finding_key(kind: FindingKind, cylinder: str | None, *parts: object) -> str:
    """``kind:cylinder:part/part``, unique across the ledger and at most 200 characters."""
    return f"{kind.value}:{cylinder or '-'}:{'/'.join(str(p) for p in parts)}"[:200]


@dataclass(frozen=True, slots=True)
class FindingDraft:
    """A finding the history implies. ``events`` are seqs of the evidence, in time order."""

    key: str
    kind: FindingKind
    severity: Severity
    cylinder: str | None
    party: str | None
    events: tuple[int, ...]
    occurred_at: datetime  # when the irregularity happened, in device time
    note: str
    # what the note says, as data: {"code": ..., parameters}; pages render it in the reader's
    # language (docs/regulator.md). Times are UTC text, days ISO dates, parties and people ids.
    evidence: Mapping[str, Any] | None = None

    def as_dict(self, ids: Mapping[int, Any] | None = None) -> dict[str, Any]:
        return {
            "key": self.key, "kind": self.kind.value, "severity": self.severity.value,
            "cylinder": self.cylinder, "party": self.party,
            "events": list(self.events) if ids is None else [ids[s] for s in self.events],
            "occurred_at": format_time(self.occurred_at), "note": self.note,
            "evidence": None if self.evidence is None else dict(self.evidence),
        }


@dataclass(frozen=True, slots=True)
class Resolution:
    """A stored finding that the history no longer implies; ``stored`` is the item as given."""

    key: str
    stored: Any
    event: int | None  # seq of the event whose arrival explained it
    note: str
    evidence: Mapping[str, Any] | None = None


class Reconciliation(NamedTuple):
    new: list[FindingDraft]  # keys never stored: insert
    resolved: list[Resolution]  # stored open/dispatched keys no longer implied: mark resolved
    reopened: list[FindingDraft]  # keys stored as resolved that the history implies again


def reconcile(stored: Iterable[Any], fresh: Iterable[FindingDraft], trigger: Event | None = None,
              scope: Collection[str] | None = None) -> Reconciliation:
    """Compare a cylinder's stored findings with a fresh ``evaluate`` result.

    ``stored`` holds every stored finding of the cylinder (any status), each a key
    string, a ``(key, status, ...)`` tuple, a mapping or an object with ``key`` and
    ``status`` (a bare key counts as open). ``trigger`` is the event just recorded
    (None for a sweep on the clock). ``scope``: when ``fresh`` judged only part of the
    story (``Judgement.scope``), the other keys it decides; a stored key in neither
    is left alone. Pure: nothing is written.
    """
    fresh_by_key = {f.key: f for f in fresh}
    seen: set[str] = set()
    resolved: list[Resolution] = []
    reopened: list[FindingDraft] = []
    for item in stored:
        key, status = _key_status(item)
        seen.add(key)
        if key in fresh_by_key:
            if status == "resolved":
                reopened.append(fresh_by_key[key])
        elif status in RESOLVABLE and (scope is None or key in scope):
            resolved.append(Resolution(key, item, trigger.seq if trigger else None, _explain(trigger),
                                       explained(trigger)))
    new = [f for k, f in fresh_by_key.items() if k not in seen]
    return Reconciliation(new, resolved, reopened)


def _key_status(item: Any) -> tuple[str, str]:
    if isinstance(item, str):
        return item, "open"
    if isinstance(item, tuple):
        return item[0], (item[1] if len(item) > 1 else "open")
    if isinstance(item, Mapping):
        return item["key"], item.get("status", "open")
    return item.key, getattr(item, "status", "open")


def explained(trigger: Event | None) -> dict[str, Any]:
    """``_explain``'s note as evidence: which event explained a finding, or none (the clock)."""
    if trigger is None:
        return {"code": "no_longer_implied"}
    return {"code": "explained", "kind": trigger.kind.value, "seq": trigger.seq, "party": trigger.party,
            "occurred_at": format_time(trigger.occurred_at), "recorded_at": format_time(trigger.recorded_at),
            "late": trigger.recorded_at - trigger.occurred_at >= _LATE}


def _explain(trigger: Event | None) -> str:
    if trigger is None:
        return "no longer implied by the cylinder's history and the registry as they stand now"
    late = "" if trigger.recorded_at - trigger.occurred_at < _LATE else ", recorded late"
    return (
        f"explained by {trigger.kind.value} (seq {trigger.seq}) by {trigger.party}, which occurred "
        f"{format_time(trigger.occurred_at)} and was recorded {format_time(trigger.recorded_at)}{late}"
    )
