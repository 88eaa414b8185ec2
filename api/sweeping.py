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

__all__ = ["PeriodicSweeper"]

log = logging.getLogger("ledger.sweep")


class PeriodicSweeper:
    """One background task per event loop; ``close`` lets a sweep under way finish."""

    def __init__(self, ledger: Ledger, interval: float) -> None:
        self.sweeper = Sweeper(ledger)
        self.interval = interval
        self._running: dict[asyncio.AbstractEventLoop, tuple[asyncio.Task, asyncio.Event]] = {}

    def start(self) -> None:
        loop = asyncio.get_running_loop()
        if self.sweeper.ledger.judge is not None and self.interval > 0 and loop not in self._running:
            stopping = asyncio.Event()
            self._running[loop] = (loop.create_task(self._run(stopping)), stopping)

    async def close(self) -> None:
        running = self._running.pop(asyncio.get_running_loop(), None)
        if running is not None:
            task, stopping = running
            stopping.set()
            await task

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
