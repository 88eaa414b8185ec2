"""Runs the sweeper (``ledger.sweeper``) in the background of a server process, every interval.

The first sweep comes one interval after start-up, so a server that restarts
often does not sweep each time; ``ledger sweep`` runs one at once. Several
processes sweeping the same database is harmless: each stores only what
changed since the other's sweep.
"""

from __future__ import annotations

import asyncio
import logging

from fastapi.concurrency import run_in_threadpool

from ledger.service import Ledger
from ledger.sweeper import Sweeper

from .background import LoopTask

__all__ = ["PeriodicSweeper"]

log = logging.getLogger("ledger.sweep")


class PeriodicSweeper(LoopTask):
    """One background task per event loop; ``close`` lets a sweep under way finish."""

    def __init__(self, ledger: Ledger, interval: float) -> None:
        super().__init__()
        self.sweeper = Sweeper(ledger)
        self.interval = interval

    def _wanted(self) -> bool:
        return self.sweeper.ledger.judge is not None and self.interval > 0

    async def _run(self, stopping: asyncio.Event) -> None:
        while True:
            try:
                await asyncio.wait_for(stopping.wait(), self.interval)
                return
            except TimeoutError:
                pass
            try:
                done = await run_in_threadpool(self.sweeper.run)
                log.info("swept: %d reviewed, %d examined", done.reviewed, done.examined)
            except Exception:  # noqa: BLE001 - the next sweep tries again; nothing is half-stored
                log.exception("sweep failed; the next one tries again")
