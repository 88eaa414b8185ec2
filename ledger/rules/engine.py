"""``evaluate``: every finding a cylinder's history implies, judged in the order things happened.

``judge`` does the same and also returns what it carries forward, so that the next
events of the story can be judged from there instead of from the start (``resumable``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Callable, Iterable, Mapping, Sequence

from ..custody import Registry, Trace, continues, replay, replay_marked
from ..domain import Event, FindingKind, Party, Person
from ..errors import InvalidInput
from .config import RulesConfig
from .context import Context
from .filling import (
    design_life, extension_granted, filled_by_non_owner, filled_overdue_inspection, filled_past_design_life, overfill,
    short_weight,
)
from .findings import FindingDraft, finding_key
from .handover import custody_jump, event_after_scrap, handover_unconfirmed
from .papers import certificate_expired, missing_escort, unlicensed_party
from .whereabouts import impossible_movement, vanished

__all__ = ["RULES", "evaluate", "judge", "resumable", "Judgement", "CARRIED_VERSION"]

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
    return _run(Context(trace, registry, config, now))


def _run(ctx: Context) -> list[FindingDraft]:
    findings = [finding for rule in RULES for finding in rule(ctx)]
    findings.sort(key=lambda f: (f.occurred_at, f.key))
    return findings


# The version of what ``judge`` carries forward. Bump it with any change to a rule or to what
# the rules carry: carried judgements of another version are not resumed, so after an upgrade
# every cylinder's chain is judged whole once, by the rules as they are now.
CARRIED_VERSION = 4


@dataclass(frozen=True, slots=True)
class Judgement:
    """What ``judge`` made of a cylinder's story, and what it carries forward.

    ``findings``: everything the story implies, as ``evaluate`` gives it, except, when
    resumed, findings about steps before the resume point that later events can no
    longer change (those were stored when their steps were judged). ``scope``: when
    resumed, the keys of earlier findings these events could change (a silence or a
    handover still open at the resume point); a stored finding outside ``scope`` and
    ``findings`` keeps its status. None: the whole story was judged, every key is in scope.
    ``trace`` tells the story from the resume point on (``custody.replay_marked``).
    """

    trace: Trace
    findings: list[FindingDraft]
    scope: frozenset[str] | None
    carried: dict[str, Any]
    life_ends: date | None

    @property
    def length(self) -> int:
        """How many events the story has, judged now or before."""
        return self.carried["mark"]["length"]

    @property
    def last_event_at(self) -> datetime:
        """When the latest of them occurred."""
        return datetime.fromisoformat(self.carried["mark"]["last"])


def judge(
    history: Sequence[Event],
    registry: Registry,
    config: RulesConfig,
    now: datetime,
    *,
    carried: Mapping[str, Any] | None = None,
) -> Judgement:
    """Judge a cylinder's whole ``history``, or, with ``carried`` from an earlier judgement,
    only the events recorded since, which ``resumable`` must have accepted."""
    if now.tzinfo is None:
        raise InvalidInput("now must be an aware time")
    noting = _Noting(registry)
    trace, mark = replay_marked(history, noting, config.clock_skew, carried["mark"] if carried else None)
    register = carried["register"] if carried else trace.steps[0].event.data
    ctx = Context(trace, noting, config, now, register, dict(carried["rules"]) if carried else None)
    findings = _run(ctx)
    life = design_life(register, config)
    extended = life is not None and (bool(carried and carried["extended"]) or extension_granted(trace.steps, life, config))
    scope = None
    if carried:
        keys = [finding_key(FindingKind.HANDOVER_UNCONFIRMED, trace.cylinder, seq)
                for seq, *_ in carried["mark"]["machine"]["open"]]
        if "vanished" in carried["rules"]:
            keys.append(finding_key(FindingKind.VANISHED, trace.cylinder, carried["rules"]["vanished"][2]))
        scope = frozenset(keys)
    absent = carried["absent"] if carried else {"parties": [], "people": []}
    return Judgement(
        trace=trace, findings=findings, scope=scope,
        carried={
            "v": CARRIED_VERSION, "config": config.fingerprint, "register": register, "mark": mark,
            "rules": ctx.carry, "extended": extended,
            "absent": {"parties": sorted({*absent["parties"], *noting.parties}),
                       "people": sorted({*absent["people"], *noting.people})},
        },
        life_ends=None if life is None else life.last_day if extended else life.end,
    )


def resumable(carried: Mapping[str, Any], history: Sequence[Event], registry: Registry, config: RulesConfig) -> bool:
    """True when judging ``history`` (the events recorded after ``carried``'s) from ``carried``
    gives what judging the whole story would: same rules and limits, every party and person
    then unknown still unknown (the registry only grows), and the events continue the story
    in time order (``custody.continues``)."""
    return (
        carried.get("v") == CARRIED_VERSION and carried["config"] == config.fingerprint
        and all(registry.party(id) is None for id in carried["absent"]["parties"])
        and all(registry.person(id) is None for id in carried["absent"]["people"])
        and continues(carried["mark"], history, config.clock_skew)
    )


class _Noting:
    """A registry that notes every party and person it was asked about and did not know."""

    def __init__(self, registry: Registry) -> None:
        self.registry = registry
        self.parties: set[str] = set()
        self.people: set[str] = set()

    def party(self, id: str) -> Party | None:
        found = self.registry.party(id)
        if found is None:
            self.parties.add(id)
        return found

    def person(self, id: str) -> Person | None:
        found = self.registry.person(id)
        if found is None:
            self.people.add(id)
        return found
