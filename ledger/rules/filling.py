"""The filling gate and the weight: what the pre-fill check (GB/T 38059) should have stopped.

Source: DOMAIN.md "The life of a cylinder" 2 (own cylinder? inspection in date?
not past design life? allowed fill 14.5 ± 0.5 kg for YSP-15, GB 17267 ch. 9),
5 (a shortfall at the door against the fill weight means decanting) and 8
(GB 5842-2006: 8 years + at most one 4-year extension, forced scrap at 12;
older cylinders 15 years).
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any, Iterable, Iterator, NamedTuple

from ..custody import Step, Trace
from ..domain import EventKind, FindingKind, Severity, format_time, iso_day
from ..standing import Caution, cautions
from .config import RulesConfig
from .context import Context
from .findings import FindingDraft

__all__ = [
    "DesignLife", "design_life", "life_ends_on", "extension_granted", "Standing", "standing", "filled_overdue_inspection", "filled_past_design_life",
    "filled_by_non_owner", "overfill", "short_weight",
]

F, K = FindingKind, EventKind


class DesignLife(NamedTuple):
    """``end``: the stamped design life runs out; ``last_day``: no extension can go beyond it."""

    end: date
    last_day: date
    extension_from: date | None  # a passed inspection on or after this day grants the extension


def design_life(register: dict[str, Any], config: RulesConfig) -> DesignLife | None:
    """The cylinder's design-life limits from its register facts; None without a manufacture date."""
    made = iso_day(register.get("manufactured_on"))
    if made is None:
        return None
    years = register.get("design_life_years")
    if not isinstance(years, int) or isinstance(years, bool) or years <= 0:
        years = config.default_design_life_years
    extension = config.design_life_extensions.get(years, 0)
    end = _add_years(made, years)
    start = end - timedelta(days=config.extension_window_days) if extension else None
    return DesignLife(end, _add_years(made, years + extension), start)


class Standing(NamedTuple):
    """Whether a cylinder is in date on ``day``: what risk lists and the public page show."""

    day: date
    inspection_due: date | None
    overdue_inspection: bool  # due date passed, or the last inspection failed
    inspection_due_soon: bool  # due within ``inspection_due_soon_days``
    past_design_life: bool  # past the design life with no extension granted
    life: DesignLife | None
    life_ends_on: date | None = None
    inspection_failed: bool = False

    def cautions(self, state: str | None) -> list[Caution]:
        """Why the cylinder, in ``state``, must not be filled or delivered on ``day`` (``ledger.standing``)."""
        facts = {"state": state, "next_inspection_due": self.inspection_due, "life_ends_on": self.life_ends_on}
        return cautions(facts, self.day, inspection_failed=self.inspection_failed)


def life_ends_on(trace: Trace, config: RulesConfig) -> date | None:
    """The last day of the cylinder's service life as its history stands: the stamped design
    life, or its one extension once a passed inspection in the final year granted it."""
    life = design_life(trace.steps[0].event.data, config)
    if life is None:
        return None
    return life.last_day if extension_granted(trace.steps, life, config) else life.end


def extension_granted(steps: Iterable[Step], life: DesignLife, config: RulesConfig) -> bool:
    """Whether one of ``steps`` is a passed inspection in the final year of design life (local day)."""
    return life.extension_from is not None and any(
        s.event.kind is K.INSPECT and s.event.data.get("result") == "pass"
        and config.local_day(s.event.occurred_at) >= life.extension_from for s in steps)


def standing(trace: Trace, config: RulesConfig, now: datetime) -> Standing:
    """The cylinder's standing at ``now`` from its replayed ``trace`` (local day, no skew)."""
    day, due = config.local_day(now), trace.next_inspection_due
    life = design_life(trace.steps[0].event.data, config)
    ends = life_ends_on(trace, config)
    now_cautions = cautions({"next_inspection_due": due, "life_ends_on": ends}, day,
                            inspection_failed=trace.inspection_failed)
    overdue = Caution.OVERDUE_INSPECTION in now_cautions
    past = Caution.PAST_DESIGN_LIFE in now_cautions
    soon = due is not None and not overdue and (due - day).days <= config.inspection_due_soon_days
    return Standing(day, due, overdue, soon, past, life, ends, trace.inspection_failed)


def _add_years(day: date, years: int) -> date:
    try:
        return day.replace(year=day.year + years)
    except ValueError:  # 29 February in a common year
        return day.replace(year=day.year + years, day=28)


def _fills(ctx: Context) -> Iterator[Step]:
    return (s for s in ctx.steps if s.event.kind is K.FILL)


def filled_overdue_inspection(ctx: Context) -> Iterator[FindingDraft]:
    """A fill on a day after the inspection due date in force, or after a failed inspection (critical)."""
    for step in _fills(ctx):
        e, day = step.event, ctx.config.lenient_day(step.event.occurred_at)
        if step.inspection_failed:
            note = f"{e.party} filled the cylinder on {day} after it failed its last inspection"
            yield ctx.finding(F.FILLED_OVERDUE_INSPECTION, e.party, (e.seq,), e.occurred_at, note, (e.seq,),
                              Severity.CRITICAL, {"code": "fill_after_failed", "party": e.party, "day": str(day)})
        elif step.inspection_due is not None and day > step.inspection_due:
            note = f"{e.party} filled the cylinder on {day}; its inspection was due {step.inspection_due}"
            evidence = {"code": "fill_overdue", "party": e.party, "day": str(day), "due": str(step.inspection_due)}
            yield ctx.finding(F.FILLED_OVERDUE_INSPECTION, e.party, (e.seq,), e.occurred_at, note, (e.seq,),
                              evidence=evidence)


def filled_past_design_life(ctx: Context) -> Iterator[FindingDraft]:
    """A fill past the design life without the one extension a passed end-of-life inspection
    grants (high), or past the last day any extension allows (critical: forced scrap)."""
    life = design_life(ctx.register, ctx.config)
    if life is None:
        return
    extended = ctx.carry.get("filled_past_design_life", False)
    for step in ctx.steps:
        e = step.event
        day = ctx.config.lenient_day(e.occurred_at)
        if e.kind is K.INSPECT and e.data.get("result") == "pass":
            extended = extended or (life.extension_from is not None and day >= life.extension_from)
        if e.kind is not K.FILL or day <= life.end:
            continue
        if day > life.last_day:
            note = f"{e.party} filled the cylinder on {day}, past its last permitted day {life.last_day}: it must be scrapped"
            evidence = {"code": "fill_past_last_day", "party": e.party, "day": str(day), "last_day": str(life.last_day)}
            yield ctx.finding(F.FILLED_PAST_DESIGN_LIFE, e.party, (e.seq,), e.occurred_at, note, (e.seq,),
                              Severity.CRITICAL, evidence)
        elif not extended:
            note = (f"{e.party} filled the cylinder on {day}; its design life ended {life.end} and no "
                    f"passed end-of-life inspection extended it")
            evidence = {"code": "fill_past_design_life", "party": e.party, "day": str(day), "end": str(life.end)}
            yield ctx.finding(F.FILLED_PAST_DESIGN_LIFE, e.party, (e.seq,), e.occurred_at, note, (e.seq,),
                              evidence=evidence)
    ctx.carry["filled_past_design_life"] = extended


def filled_by_non_owner(ctx: Context) -> Iterator[FindingDraft]:
    """A fill by a station that is neither the owner nor one of the owner's stations."""
    for step in _fills(ctx):
        e = step.event
        station = ctx.party(e.party)
        if station is None or ctx.owner in (station.id, station.parent):
            continue
        note = f"{e.party} (of {station.parent or 'no company'}) filled a cylinder owned by {ctx.owner}"
        evidence = {"code": "non_owner_fill", "party": e.party, "company": station.parent, "owner": ctx.owner}
        yield ctx.finding(F.FILLED_BY_NON_OWNER, e.party, (e.seq,), e.occurred_at, note, (e.seq,), evidence=evidence)


def overfill(ctx: Context) -> Iterator[FindingDraft]:
    """A fill heavier than the model's allowed fill plus tolerance; unknown models are not judged."""
    model = ctx.register.get("model")
    limit = ctx.config.fill_limit(model)
    if limit is None:
        return
    for step in _fills(ctx):
        e, kg = step.event, _kg(step.event.data)
        if kg is not None and kg > limit.max_kg + 1e-9:
            note = (f"{e.party} filled {kg:g} kg into a {model}; allowed {limit.allowed_kg:g} ± "
                    f"{limit.tolerance_kg:g} kg")
            evidence = {"code": "overfill", "party": e.party, "kg": kg, "model": model, "allowed": limit.allowed_kg,
                        "tolerance": limit.tolerance_kg}
            yield ctx.finding(F.OVERFILL, e.party, (e.seq,), e.occurred_at, note, (e.seq,), evidence=evidence)


def short_weight(ctx: Context) -> Iterator[FindingDraft]:
    """A delivery weighed at the door short of the last fill by more than the tolerance."""
    tolerance = ctx.config.short_weight_tolerance_kg
    fill: list[Any] | None = ctx.carry.get("short_weight")  # the last fill's station, seq and kg
    for step in ctx.steps:
        e = step.event
        if e.kind is K.FILL:
            fill = [e.party, e.seq, _kg(e.data)]
        elif e.kind is K.DELIVER and fill is not None:
            station, seq, filled = fill
            weighed = _kg(e.data)
            if filled is None or weighed is None or filled - weighed <= tolerance + 1e-9:
                continue
            note = (f"{e.party} delivered {weighed:g} kg at {format_time(e.occurred_at)}; {station} "
                    f"filled {filled:g} kg: {filled - weighed:.2f} kg short")
            evidence = {"code": "short_weight", "party": e.party, "kg": weighed, "at": format_time(e.occurred_at),
                        "station": station, "filled": filled, "short": round(filled - weighed, 2)}
            yield ctx.finding(F.SHORT_WEIGHT, e.party, (seq, e.seq), e.occurred_at, note, (e.seq,), evidence=evidence)
    ctx.carry["short_weight"] = fill


def _kg(data: dict[str, Any]) -> float | None:
    kg = data.get("net_kg")
    return float(kg) if isinstance(kg, (int, float)) and not isinstance(kg, bool) else None
