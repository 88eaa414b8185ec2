"""Findings: what a cylinder's recorded story says is impossible or illegal.

    evaluate(history, registry, config, now) -> list[FindingDraft]
    judge(history, registry, config, now, carried=None) -> Judgement (findings + what to carry forward)
    resumable(carried, later_events, registry, config) -> bool
    reconcile(stored, fresh, trigger, scope=None) -> Reconciliation(new, resolved, reopened)

Pure: no database, no HTTP. docs/custody.md lists every rule with its source.
"""

from .config import DEFAULT_FILL_LIMITS, FillLimit, RulesConfig, model_name
from .engine import CARRIED_VERSION, RULES, Judgement, evaluate, judge, resumable
from .filling import DesignLife, Standing, design_life, extension_granted, life_ends_on, standing
from .findings import RESOLVABLE, SEVERITY, FindingDraft, Reconciliation, Resolution, finding_key, reconcile
from . import installation
from .whereabouts import distance_km

__all__ = [
    "installation",
    "evaluate",
    "judge",
    "resumable",
    "Judgement",
    "CARRIED_VERSION",
    "reconcile",
    "RulesConfig",
    "FillLimit",
    "DEFAULT_FILL_LIMITS",
    "FindingDraft",
    "Reconciliation",
    "Resolution",
    "SEVERITY",
    "RESOLVABLE",
    "RULES",
    "DesignLife",
    "design_life",
    "extension_granted",
    "life_ends_on",
    "Standing",
    "standing",
    "distance_km",
    "finding_key",
    "model_name",
]
