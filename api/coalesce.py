"""The group writer: concurrent POST /v1/events travel to the ledger as one call of ``ledger.ingest``.

A durable commit costs a disk flush (several milliseconds on SQLite with
``synchronous=FULL``), and SQLite has one writer at a time, so one transaction
per request caps a process at a few hundred events a second and makes waiting
writers poll the lock. Instead each process keeps one writer: it takes every
event waiting at that moment (up to ``limit``) and hands them, one submission
per request, to the ingest use case, which appends them in one transaction,
commits once and judges them after the commit (``ledger.ingest``); only then is
each request answered with its own outcome. Nothing changes for a client: a
201 still means durable, a duplicate is still 200 with the original, a refusal
is still that event's own 4xx; one request's failure is that request's alone.

This module is a transport: it groups callers and hands back answers; what
happens to the events is the use case's one policy.
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timezone

from fastapi.concurrency import run_in_threadpool

from ledger.domain import NewEvent
from ledger.ingest import Submission
from ledger.service import Actor, Ledger, Outcome

__all__ = ["WriteCoalescer"]

Pending = tuple[Actor, NewEvent, "asyncio.Future[Outcome]"]


class WriteCoalescer:
    """One writer per process for single events; ``record`` awaits the event's committed outcome."""

    def __init__(self, ledger: Ledger, limit: int = 128) -> None:
        self.ledger = ledger
        self.limit = limit
        self._queue: asyncio.Queue[Pending] | None = None
        self._task: asyncio.Task | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    async def record(self, actor: Actor, event: NewEvent) -> Outcome:
        loop = asyncio.get_running_loop()
        if self._loop is not loop or self._task is None or self._task.done():
            self._loop, self._queue = loop, asyncio.Queue()
            self._task = loop.create_task(self._write_forever())
        future: asyncio.Future[Outcome] = loop.create_future()
        self._queue.put_nowait((actor, event, future))
        return await asyncio.shield(future)  # a client that hangs up does not unwrite its event

    async def close(self) -> None:
        """Stop the writer once nothing waits (the server has drained its requests)."""
        if self._task is not None and not self._task.done():
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass

    async def _write_forever(self) -> None:
        assert self._queue is not None
        while True:
            group = [await self._queue.get()]
            while len(group) < self.limit and not self._queue.empty():
                group.append(self._queue.get_nowait())
            results = await run_in_threadpool(self._write, group)
            for (_, _, future), result in zip(group, results):
                if future.done():
                    continue
                if isinstance(result, BaseException):
                    future.set_exception(result)
                else:
                    future.set_result(result)

    def _write(self, group: list[Pending]) -> list[Outcome | BaseException]:
        results = self.ledger.ingest([Submission(actor, [event]) for actor, event, _ in group],
                                     datetime.now(timezone.utc))
        return [result if isinstance(result, BaseException) else result[0] for result in results]
