"""The reviewer: the ingest use case's judging step for what a batch recorded, a moment later.

``POST /v1/events/batch`` records its events and queues their cylinders
(``Ledger.ingest(judge=False)``) instead of replaying each one's
history inside the request: a scanner syncing its outbox gets no findings back
anyway, and the rules, not the database, would otherwise set the pace of a
burst of uploads. Each server process runs one reviewer, which takes the queue
in chunks and naps when it is empty. A chunk's histories are replayed and the
rules run in a read snapshot, outside the write lock; a short write transaction
then stores the findings and removes the queue rows together. A cylinder whose
chain grew meanwhile keeps what was judged and goes to the back of the queue
for the rest (``Supervisor.store`` of the queue's ``Work``).

The queue is a table, so a process killed midway leaves the cylinders queued
for the next reviewer (or ``ledger sweep``); none is lost. Single events
(``POST /v1/events``) are queued the same way, but their own writer judges them
the moment they are committed, because each answer lists the findings it raised
(``ledger.ingest``); the reviewer leaves cylinders queued less than
``settled`` ago to that writer, and takes them only if its process died.

During a burst of batches the reviewer yields: after each chunk it rests
three times as long as the chunk took, so the uploads get three quarters of
the process and a driver's sync is answered sooner. The queue holds each
cylinder once however many events it gains, so the cylinders reviewed later
are judged with more events at a time, and the findings follow a few seconds
after the burst (docs/design.md "The review queue").

The reviewer is a named background worker: it begins its own transactions, here
and nowhere else, and the judge's methods it calls take its connection.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from datetime import datetime, timedelta, timezone

from fastapi.concurrency import run_in_threadpool

from ledger import sequencer
from ledger.service import Ledger

from .background import LoopTask

__all__ = ["Reviewer"]

log = logging.getLogger("ledger.review")


class Reviewer(LoopTask):
    """One background task per process; ``close`` lets the chunk under way finish."""

    def __init__(self, ledger: Ledger, *, chunk: int = 200, idle: float = 0.25, settled: float = 1.0,
                 rest: float = 3.0, burst: float = 0.5) -> None:
        super().__init__()
        self.ledger = ledger
        self.chunk = chunk
        self.idle = idle
        # Cylinders queued this recently are left alone: a single event's writer is judging them
        # (api.coalesce); the reviewer takes them only if that writer's process died meanwhile.
        self.settled = timedelta(seconds=settled)
        # While batches keep arriving (one within ``burst`` seconds), the reviewer rests ``rest`` times
        # as long as each chunk took, so that taking them in gets most of the process.
        self.rest = rest
        self.burst = burst
        self._batch_at = -math.inf
        # One task per event loop: an application may be started more than once, on other loops.

    def _wanted(self) -> bool:
        return self.ledger.judge is not None

    def batch_arriving(self) -> None:
        """A batch is being taken in by this process: rest between chunks for a while (``pause``)."""
        self._batch_at = time.monotonic()

    def pause(self, done: int, spent: float, clock: float) -> float:
        """Seconds to wait before the next chunk, after one that reviewed ``done`` cylinders in ``spent``.

        During a burst of batches the reviewer takes at most 1 / (1 + rest) of the time; the
        cylinders wait on the queue and are judged with more new events each, which costs less
        per event. It never stops: each rest is followed by a chunk.
        """
        if done and clock - self._batch_at < self.burst:
            return self.rest * spent
        return 0.0 if done >= self.chunk else self.idle

    async def _run(self, stopping: asyncio.Event) -> None:
        failing_since: float | None = None  # log a streak of failures once a minute, not every nap
        while not stopping.is_set():
            began = time.monotonic()
            try:
                done = await run_in_threadpool(self._review_chunk)
                failing_since = None
            except Exception:  # noqa: BLE001 - a failed chunk stays queued; try again after a nap
                clock = time.monotonic()
                if failing_since is None or clock - failing_since > 60:
                    log.exception("review failed; the cylinders stay queued and are tried again")
                    failing_since = clock
                done = 0
            clock = time.monotonic()
            pause = self.pause(done, clock - began, clock)
            if pause > 0:
                try:
                    await asyncio.wait_for(stopping.wait(), pause)
                except TimeoutError:
                    pass

    def _review_chunk(self) -> int:
        """Assess a chunk in a read snapshot, then store the outcome in a short write transaction."""
        judge, now = self.ledger.judge, datetime.now(timezone.utc)
        sequencer.run(self.ledger.db)  # findings name events by log position: none is judged while pending
        with self.ledger.db.reading() as connection:
            assessed = judge.assess(connection, judge.queued(connection, now, self.chunk, self.settled), now)
        if assessed:
            with self.ledger.db.writing() as connection:
                judge.store(connection, assessed, now)
        return len(assessed)
