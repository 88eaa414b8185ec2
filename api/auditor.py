"""The auditor: the incremental audit (``ledger.audit``) of a serving ledger, every interval.

Each round it first has the publisher sign a checkpoint if the log grew, so that
what it audits is what a checkpoint promises (the publisher's own thread signs
on the same interval: the log gets at most two checkpoints an interval), then
examines in a read snapshot what is new
since the audited position plus a rolling share of the older events and of the
cylinders' projections, and stores the outcome — the new position, the chunk
roots, a finding per broken cylinder — in one short write transaction.

The auditor is a named background worker: it begins its own transactions, here
and nowhere else (the publisher owns the one that signs). A serving process
runs the rounds in a process of its own, at a lower priority (``apart``): a
round is up to seconds of Python (re-deriving projections replays whole
chains), and inside the serving process it held the interpreter from the
requests for as long (docs/performance.md). That process exits with the
serving one, even one killed outright.

With several server processes each runs one, but one audits at a time: a
process whose turn comes less than an interval after another process recorded
a round stands by that turn (``due``), so the rolling shares are a rate for the
ledger, not for each process, and no round is spent on work another one
already did. Should two
rounds still overlap, the one whose position the other moved meanwhile stores
nothing (``ledger.audit.record``); its process then stands by while the other
keeps the turn, and takes it over once that one stops recording.
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import os
import threading
import time
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from fastapi.concurrency import run_in_threadpool

from ledger import audit
from ledger.domain import format_time
from ledger.errors import CheckpointMismatch
from ledger.service import Ledger

from .background import LoopTask

__all__ = ["Auditor", "LedgerStatus", "Round"]

log = logging.getLogger("ledger.audit")


@dataclass(frozen=True)
class Round:
    """What one round did: events audited for the first time, older ones re-checked, defects, findings raised."""

    new_events: int
    rechecked: int
    breaks: int
    raised: list[int]
    seconds: float


class Auditor(LoopTask):
    """One background task per process; ``close`` lets the round under way finish."""

    # The rolling shares of a round are a rate, so a shorter interval makes more rounds of less work each rather
    # than more work in all: older events re-checked and projections compared per second of the interval
    # (20,000 and 2,000 a round at the default 10 s; docs/audit.md). A round re-checks at least one whole chunk.
    RECHECK_PER_SECOND = 2_000
    PROJECTIONS_PER_SECOND = 200

    def __init__(self, ledger: Ledger, *, interval: float | None = None, recheck: int | None = None,
                 projections: int | None = None, apart: bool = False) -> None:
        super().__init__()
        self.ledger = ledger
        # Rounds in a process of its own that opens the ledger from ``ledger.settings`` (a served ledger is
        # built from them alone); it starts with the first round and stops with this task.
        self.apart = apart
        self._process: ProcessPoolExecutor | None = None
        self.interval = ledger.settings.checkpoint_interval if interval is None else interval
        self.recheck = max(audit.CHUNK, round(self.RECHECK_PER_SECOND * self.interval)) if recheck is None else recheck
        self.projections = (max(1, round(self.PROJECTIONS_PER_SECOND * self.interval)) if projections is None
                            else projections)
        self.last: Round | None = None
        self.found: list = []  # the defects of the last round
        self._recorded: str | None = None  # when this auditor's last stored round was recorded

    async def _run(self, stopping: asyncio.Event) -> None:
        failing_since: float | None = None
        try:
            while not stopping.is_set():
                try:
                    if await run_in_threadpool(self.due):
                        await self._round()
                    failing_since = None
                except Exception:  # noqa: BLE001 - the position stays where it was; the next round tries again
                    clock = time.monotonic()
                    if failing_since is None or clock - failing_since > 60:
                        log.exception("audit round failed; tried again next interval")
                        failing_since = clock
                try:
                    await asyncio.wait_for(stopping.wait(), self.interval)
                except TimeoutError:
                    pass
        finally:
            if self._process is not None:
                process, self._process = self._process, None
                await run_in_threadpool(process.shutdown, True, cancel_futures=True)

    async def _round(self) -> None:
        if not self.apart:
            await run_in_threadpool(self.audit_once)
            return
        if self._process is None:
            self._process = ProcessPoolExecutor(
                1, mp_context=multiprocessing.get_context("spawn"), initializer=_start_apart,
                initargs=(os.getpid(), self.ledger.settings, self.interval, self.recheck, self.projections))
        try:
            self.last, self.found, self._recorded = await asyncio.get_running_loop().run_in_executor(
                self._process, _round_apart)
        except BrokenProcessPool:  # the audit process died (killed, out of memory): a new one next round
            self._process = None
            raise

    def due(self, now: datetime | None = None) -> bool:
        """False while another auditor (another server process's) recorded a round less than an interval ago."""
        with self.ledger.db.reading() as connection:
            at = audit.last_round_at(connection)
        if at is None or at == self._recorded:
            return True
        now = now or datetime.now(timezone.utc)
        return now - datetime.fromisoformat(at) >= timedelta(seconds=self.interval)

    def audit_once(self, now: datetime | None = None) -> Round:
        """One round: checkpoint, examine (read snapshot), record (write transaction)."""
        began = time.perf_counter()
        try:
            self.ledger.publisher.latest()
        except CheckpointMismatch as exc:  # the log no longer reproduces its signed past: the audit says where
            log.error("refused to sign a checkpoint: %s", exc)
        now = now or datetime.now(timezone.utc)
        judge = self.ledger.judge
        derive = getattr(judge, "projections", None)
        projected = None if derive is None else (lambda connection, ids: derive(connection, ids, now))
        with self.ledger.db.reading() as connection:
            examined = audit.examine(connection, self.ledger.verifier, recheck=self.recheck, projected=projected,
                                     projections=self.projections)
        with self.ledger.db.writing() as connection:
            raised = audit.record(connection, examined, now)
        if raised is not None:
            self._recorded = format_time(now)
        self.found = examined.breaks
        for item in examined.breaks:
            log.error("audit: %s %s seq %s: %s", item.kind.value, item.cylinder, item.seq, item.detail)
        self.last = Round(examined.new_events, examined.rechecked, len(examined.breaks), raised or [],
                          time.perf_counter() - began)
        return self.last


# The audit process's own auditor, over a ledger it opened from the serving process's settings.
_apart: Auditor | None = None


def _start_apart(parent: int, settings, interval: float, recheck: int, projections: int) -> None:
    """In the audit process: open the ledger and its auditor, yield the processors to the serving ones and the
    database when they want them (a lower priority: the audit has an interval to finish its round in, requests
    have milliseconds), and exit once the serving process is gone, even killed, when nobody stops this one."""
    global _apart
    if hasattr(os, "nice"):
        os.nice(10)

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(1.0)
        os._exit(0)  # a round under way is rolled back with its connection; the next server's auditor redoes it

    threading.Thread(target=watch, name="audit-follows-server", daemon=True).start()
    _apart = Auditor(Ledger(settings), interval=interval, recheck=recheck, projections=projections)


def _round_apart() -> tuple[Round, list, str | None]:
    """One round in the audit process: what it did, the defects it found, and when it recorded the round."""
    assert _apart is not None, "started by _start_apart"
    done = _apart.audit_once()
    return done, _apart.found, _apart._recorded


class LedgerStatus:
    """The ledger-wide audit answer (``ledger.audit.status``) as the pages' banner reads it, at most
    ``ttl`` seconds old, so a page view costs no query of its own."""

    def __init__(self, ledger: Ledger, ttl: float = 2.0) -> None:
        self.ledger = ledger
        self.ttl = ttl
        self._read_at = -float("inf")
        self._answer: dict | None = None

    def answer(self) -> dict:
        clock = time.monotonic()
        if self._answer is None or clock - self._read_at > self.ttl:
            with self.ledger.db.reading() as connection:
                self._answer = audit.status(connection)
            self._read_at = clock
        return self._answer

    def disputed(self) -> bool:
        try:
            return self.answer()["status"] == "disputed"
        except Exception:  # noqa: BLE001 - a schema not yet migrated: no banner rather than no page
            log.exception("could not read the audit status")
            return False
