"""Group commit: concurrent single events share a transaction yet each keeps its own answer."""

from __future__ import annotations

import asyncio
import threading
import uuid
from datetime import timedelta

import httpx
import pytest

from api.app import create_app
from api.coalesce import WriteCoalescer
from ledger.outcomes import Purpose
from ledger.storage.db import WriterTurn

from .conftest import World, event_body


async def _post_all(world: World, app, bodies: list[dict]) -> list[httpx.Response]:
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://ledger.test",
                                 headers=world.auth("station")) as client:
        try:
            return await asyncio.gather(*(client.post("/v1/events", json=body) for body in bodies))
        finally:
            await app.state.coalescer.close()


def test_concurrent_events_share_commits_and_keep_their_own_answers(world: World, monkeypatch) -> None:
    groups: list[int] = []
    write = WriteCoalescer._write
    monkeypatch.setattr(WriteCoalescer, "_write", lambda self, group: groups.append(len(group)) or write(self, group))
    good = [event_body(world.cylinders[n % 3]) for n in range(40)]
    twin = dict(good[0])
    clash = {**good[1], "data": {"net_kg": 9.9}}
    unknown = event_body("AAAAAAAAAAA")
    before = world.counts()["events"]
    answers = asyncio.run(_post_all(world, create_app(ledger=world.ledger), [*good, twin, clash, unknown]))
    statuses = [answer.status_code for answer in answers]
    # Whichever of a pair the writer takes first wins: the twin repeats it (200), the clash conflicts (409).
    assert statuses[2:40] == [201] * 38 and statuses[-1] == 404
    assert sorted([statuses[0], statuses[40]]) == [200, 201]
    assert sorted([statuses[1], statuses[41]]) == [201, 409]
    assert answers[0].json()["event"]["id"] == answers[40].json()["event"]["id"]
    assert world.counts()["events"] == before + 40
    assert max(groups) > 1 and sum(groups) == 43  # shared, and each event written once


def test_one_poisoned_event_does_not_take_its_group_down(world: World, monkeypatch) -> None:
    poison = event_body(world.cylinders[0], idempotency_key=f"poison-{uuid.uuid4()}")
    record_batch = world.ledger.record_batch

    def fragile(connection, actor, items, now=None, **options):
        # Items arrive checked and encoded (Ledger.admit): the event is inside.
        if any(getattr(item, "event", item).idempotency_key == poison["idempotency_key"] for item in items):
            raise RuntimeError("a bug that only this event triggers")
        return record_batch(connection, actor, items, now, **options)

    monkeypatch.setattr(world.ledger, "record_batch", fragile)
    bodies = [event_body(world.cylinders[n % 3]) for n in range(10)] + [poison]
    before = world.counts()["events"]
    answers = asyncio.run(_post_all(world, create_app(ledger=world.ledger), bodies))
    assert [answer.status_code for answer in answers] == [201] * 10 + [500]
    assert answers[-1].headers["content-type"] == "application/problem+json"
    assert world.counts()["events"] == before + 10


@pytest.mark.parametrize("limit", [1, 3])
def test_groups_never_exceed_the_limit(world: World, monkeypatch, limit: int) -> None:
    groups: list[int] = []
    write = WriteCoalescer._write
    monkeypatch.setattr(WriteCoalescer, "_write", lambda self, group: groups.append(len(group)) or write(self, group))
    app = create_app(ledger=world.ledger)
    app.state.coalescer.limit = limit
    answers = asyncio.run(_post_all(world, app, [event_body(world.cylinders[n % 3]) for n in range(12)]))
    assert {answer.status_code for answer in answers} == {201}
    assert max(groups) <= limit and sum(groups) == 12


def test_the_rules_judge_a_group_once_it_is_committed_and_without_the_write_lock(world: World, monkeypatch) -> None:
    """The rules think in a read snapshot after the commit: the judging thread never holds SQLite's writer
    turn (the writer may hold it meanwhile for the next group: the two stages overlap, api.coalesce)."""
    ledger, supervisor = world.ledger, world.ledger.supervisor
    assess, judge, judging, seen = supervisor._assess, supervisor.assess, threading.local(), []
    holders: dict[int, int] = {}
    enter, leave = WriterTurn.__enter__, WriterTurn.__exit__

    def entered(turn):
        got = enter(turn)
        holders[id(turn)] = threading.get_ident()
        return got

    def left(turn, *exc):
        holders.pop(id(turn), None)
        return leave(turn, *exc)

    monkeypatch.setattr(WriterTurn, "__enter__", entered)
    monkeypatch.setattr(WriterTurn, "__exit__", left)

    def judged(connection, work, now):
        if work.purpose is not Purpose.WRITTEN:  # the world's app also runs a reviewer, which assesses its queue
            return judge(connection, work, now)
        judging.now = True
        try:
            return judge(connection, work, now)
        finally:
            judging.now = False

    def observed(connection, cylinders, now):
        if getattr(judging, "now", False):  # the world's app also runs a reviewer, which assesses its queue
            with ledger.db.reading() as other:  # another connection already sees the group's events
                committed = other.exec_driver_sql("SELECT COUNT(*) FROM events").scalar_one()
            turn = ledger.db._turn  # SQLite's writer turn; PostgreSQL has none
            seen.append((committed, turn is not None and holders.get(id(turn)) == threading.get_ident()))
        return assess(connection, cylinders, now)

    # That reviewer writes only what it takes off the queue: leave it nothing, so only the groups write.
    monkeypatch.setattr(world.client.app.state.reviewer, "settled", timedelta(hours=1))
    monkeypatch.setattr(supervisor, "assess", judged)
    monkeypatch.setattr(supervisor, "_assess", observed)
    before = world.counts()["events"]
    answers = asyncio.run(_post_all(world, create_app(ledger=world.ledger),
                                    [event_body(world.cylinders[n % 3]) for n in range(12)]))
    assert {answer.status_code for answer in answers} == {201}
    assert all(isinstance(answer.json()["findings"], list) for answer in answers)
    assert seen and all(committed > before and not locked for committed, locked in seen)
    assert seen[-1][0] == before + 12
