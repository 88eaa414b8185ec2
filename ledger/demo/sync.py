"""Offline devices and their outboxes: when each scan reaches the ledger.

Every scan is taken on a device: a station terminal, a shop counter, a driver's
handheld, a delivery worker's phone. Terminals are online and push their outbox
every few minutes; handhelds and phones lose signal in basements and on rural
roads, so their outbox goes out minutes later, sometimes hours later. A device
sends everything pending in one batch, so the ledger receives scans in arrival
order, which differs from the order things happened (DOMAIN.md "Drivers work
offline"). Trace codes are issued online at registration, which arrives at once.
"""

from __future__ import annotations

import random
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from ..domain import EventKind
from ..service import Actor
from .places import Point

__all__ = ["Scan", "Batch", "Outbox", "MAX_BATCH"]

MAX_BATCH = 1000  # POST /v1/events/batch takes at most this many


@dataclass(slots=True)
class Scan:
    """One event as a device records it; ``cylinder`` is a fleet ``Cylinder`` or a bare code."""

    at: datetime
    kind: EventKind
    cylinder: object
    party: str
    key: str
    person: str | None = None
    to: str | None = None
    point: Point | None = None
    data: dict = field(default_factory=dict)


@dataclass(slots=True)
class Batch:
    """What one device sends in one go; ``registrations`` are ``(cylinder, at, key)``."""

    arrival: datetime
    device: str
    actor: Actor
    scans: list[Scan] = field(default_factory=list)
    registrations: list[tuple] = field(default_factory=list)


class Outbox:
    """Collects a day's scans per device and releases batches in arrival order."""

    def __init__(self, rng: random.Random, keys: random.Random, now: datetime) -> None:
        self.rng, self.keys, self.now = rng, keys, now
        self._today: list[tuple[str, Actor, bool, Scan]] = []
        self._open: dict[str, tuple[Batch, datetime]] = {}
        self._ready: list[Batch] = []
        self.scans = 0

    def key(self) -> str:
        """An idempotency key as a device makes one: a random UUID (seeded here)."""
        return str(uuid.UUID(int=self.keys.getrandbits(128), version=4))

    def scan(self, device: str, actor: Actor, mobile: bool, kind: EventKind, cylinder: object, at: datetime,
             *, person: str | None = None, to: str | None = None, point: Point | None = None,
             data: dict | None = None) -> str | None:
        """Record a scan; returns its idempotency key, or None for a cylinder without a label yet."""
        if not isinstance(cylinder, str):
            if not cylinder.registered:
                return None
            cylinder.scans += 1
        scan = Scan(at, kind, cylinder, actor.party, self.key(), person, to, point, data or {})
        self._today.append((device, actor, mobile, scan))
        self.scans += 1
        return scan.key

    def register(self, actor: Actor, labelled: list[tuple[object, datetime]]) -> datetime:
        """Register newly labelled cylinders in one online request; returns when it was answered.

        Trace codes are issued by the platform, so registration cannot wait for
        a sync: the request goes out as soon as the last label is scanned.
        """
        last = max(at for _, at in labelled)
        arrival = min(last + timedelta(seconds=self.rng.randint(3, 20)), self.now)
        for cylinder, _ in labelled:
            cylinder.registered = True
            cylinder.scans += 1
        items = [(cylinder, at, self.key()) for cylinder, at in labelled]
        self._ready.append(Batch(arrival, f"{actor.party}:register", actor, registrations=items))
        return arrival

    def _delay(self, mobile: bool) -> timedelta:
        if not mobile:  # terminals push their outbox every few minutes
            return timedelta(seconds=self.rng.randint(120, 360))
        draw = self.rng.random()
        if draw < 0.72:
            return timedelta(seconds=self.rng.randint(60, 15 * 60))
        if draw < 0.96:
            return timedelta(seconds=self.rng.randint(15 * 60, 2 * 3600))
        return timedelta(seconds=self.rng.randint(2 * 3600, 8 * 3600))

    def close_day(self, day_end: datetime) -> list[Batch]:
        """Form the day's batches; returns those that no later scan can join, in arrival order."""
        by_device: dict[str, list[tuple[Actor, bool, Scan]]] = {}
        for device, actor, mobile, scan in self._today:
            by_device.setdefault(device, []).append((actor, mobile, scan))
        self._today = []
        for device, scans in by_device.items():
            scans.sort(key=lambda item: item[2].at)
            for actor, mobile, scan in scans:
                current = self._open.get(device)
                if current is not None and scan.at <= current[1]:
                    current[0].scans.append(scan)
                    continue
                if current is not None:
                    self._ready.append(current[0])
                closes = scan.at + self._delay(mobile)
                self._open[device] = (Batch(min(closes, self.now), device, actor, [scan]), closes)
        for device in [d for d, (_, closes) in self._open.items() if closes <= day_end]:
            self._ready.append(self._open.pop(device)[0])
        return self._release()

    def drain(self) -> list[Batch]:
        """Everything still pending: devices sync one last time by ``now``."""
        self._ready.extend(batch for batch, _ in self._open.values())
        self._open = {}
        return self._release()

    def _release(self) -> list[Batch]:
        ready, self._ready = self._ready, []
        ready.sort(key=lambda batch: (batch.arrival, batch.device))
        out = []
        for batch in ready:
            for start in range(0, max(len(batch.scans), 1), MAX_BATCH):
                out.append(Batch(batch.arrival, batch.device, batch.actor, batch.scans[start:start + MAX_BATCH],
                                 batch.registrations if start == 0 else []))
        return out
