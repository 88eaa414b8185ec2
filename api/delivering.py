"""Runs the webhook deliverer (``ledger.webhooks``) in the background of a server process.

Every ``INTERVAL`` seconds, when the deployment names webhooks (``LEDGER_WEBHOOKS``). Several
processes delivering from one database may each try a due job once in the same moment: a
receiver checks ``X-Ledger-Delivery`` to take each delivery once (docs/cases.md).
"""

from __future__ import annotations

import asyncio
import logging

from fastapi.concurrency import run_in_threadpool

from ledger.service import Ledger
from ledger.webhooks import Deliverer

__all__ = ["PeriodicDeliverer", "INTERVAL"]

INTERVAL = 5.0
log = logging.getLogger("ledger.webhooks")


class PeriodicDeliverer:
    def __init__(self, ledger: Ledger, interval: float = INTERVAL) -> None:
        self.deliverer = Deliverer(ledger) if ledger.settings.webhooks_file is not None else None
        self.interval = interval
        self._task: asyncio.Task | None = None
        self._stopping = asyncio.Event()

    def start(self) -> None:
        if self.deliverer is not None and self._task is None:
            self._stopping = asyncio.Event()
            self._task = asyncio.get_running_loop().create_task(self._run())

    async def close(self) -> None:
        if self._task is not None:
            self._stopping.set()
            await self._task
            self._task = None

    async def _run(self) -> None:
        while True:
            try:
                await asyncio.wait_for(self._stopping.wait(), self.interval)
                return
            except TimeoutError:
                pass
            try:
                await run_in_threadpool(self.deliverer.run)
            except Exception:  # noqa: BLE001 - nothing is lost: the outbox keeps it for the next round
                log.exception("webhook delivery failed; the next round tries again")
