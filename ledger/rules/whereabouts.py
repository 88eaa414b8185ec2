"""Where the cylinder is: silent too long (vanished), or in two places too far apart too quickly.

Source: DOMAIN.md "What counts as a broken chain" ("a cylinder with no event for
N days outside a resting state"; "a cylinder in two places too far apart too
quickly"). Resting states, the day count and the speed are ``RulesConfig`` defaults.
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta
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
    resting = {state.value for state in ctx.config.resting_states}
    # (state, holder, seq, time) after each step; the last one of an earlier piece comes first
    points = [(s.state.value, s.holder, s.event.seq, s.event.occurred_at) for s in ctx.steps]
    if "vanished" in ctx.carry:
        state, holder, seq, at = ctx.carry["vanished"]
        points.insert(0, (state, holder, seq, datetime.fromisoformat(at)))
    for i, (state, holder, seq, start) in enumerate(points):
        if state in resting:
            continue
        last = i + 1 == len(points)
        end = ctx.now if last else points[i + 1][3]
        if end - start <= limit:
            continue
        until = "up to now" if last else f"until {format_time(end)}"
        days = (end - start) / timedelta(days=1)
        note = f"no event for {days:.0f} days while {state} with {holder}, from {format_time(start)} {until}"
        evidence = {"code": "vanished", "days": round(days), "state": state, "holder": holder,
                    "since": format_time(start), "until": None if last else format_time(end)}
        yield ctx.finding(F.VANISHED, holder, (seq,), start + limit, note, (seq,), evidence=evidence)
    if points:
        state, holder, seq, at = points[-1]
        ctx.carry["vanished"] = [state, holder, seq, format_time(at)]


def impossible_movement(ctx: Context) -> Iterator[FindingDraft]:
    """Two consecutive located events farther apart than ``plausible_speed_kmh`` allows in the
    time between them (+ skew, − location accuracy). Keyed by the later event; the holder of
    record then answers (a report only observes where the cylinder was)."""
    cfg = ctx.config
    # the last located event: kind, party, time, where, seq
    previous = ctx.carry.get("impossible_movement")
    if previous is not None:
        kind, party, at, (lat, lon), seq = previous
        previous = (kind, party, datetime.fromisoformat(at), Location(lat, lon), seq)
    for step in ctx.steps:
        e = step.event
        if e.location is None:
            continue
        if previous is not None:
            kind, party, at, where, seq = previous
            km = distance_km(where, e.location) - cfg.location_accuracy_km
            hours = (abs(e.occurred_at - at) + cfg.clock_skew) / timedelta(hours=1)
            if km > 0 and km / hours > cfg.plausible_speed_kmh:
                note = (f"{e.kind.value} by {e.party} at {format_time(e.occurred_at)} is {km:.0f} km from "
                        f"{kind} by {party} at {format_time(at)}: {km / hours:.0f} km/h")
                evidence = {"code": "impossible_movement", "kind": e.kind.value, "party": e.party,
                            "at": format_time(e.occurred_at), "km": round(km), "before_kind": kind,
                            "before_party": party, "before_at": format_time(at), "kmh": round(km / hours)}
                yield ctx.finding(F.IMPOSSIBLE_MOVEMENT, step.holder, (seq, e.seq), e.occurred_at, note, (e.seq,),
                                  evidence=evidence)
        previous = (e.kind.value, e.party, e.occurred_at, e.location, e.seq)
    if previous is not None:
        kind, party, at, where, seq = previous
        ctx.carry["impossible_movement"] = [kind, party, format_time(at), [where.lat, where.lon], seq]


def distance_km(a: Location, b: Location) -> float:
    """Great-circle distance on the WGS-84 mean sphere (haversine)."""
    lat1, lat2 = math.radians(a.lat), math.radians(b.lat)
    dlat, dlon = lat2 - lat1, math.radians(b.lon - a.lon)
    h = math.sin(dlat / 2) ** 2 + math.cos(lat1) * math.cos(lat2) * math.sin(dlon / 2) ** 2
    return 2 * _EARTH_RADIUS_KM * math.asin(min(1.0, math.sqrt(h)))
