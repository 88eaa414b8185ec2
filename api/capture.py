"""The capture worker: each server process runs one, which takes stored EPCIS capture jobs one after another.

``POST /v1/epcis/capture`` stores its job and wakes this process's worker; the
worker also looks for open jobs every ``idle`` seconds, so a job stored by a
process that died, or whose worker died midway (its lease ran out), is taken
up by whichever process looks next (``ledger.capture.work``). The work runs in
a thread, and ``close`` lets the chunk under way finish.
"""

from __future__ import annotations

import asyncio
import logging
import time

from fastapi.concurrency import run_in_threadpool

from ledger import capture
from ledger.service import Ledger

__all__ = ["CaptureWorker"]

log = logging.getLogger("ledger.capture")


class CaptureWorker:
    def __init__(self, ledger: Ledger, settings: capture.CaptureSettings, *, idle: float = 1.0) -> None:
        self.ledger = ledger
        self.settings = settings
        self.idle = idle
        self._running: dict[asyncio.AbstractEventLoop, tuple[asyncio.Task, asyncio.Event, asyncio.Event]] = {}

    def start(self) -> None:
        loop = asyncio.get_running_loop()
        if loop not in self._running:
            stopping, waking = asyncio.Event(), asyncio.Event()
            self._running[loop] = (loop.create_task(self._run(stopping, waking)), stopping, waking)

    def wake(self) -> None:
        """A job was stored: look at once rather than after the nap."""
        running = self._running.get(asyncio.get_running_loop())
        if running is not None:
            running[2].set()

    async def close(self) -> None:
        running = self._running.pop(asyncio.get_running_loop(), None)
        if running is not None:
            task, stopping, waking = running
            stopping.set()
            waking.set()
            await task

    async def _run(self, stopping: asyncio.Event, waking: asyncio.Event) -> None:
        failing_since: float | None = None
        while not stopping.is_set():
            waking.clear()
            try:
                done = await run_in_threadpool(capture.work, self.ledger, self.settings)
                failing_since = None
            except Exception:  # noqa: BLE001 - the job keeps its lease and is taken up again once it runs out
                clock = time.monotonic()
                if failing_since is None or clock - failing_since > 60:
                    log.exception("capturing failed; the job is tried again once its lease runs out")
                    failing_since = clock
                done = 0
            if done:
                continue  # there may be more open jobs
            try:
                await asyncio.wait_for(waking.wait(), self.idle)
            except TimeoutError:
                pass
