"""Offline devices and their outboxes: when each scan reaches the ledger.

Every scan is taken on a device: a station terminal, a shop counter, a driver's
handheld, a delivery worker's phone. Terminals are online and push their outbox
every few minutes; handhelds and phones lose signal in basements and on rural
roads, so their outbox goes out minutes later, sometimes hours later. A device
sends everything pending in one batch, so the ledger receives scans in arrival
order, which differs from the order things happened (DOMAIN.md "Drivers work
offline"). Trace codes are issued online at registration, which arrives at once.

The ``Writer`` feeds the batches to the real service: each device batch is one
submission to the ingest use case (``Ledger.ingest``) whose ``now`` is the
batch's simulated arrival, so ``recorded_at`` is deterministic; registrations go
through ``Ledger.register_batch`` first. One call spans many batches, because
one commit per batch would spend the time on fsync instead of the ledger.
"""

from __future__ import annotations

import random
import uuid
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

from ledger.domain import EventKind, Location, NewEvent
from ledger.ingest import Submission
from ledger.service import Actor, Ledger

from .places import Point

__all__ = ["Scan", "Batch", "Outbox", "Writer", "MAX_BATCH"]

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


class Writer:
    """Feeds batches to a ``Ledger``; counts outcomes and remembers the watched keys' fate."""

    def __init__(self, ledger: Ledger, *, transaction_events: int = 5000,
                 progress: Callable[[int], None] | None = None) -> None:
        self.ledger = ledger
        self.transaction_events = transaction_events
        self.progress = progress
        self.watch: set[str] = set()  # keys of planted scans
        self.fate: dict[str, tuple[str, int | None, str | None]] = {}  # key -> (status, event id, reason)
        self.outcomes: Counter[str] = Counter()
        self.rejections: list[tuple[str, str, str]] = []  # unplanned: (key, kind, reason)
        self.registered = 0

    def write(self, batches: Iterable[Batch]) -> None:
        group: list[Batch] = []
        size = 0
        for batch in batches:
            group.append(batch)
            size += len(batch.scans) + len(batch.registrations)
            if size >= self.transaction_events:
                self._commit(group)
                group, size = [], 0
        if group:
            self._commit(group)

    def _commit(self, group: list[Batch]) -> None:
        written = 0
        with self.ledger.db.writing() as connection:
            for batch in group:
                if batch.registrations:
                    now = batch.arrival.astimezone(timezone.utc)
                    registrations = [cylinder.registration(cylinder.owner.id, at.astimezone(timezone.utc), key)
                                     for cylinder, at, key in batch.registrations]
                    outcomes = self.ledger.register_batch(connection, batch.actor, registrations, now=now)
                    for (cylinder, _, _), outcome in zip(batch.registrations, outcomes):
                        if outcome.error is not None:
                            raise outcome.error  # the generator made an invalid registration: a bug
                        cylinder.code = outcome.event.cylinder
                    self.registered += len(outcomes)
                    written += len(outcomes)
        scanned = [batch for batch in group if batch.scans]
        results = self.ledger.ingest([Submission(batch.actor, [self._event(scan) for scan in batch.scans],
                                                 batch.arrival.astimezone(timezone.utc)) for batch in scanned])
        for batch, outcomes in zip(scanned, results):
            if isinstance(outcomes, BaseException):
                raise outcomes
            for scan, outcome in zip(batch.scans, outcomes):
                self.outcomes[outcome.status] += 1
                reason = None if outcome.error is None else outcome.error.message
                if scan.key in self.watch:
                    self.fate[scan.key] = (outcome.status, outcome.event.id if outcome.event else None, reason)
                elif outcome.status == "rejected":
                    self.rejections.append((scan.key, scan.kind.value, reason or ""))
            written += len(batch.scans)
        if self.progress is not None:
            self.progress(written)

    @staticmethod
    def _event(scan) -> NewEvent:
        code = scan.cylinder if isinstance(scan.cylinder, str) else scan.cylinder.code
        point = scan.point
        return NewEvent(
            cylinder=code, kind=scan.kind, occurred_at=scan.at.astimezone(timezone.utc), party=scan.party,
            idempotency_key=scan.key, to=scan.to, person=scan.person,
            location=None if point is None else Location(point.lat, point.lon), data=scan.data,
        )
