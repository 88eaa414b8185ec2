"""A burst of batches: one at a time per process, and the reviewer yields to them without stopping."""

from __future__ import annotations

import asyncio
import threading
import time

import httpx

from api.app import create_app
from api.review import Reviewer
from api.views import parse_item

from .conftest import World, event_body


def test_a_process_takes_one_batch_at_a_time(world: World, monkeypatch) -> None:
    ledger, admit = world.ledger, world.ledger.admit
    inside, most, lock = [0], [0], threading.Lock()

    def slow_admit(*args, **kwargs):
        with lock:
            inside[0] += 1
            most[0] = max(most[0], inside[0])
        try:
            time.sleep(0.1)  # long enough for the other batches to arrive meanwhile
            return admit(*args, **kwargs)
        finally:
            with lock:
                inside[0] -= 1

    monkeypatch.setattr(ledger, "admit", slow_admit)
    app = create_app(ledger=ledger)
    batches = [{"events": [event_body(world.cylinders[n % 3]) for n in range(5)]} for _ in range(3)]

    async def post_all() -> list[httpx.Response]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://ledger.test",
                                     headers=world.auth("station")) as client:
            return await asyncio.gather(*(client.post("/v1/events/batch", json=body) for body in batches))

    before = world.counts()["events"]
    answers = asyncio.run(post_all())
    assert [answer.status_code for answer in answers] == [200] * 3
    assert all(item["status"] == "created" for answer in answers for item in answer.json()["results"])
    assert world.counts()["events"] == before + 15
    assert most[0] == 1


def test_the_reviewer_rests_between_chunks_only_while_batches_arrive() -> None:
    reviewer = Reviewer(ledger=None, chunk=200, idle=0.25, rest=3.0, burst=0.5)  # type: ignore[arg-type]
    clock = time.monotonic()
    assert reviewer.pause(200, 0.04, clock) == 0.0  # a full chunk: more may be waiting
    assert reviewer.pause(50, 0.04, clock) == 0.25  # the queue ran dry: nap
    reviewer.batch_arriving()
    clock = time.monotonic()
    assert reviewer.pause(200, 0.04, clock) == 3.0 * 0.04
    assert reviewer.pause(50, 0.04, clock) == 3.0 * 0.04
    assert reviewer.pause(0, 0.0, clock) == 0.25  # nothing to review in a burst is still a nap
    assert reviewer.pause(200, 0.04, clock + 0.6) == 0.0  # the burst is over


def test_during_a_burst_the_reviewer_rests_yet_empties_the_queue(world: World) -> None:
    ledger = world.ledger
    with ledger.db.reading() as connection:
        station = ledger.authenticate(connection, world.tokens["station"])
    items = [parse_item(event_body(code), station) for code in world.cylinders]
    with ledger.db.writing() as connection:
        ledger.record_batch(connection, station, items, defer_review=True)
    with ledger.db.reading() as connection:
        queued = ledger.review_backlog(connection)[0]
    assert queued == len(world.cylinders) > 1

    reviewer = Reviewer(ledger, chunk=1, settled=0.0, rest=3.0, burst=3600.0)
    starts: list[float] = []
    pauses: list[float] = []
    review_chunk, pause = reviewer._review_chunk, reviewer.pause
    reviewer._review_chunk = lambda: starts.append(time.monotonic()) or review_chunk()
    reviewer.pause = lambda done, spent, clock: pauses.append(pause(done, spent, clock)) or pauses[-1]

    async def burst() -> int:
        reviewer.batch_arriving()  # and the burst lasts the whole test
        reviewer.start()
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            with ledger.db.reading() as connection:
                if ledger.review_backlog(connection)[0] == 0:
                    break
            await asyncio.sleep(0.02)
        await reviewer.close()
        with ledger.db.reading() as connection:
            return ledger.review_backlog(connection)[0]

    assert asyncio.run(burst()) == 0
    assert len(starts) >= queued and len(pauses) >= queued
    assert all(rest > 0 for rest in pauses[:queued])  # a chunk of one cylinder each, every one a rest
    # Each chunk began only after the rest that followed the one before it (a timer may fire a hair early).
    assert all(later - earlier >= rest - 0.001 for earlier, later, rest in zip(starts, starts[1:], pauses))
