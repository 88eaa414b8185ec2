"""Where the cylinder is: silent too long (vanished), or in two places too far apart too quickly.

Source: DOMAIN.md "What counts as a broken chain" ("a cylinder with no event for
N days outside a resting state"; "a cylinder in two places too far apart too
quickly"). Resting states, the day count and the speed are ``RulesConfig`` defaults.
"""

from __future__ import annotations

import math
from datetime import timedelta
from typing import Iterator

from ..domain import FindingKind, Location, format_time
from .context import Context
from .findings import FindingDraft

__all__ = ["vanished", "impossible_movement", "distance_km"]

F = FindingKind
_EARTH_RADIUS_KM = 6371.0088


def vanished(ctx: Context) -> Iterator[FindingDraft]:
    """A silence longer than ``vanished_days`` (+ skew) after an event that left the cylinder
    outside a resting state: between two events, or from the last event until now.
    The holder during the silence answers for it."""
    limit = timedelta(days=ctx.config.vanished_days) + ctx.config.clock_skew
    steps = ctx.steps
    for i, step in enumerate(steps):
        if step.state in ctx.config.resting_states:
            continue
        start = step.event.occurred_at
        end = steps[i + 1].event.occurred_at if i + 1 < len(steps) else ctx.now
        if end - start <= limit:
            continue
        until = f"until {format_time(end)}" if i + 1 < len(steps) else "up to now"
        days = (end - start) / timedelta(days=1)
        note = (f"no event for {days:.0f} days while {step.state.value} with {step.holder}, from "
                f"{format_time(start)} {until}")
        yield ctx.finding(F.VANISHED, step.holder, (step.event.seq,), start + limit, note, (step.event.seq,))


def impossible_movement(ctx: Context) -> Iterator[FindingDraft]:
    """Two consecutive located events farther apart than ``plausible_speed_kmh`` allows in the
    time between them (+ skew, − location accuracy). Keyed by the later event; the holder of
    record then answers (a report only observes where the cylinder was)."""
    cfg = ctx.config
    previous = None
    for step in ctx.steps:
        e = step.event
        if e.location is None:
            continue
        if previous is not None:
            km = distance_km(previous.location, e.location) - cfg.location_accuracy_km
            hours = (abs(e.occurred_at - previous.occurred_at) + cfg.clock_skew) / timedelta(hours=1)
            if km > 0 and km / hours > cfg.plausible_speed_kmh:
                note = (f"{e.kind.value} by {e.party} at {format_time(e.occurred_at)} is {km:.0f} km from "
                        f"{previous.kind.value} by {previous.party} at {format_time(previous.occurred_at)}: "
                        f"{km / hours:.0f} km/h")
                yield ctx.finding(F.IMPOSSIBLE_MOVEMENT, step.holder, (previous.seq, e.seq), e.occurred_at, note,
                                  (e.seq,))
        previous = e


def distance_km(a: Location, b: Location) -> float:
    """Great-circle distance on the WGS-84 mean sphere (haversine)."""
    lat1, lat2 = math.radians(a.lat), math.radians(b.lat)
    dlat, dlon = lat2 - lat1, math.radians(b.lon - a.lon)
    h = math.sin(dlat / 2) ** 2 + math.cos(lat1) * math.cos(lat2) * math.sin(dlon / 2) ** 2
    return 2 * _EARTH_RADIUS_KM * math.asin(min(1.0, math.sqrt(h)))
