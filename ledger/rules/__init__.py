"""Findings: what a cylinder's recorded story says is impossible or illegal.

    evaluate(history, registry, config, now) -> list[FindingDraft]
    reconcile(stored, fresh, trigger) -> Reconciliation(new, resolved, reopened)

Pure: no database, no HTTP. docs/custody.md lists every rule with its source.
"""

from .config import DEFAULT_FILL_LIMITS, FillLimit, RulesConfig, model_name
from .engine import RULES, evaluate
from .filling import DesignLife, Standing, design_life, life_ends_on, standing
from .findings import RESOLVABLE, SEVERITY, FindingDraft, Reconciliation, Resolution, finding_key, reconcile
from .whereabouts import distance_km

__all__ = [
    "evaluate",
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
    "life_ends_on",
    "Standing",
    "standing",
    "distance_km",
    "finding_key",
    "model_name",
]
