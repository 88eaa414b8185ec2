"""Tunable limits of the rules, each with its source (docs/custody.md "Configuration").

Values marked *regulation* come from a standard cited in DOMAIN.md; values marked
*our default* are the platform's judgement and are meant to be tuned per region.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field, fields
from functools import cached_property
from datetime import date, datetime, timedelta
from types import MappingProxyType
from typing import Mapping

from ..domain import State

__all__ = ["FillLimit", "DEFAULT_FILL_LIMITS", "RulesConfig", "model_name"]


@dataclass(frozen=True, slots=True)
class FillLimit:
    """The allowed net fill of one cylinder model, ± a tolerance, and where the numbers come from."""

    allowed_kg: float
    tolerance_kg: float
    source: str

    @property
    def max_kg(self) -> float:
        return self.allowed_kg + self.tolerance_kg


_SCALED = "our default: YSP-15's 14.5/15 fill ratio and 0.5/15 tolerance scaled to the nominal size"

DEFAULT_FILL_LIMITS: Mapping[str, FillLimit] = MappingProxyType({
    "YSP-15": FillLimit(14.5, 0.5, "regulation: GB 17267 ch. 9 (DOMAIN.md 'The life of a cylinder' 2)"),
    "YSP-5": FillLimit(4.8, 0.2, _SCALED),
    "YSP-10": FillLimit(9.7, 0.3, _SCALED),
    "YSP-50": FillLimit(48.3, 1.7, _SCALED),
})

_MODEL = re.compile(r"\s*([A-Za-z]+)\s*-?\s*([0-9]+(?:\.[0-9]+)?)\s*")


def model_name(model: object) -> str | None:
    """A model designation in one spelling: ``ysp15``, ``YSP 15`` and ``YSP-15`` are ``YSP-15``."""
    if not isinstance(model, str):
        return None
    match = _MODEL.fullmatch(model)
    return f"{match[1].upper()}-{match[2]}" if match else model.strip().upper()


@dataclass(frozen=True)
class RulesConfig:
    """Every limit the rules apply. Frozen: build a new one with ``dataclasses.replace``."""

    # per-model allowed fill ± tolerance (overfill)
    fill_limits: Mapping[str, FillLimit] = field(default_factory=lambda: DEFAULT_FILL_LIMITS)
    # our default: a handover still unconfirmed a day later is a finding (DOMAIN.md says "configurable")
    handover_hours: float = 24.0
    # our default: a month with no scan outside a resting state means the cylinder vanished
    vanished_days: float = 30.0
    resting_states: frozenset[State] = frozenset(
        {State.AT_STATION, State.AT_INSPECTION, State.WITH_USER, State.SCRAPPED}
    )
    # our default: phones and handhelds keep time within minutes; give every comparison this much doubt
    clock_skew: timedelta = timedelta(minutes=10)
    # our default: expressway limit for hazardous-goods vehicles is below this; anything faster is two places
    plausible_speed_kmh: float = 120.0
    location_accuracy_km: float = 1.0
    # our default: what the "inspection due soon" risk list looks ahead
    inspection_due_soon_days: int = 30
    # our default: a door scale's error; a bigger shortfall against the fill weight means decanting
    short_weight_tolerance_kg: float = 0.5
    # regulation: GB 5842-2006 cylinders, 8-year design life, at most one 4-year extension (DOMAIN.md 8)
    design_life_extensions: Mapping[int, int] = field(default_factory=lambda: MappingProxyType({8: 4}))
    # our default: the extension is granted by a passed inspection within the last year of design life
    extension_window_days: int = 365
    # our default when a register lacks design_life_years: the stricter current rule
    default_design_life_years: int = 8
    # papers carry local dates; the platform's parties keep China Standard Time (UTC+8)
    local_offset: timedelta = timedelta(hours=8)

    @cached_property
    def fingerprint(self) -> str:
        """A digest of every limit, the same in every process: judgements carried forward
        under one configuration are not resumed under another."""
        return hashlib.sha256(json.dumps({f.name: _plain(getattr(self, f.name)) for f in fields(self)},
                                         sort_keys=True).encode()).hexdigest()[:16]

    def fill_limit(self, model: object) -> FillLimit | None:
        name = model_name(model)
        return None if name is None else self.fill_limits.get(name)

    def local_day(self, moment: datetime) -> date:
        """The calendar day ``moment`` falls on where papers are dated."""
        return (moment + self.local_offset).date()

    def lenient_day(self, moment: datetime) -> date:
        """The local day of ``moment`` less the clock-skew allowance (an expiry judged with doubt)."""
        return self.local_day(moment - self.clock_skew)


def _plain(value: object) -> object:
    """``value`` as JSON in one spelling (sets sorted, mappings by key)."""
    if isinstance(value, timedelta):
        return value.total_seconds()
    if isinstance(value, FillLimit):
        return [value.allowed_kg, value.tolerance_kg]
    if isinstance(value, (set, frozenset)):
        return sorted(_plain(item) for item in value)
    if isinstance(value, Mapping):
        return sorted([str(key), _plain(item)] for key, item in value.items())
    if isinstance(value, State):
        return value.value
    return value
