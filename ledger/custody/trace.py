"""What a replay answers: the story of one cylinder as frozen values (``Trace`` and its parts)."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Mapping

from ..domain import Event, State, format_time

__all__ = ["Trace", "Step", "Handover", "HandoverEnd", "Jump", "CustodyInterval", "Current", "Origin", "LastFill",
           "Responsibility", "UNANNOUNCED", "UNCONFIRMED"]


class Jump(enum.StrEnum):
    """How an actor came to hold a cylinder without a confirmed handover."""

    UNANNOUNCED = "unannounced"  # the actor took custody though nobody handed the cylinder to it
    UNCONFIRMED = "unconfirmed"  # the actor was named in an open handover but never confirmed it


UNANNOUNCED, UNCONFIRMED = Jump.UNANNOUNCED, Jump.UNCONFIRMED


class HandoverEnd(enum.StrEnum):
    """How an open handover was closed."""

    RECEIVED = "received"  # the named receiver confirmed it
    SUPERSEDED = "superseded"  # a later handover or another named receiver's confirmation replaced it
    CANCELLED = "cancelled"  # the holder kept or got back the cylinder
    TAKEN = "taken"  # a party it was not handed to took the cylinder


@dataclass(frozen=True, slots=True)
class LastFill:
    station: str
    at: datetime
    net_kg: float | None
    event: int


@dataclass(frozen=True, slots=True)
class Origin:
    owner: str
    last_fill: LastFill | None


@dataclass(frozen=True, slots=True)
class CustodyInterval:
    """``holder`` answered for the cylinder from ``start`` until ``until`` (``None``: still)."""

    holder: str
    start: datetime
    until: datetime | None
    opened_by: int
    events: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class Current:
    holder: str
    state: State
    since: datetime  # when the holder or the state last changed


@dataclass(frozen=True, slots=True)
class Responsibility:
    party: str
    start: datetime
    until: datetime | None
    event: int  # the event that made ``party`` responsible

    def as_dict(self, ids: Mapping[int, Any] | None = None) -> dict[str, Any]:
        return {"party": self.party, "from": format_time(self.start), "until": _time(self.until),
                "event": self.event if ids is None else ids[self.event]}


@dataclass(frozen=True, slots=True)
class Handover:
    """A dispatch or return; ``outcome`` is None while open, else how it ended."""

    event: int
    sender: str
    receiver: str
    opened_at: datetime
    closed_at: datetime | None = None
    closed_by: int | None = None
    outcome: HandoverEnd | None = None


@dataclass(frozen=True, slots=True)
class Step:
    """One event replayed: who held the cylinder before and after it, and what it meant."""

    event: Event
    holder_before: str | None
    holder: str
    state: State
    jump: Jump | None
    after_scrap: bool
    inspection_due: date | None  # in force after this event
    inspection_failed: bool


@dataclass(frozen=True, slots=True)
class Trace:
    """The whole story of one cylinder, in the order things happened."""

    cylinder: str
    origin: Origin
    custody: tuple[CustodyInterval, ...]
    current: Current
    first_responsible: str
    next_inspection_due: date | None
    inspection_failed: bool
    scrapped_at: datetime | None
    steps: tuple[Step, ...]
    handovers: tuple[Handover, ...]

    @property
    def responsible_now(self) -> str:
        return self.current.holder

    def responsible_at(self, moment: datetime) -> Responsibility | None:
        """Who answered for the cylinder at ``moment`` (intervals are half-open); None before register."""
        for interval in reversed(self.custody):
            if interval.start <= moment and (interval.until is None or moment < interval.until):
                return Responsibility(interval.holder, interval.start, interval.until, interval.opened_by)
        return None

    def as_dict(self, ids: Mapping[int, Any] | None = None) -> dict[str, Any]:
        """The trace answer of CONTRACT.md (origin, custody, current, responsible); ``ids`` maps seq → id."""
        name = (lambda seq: seq) if ids is None else ids.__getitem__
        fill = self.origin.last_fill
        return {
            "origin": {"owner": self.origin.owner, "last_fill": None if fill is None else {
                "station": fill.station, "at": format_time(fill.at), "net_kg": fill.net_kg, "event": name(fill.event)}},
            "custody": [{"holder": i.holder, "from": format_time(i.start), "until": _time(i.until),
                         "events": [name(seq) for seq in i.events]} for i in self.custody],
            "current": {"holder": self.current.holder, "state": self.current.state.value,
                        "since": format_time(self.current.since)},
            "responsible": {"now": self.responsible_now, "first_responsible": self.first_responsible},
        }


def _time(moment: datetime | None) -> str | None:
    return None if moment is None else format_time(moment)
