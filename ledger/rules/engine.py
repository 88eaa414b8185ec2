"""``evaluate``: every finding a cylinder's history implies, judged in the order things happened."""

from __future__ import annotations

from datetime import datetime
from typing import Callable, Iterable, Sequence

from ..custody import Registry, Trace, replay
from ..domain import Event
from ..errors import InvalidInput
from .config import RulesConfig
from .context import Context
from .filling import filled_by_non_owner, filled_overdue_inspection, filled_past_design_life, overfill, short_weight
from .findings import FindingDraft
from .handover import custody_jump, event_after_scrap, handover_unconfirmed
from .papers import certificate_expired, missing_escort, unlicensed_party
from .whereabouts import impossible_movement, vanished

__all__ = ["RULES", "evaluate"]

Rule = Callable[[Context], Iterable[FindingDraft]]

# Every custody rule; chain_tampered, sequence_gap and checkpoint_mismatch come from the
# verifier and unregistered_code from the service (a scanned code with no chain).
RULES: tuple[Rule, ...] = (
    custody_jump,
    handover_unconfirmed,
    event_after_scrap,
    filled_overdue_inspection,
    filled_past_design_life,
    filled_by_non_owner,
    overfill,
    short_weight,
    unlicensed_party,
    certificate_expired,
    missing_escort,
    vanished,
    impossible_movement,
)


def evaluate(
    history: Sequence[Event],
    registry: Registry,
    config: RulesConfig,
    now: datetime,
    *,
    trace: Trace | None = None,
) -> list[FindingDraft]:
    """The FULL set of findings ``history`` implies as of ``now``, sorted by time then key.

    Deterministic: the same history, registry, config and ``now`` give the same list
    whatever order the events are passed in. Pass ``trace`` when the caller already
    replayed the same history (with ``config.clock_skew``) to save the replay.
    An empty history implies nothing; one without a genesis register raises ``InvalidInput``.
    """
    if not history:
        return []
    if now.tzinfo is None:
        raise InvalidInput("now must be an aware time")
    if trace is None:
        trace = replay(history, registry, config.clock_skew)
    ctx = Context(trace, registry, config, now)
    findings = [finding for rule in RULES for finding in rule(ctx)]
    findings.sort(key=lambda f: (f.occurred_at, f.key))
    return findings
