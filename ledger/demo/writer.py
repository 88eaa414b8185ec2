"""Writes the city's batches through the real service, thousands of events per transaction.

Each device batch is one ``Ledger.record_batch`` call whose ``now`` is the
batch's simulated arrival, so ``recorded_at`` is deterministic; registrations
go through ``Ledger.register``. Transactions span many batches, because one
commit per batch would spend the time on fsync instead of the ledger.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable
from datetime import timezone

from ..domain import Location, NewEvent
from ..service import Ledger
from .sync import Batch

__all__ = ["Writer"]


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
                now = batch.arrival.astimezone(timezone.utc)
                if batch.registrations:
                    registrations = [cylinder.registration(cylinder.owner.id, at.astimezone(timezone.utc), key)
                                     for cylinder, at, key in batch.registrations]
                    outcomes = self.ledger.register_batch(connection, batch.actor, registrations, now=now)
                    for (cylinder, _, _), outcome in zip(batch.registrations, outcomes):
                        if outcome.error is not None:
                            raise outcome.error  # the generator made an invalid registration: a bug
                        cylinder.code = outcome.event.cylinder
                    self.registered += len(outcomes)
                    written += len(outcomes)
                if not batch.scans:
                    continue
                events = [self._event(scan) for scan in batch.scans]
                outcomes = self.ledger.record_batch(connection, batch.actor, events, now=now)
                for scan, outcome in zip(batch.scans, outcomes):
                    self.outcomes[outcome.status] += 1
                    reason = None if outcome.error is None else outcome.error.message
                    if scan.key in self.watch:
                        self.fate[scan.key] = (outcome.status, outcome.event.id if outcome.event else None, reason)
                    elif outcome.status == "rejected":
                        self.rejections.append((scan.key, scan.kind.value, reason or ""))
                written += len(events)
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
