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

The writer works in two stages, so that one group's round trips overlap the
next one's: it records a group (admitted, appended, sequenced, durable) and
hands it to the judge, which runs the custody rules on it and answers its
requests, while the writer already records the next group. Groups are judged
in the order they were recorded, and at most one waits for the judge, so a
slow judge slows the writer rather than letting answers fall behind. Should
the process die between the stages, the recorded events are durable and
queued for the reviewer, and a client that retries gets its event back.
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
# A group the writer recorded, waiting for the judge: its requests, their submissions, what recording
# answered each, and the arrival time both stages use.
Recorded = tuple[list[Pending], list[Submission], list, datetime]


class WriteCoalescer:
    """One writer per process for single events; ``record`` awaits the event's committed outcome."""

    def __init__(self, ledger: Ledger, limit: int = 128) -> None:
        self.ledger = ledger
        self.limit = limit
        self._queue: asyncio.Queue[Pending] | None = None
        self._recorded: asyncio.Queue[Recorded] | None = None
        self._tasks: list[asyncio.Task] = []
        self._loop: asyncio.AbstractEventLoop | None = None

    async def record(self, actor: Actor, event: NewEvent) -> Outcome:
        loop = asyncio.get_running_loop()
        if self._loop is not loop or not self._tasks or any(task.done() for task in self._tasks):
            for task in self._tasks:
                task.cancel()
            self._loop, self._queue, self._recorded = loop, asyncio.Queue(), asyncio.Queue(maxsize=1)
            self._tasks = [loop.create_task(self._write_forever()), loop.create_task(self._judge_forever())]
        future: asyncio.Future[Outcome] = loop.create_future()
        self._queue.put_nowait((actor, event, future))
        return await asyncio.shield(future)  # a client that hangs up does not unwrite its event

    async def close(self) -> None:
        """Stop the writer and the judge once nothing waits (the server has drained its requests)."""
        for task in self._tasks:
            if not task.done():
                task.cancel()
                try:
                    await task
                except asyncio.CancelledError:
                    pass

    async def _write_forever(self) -> None:
        assert self._queue is not None and self._recorded is not None
        while True:
            group = [await self._queue.get()]
            while len(group) < self.limit and not self._queue.empty():
                group.append(self._queue.get_nowait())
            try:
                submissions, results, now = await run_in_threadpool(self._write, group)
            except Exception as error:  # noqa: BLE001 - ingest reports per submission; this is a bug's safety net
                submissions, results, now = [], [error] * len(group), datetime.now(timezone.utc)
            await self._recorded.put((group, submissions, results, now))

    def _write(self, group: list[Pending]) -> tuple[list[Submission], list, datetime]:
        """The first stage: the group's events admitted, appended, sequenced and durable, not yet judged."""
        submissions = [Submission(actor, [event]) for actor, event, _ in group]
        now = datetime.now(timezone.utc)
        return submissions, self.ledger.ingest(submissions, now, judge=False), now

    async def _judge_forever(self) -> None:
        assert self._recorded is not None
        while True:
            group, submissions, results, now = await self._recorded.get()
            try:
                if submissions:
                    results = await run_in_threadpool(self.ledger.judge_ingested, submissions, results, now)
            except Exception as error:  # noqa: BLE001 - judging reports per submission; this is a bug's safety net
                results = [error] * len(group)
            for (_, _, future), result in zip(group, results):
                if future.done():
                    continue
                if isinstance(result, BaseException):
                    future.set_exception(result)
                else:
                    future.set_result(result[0])
