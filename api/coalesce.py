"""Group commit for single events: concurrent POST /v1/events share one write transaction.

A durable commit costs a disk flush (several milliseconds on SQLite with
``synchronous=FULL``), and SQLite has one writer at a time, so one transaction
per request caps a process at a few hundred events a second and makes waiting
writers poll the lock. Instead each process keeps one writer: it takes every
event waiting at that moment (up to ``limit``), records them with
``Ledger.record_batch`` in one transaction, commits once, and only then answers
each request with its own outcome. Nothing changes for a client: a 201 still
means durable, a duplicate is still 200 with the original, a refusal is still
that event's own 4xx.

The custody rules, whose findings each answer carries, run after that commit
(``Ledger.judge_recorded``): in a read snapshot, then a short second
transaction stores what they found. The write lock is held for the appends and
for storing findings, not while the rules think, so the other process's
writer gets its turn sooner.

If the shared transaction fails as a whole (a database error, a bug), each
event is retried alone, so one event can never take another down with it.
If judging fails after the events are committed, their requests get the error
(a retry is answered 200 with the recorded event) and the cylinders stay
queued for the reviewer: nothing recorded goes unjudged.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime, timezone
from typing import Any

from fastapi.concurrency import run_in_threadpool

from ledger.domain import NewEvent
from ledger.service import Actor, Ledger, Outcome
from ledger.storage import Connection

__all__ = ["WriteCoalescer"]

log = logging.getLogger("ledger.write")

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
        now = datetime.now(timezone.utc)
        results = self._append(group, self._admit(group, now), now)
        created = [i for i, result in enumerate(results) if isinstance(result, Outcome) and result.status == "created"]
        try:
            judged: list[Outcome | BaseException] = self.ledger.judge_recorded([results[i] for i in created], now)
        except Exception as error:  # noqa: BLE001 - recorded, queued for the reviewer; the requests learn why
            log.exception("judging %d recorded events failed; they stay queued for the reviewer", len(created))
            judged = [error] * len(created)
        for index, outcome in zip(created, judged):
            results[index] = outcome
        return results

    def _admit(self, group: list[Pending], now: datetime) -> list[Any]:
        """Each event checked and encoded before the write lock is taken (``Ledger.admit``; reads only)."""
        try:
            with self.ledger.db.reading() as connection:
                return [self.ledger.admit(connection, actor, [event], now)[0] for actor, event, _ in group]
        except Exception:  # noqa: BLE001 - record_batch checks them itself, and reports what fails
            return [event for _, event, _ in group]

    def _append(self, group: list[Pending], items: list[Any], now: datetime) -> list[Outcome | BaseException]:
        try:
            with self.ledger.db.writing() as connection:
                return self._record(connection, group, items, now)
        except Exception:  # noqa: BLE001 - the shared transaction failed: give each event its own
            results: list[Outcome | BaseException] = []
            for index in range(len(group)):
                try:
                    with self.ledger.db.writing() as connection:
                        results.extend(self._record(connection, group[index:index + 1], items[index:index + 1], now))
                except Exception as error:  # noqa: BLE001 - reported to that event's request alone
                    results.append(error)
            return results

    def _record(self, connection: Connection, group: list[Pending], items: list[Any], now: datetime) -> list[Any]:
        by_actor: dict[Actor, list[int]] = {}
        for index, (actor, _, _) in enumerate(group):
            by_actor.setdefault(actor, []).append(index)
        results: list[Any] = [None] * len(group)
        if len(by_actor) > 1:  # several record_batch calls in one transaction: lock every cylinder first
            self.ledger.lock_cylinders(connection, (event.cylinder for _, event, _ in group))
        for actor, indexes in by_actor.items():
            outcomes = self.ledger.record_batch(connection, actor, [items[i] for i in indexes], now,
                                                defer_review=True)
            for index, outcome in zip(indexes, outcomes):
                results[index] = outcome
        return results
