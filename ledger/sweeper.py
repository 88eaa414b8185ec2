"""The sweeper: judges what nobody scanned, in short transactions of its own.

Two kinds of cylinder wait for a judgement no write will bring:

- those left on the review queue (a batch's, when no server process is running
  its reviewer, or one whose process died before judging them);
- those only the clock can turn into findings (``vanished``,
  ``handover_unconfirmed``), which the judge names as ``due``.

It also escalates the dispatched cases past their deadline (督办, docs/cases.md),
in one short transaction of their own.

Each is judged the one way (``ledger.service.judge``): the work is assessed in a
read snapshot and stored in a short write transaction, a chunk at a time, so
the sweeper holds the write lock only while it stores and never long enough to
keep appenders waiting. ``ledger sweep`` runs it once; every ``ledger serve``
process runs it every ``LEDGER_SWEEP_INTERVAL`` seconds (``api.sweeping``).

The sweeper is a named background worker: it begins its own transactions, here
and nowhere else.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from typing import TYPE_CHECKING

from . import sequencer
from .outcomes import Work

if TYPE_CHECKING:
    from .service import Ledger

__all__ = ["Sweep", "Sweeper"]


@dataclass(frozen=True)
class Sweep:
    """What one sweep did: cylinders judged off the review queue, and cylinders the clock was due to judge."""

    reviewed: int
    examined: int
    escalated: int = 0


class Sweeper:
    def __init__(self, ledger: Ledger, *, chunk: int = 500) -> None:
        self.ledger = ledger
        self.chunk = chunk

    def run(self, now: datetime | None = None) -> Sweep:
        """The review queue first, then the cylinders the clock is due to judge."""
        now = now or datetime.now(timezone.utc)
        escalated = self.escalate(now)
        if self.ledger.judge is None:
            return Sweep(0, 0, escalated)
        return Sweep(self.review(now), self.sweep(now), escalated)

    def escalate(self, now: datetime) -> int:
        """Escalate the overdue cases (each once: ``ledger.cases.escalate_overdue``); returns how many."""
        with self.ledger.db.writing() as connection:
            return len(self.ledger.escalate_overdue(connection, now))

    def review(self, now: datetime) -> int:
        """Judge the review queue a chunk at a time until a chunk stores nothing new; returns how many."""
        judge, reviewed = self.ledger.judge, 0
        sequencer.run(self.ledger.db)  # findings name events by log position: none is judged while pending
        while True:
            with self.ledger.db.reading() as connection:
                assessed = judge.assess(connection, judge.queued(connection, now, self.chunk), now)
            if not assessed:
                return reviewed
            with self.ledger.db.writing() as connection:
                stored = judge.store(connection, assessed, now).stored
            if not stored:
                return reviewed
            reviewed += stored

    def sweep(self, now: datetime) -> int:
        """Judge the cylinders the clock may have turned into findings; returns how many were examined."""
        judge = self.ledger.judge
        with self.ledger.db.reading() as connection:
            work: Work = judge.due(connection, now)
        for piece in work.chunks(self.chunk):
            with self.ledger.db.reading() as connection:
                assessed = judge.assess(connection, piece, now)
            with self.ledger.db.writing() as connection:
                judge.store(connection, assessed, now)
        return len(work)
