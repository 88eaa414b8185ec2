"""The sweeper: the review queue's leftovers and the clock's findings, judged in short transactions of its own."""

from __future__ import annotations

import dataclasses
import time
from datetime import timedelta

from fastapi.testclient import TestClient

from api.app import create_app
from ledger.domain import EventKind
from ledger.outcomes import Purpose
from ledger.service import Actor, Ledger
from ledger.domain import Role
from ledger.sweeper import Sweep, Sweeper
from tests.conftest import NOW, build_town, register

from .test_supervision import event, record, trip


def kinds(ledger, cylinder):
    with ledger.db.reading() as c:
        return sorted((f["kind"], f["status"]) for f in ledger.findings(c, cylinder=cylinder)["items"])


def test_the_sweeper_drains_the_queue_then_raises_what_the_clock_produces(ledger):
    town = build_town(ledger)
    unconfirmed, jumped = register(ledger, town, 2)
    start = NOW + timedelta(hours=1)
    record(ledger, town, trip(town, unconfirmed, start)[:2], start + timedelta(hours=1))  # no receipt yet
    with ledger.db.writing() as c:  # a batch's receipt that nobody dispatched, left queued by a stopped server
        ledger.record_batch(c, Actor(Role.SHOP, town.shop, "shop"),
                            [event(jumped, EventKind.RECEIVE, town.shop, start)], now=start, defer_review=True)
    assert kinds(ledger, jumped) == []

    done = Sweeper(ledger).run(now=start + timedelta(hours=30))

    assert done == Sweep(reviewed=1, examined=done.examined) and done.examined >= 1
    assert kinds(ledger, jumped) == [("custody_jump", "open")]
    assert kinds(ledger, unconfirmed) == [("handover_unconfirmed", "open")]
    with ledger.db.reading() as c:
        assert ledger.review_backlog(c)[0] == 0
    assert Sweeper(ledger).run(now=start + timedelta(hours=31)).reviewed == 0  # nothing stored twice
    assert kinds(ledger, unconfirmed) == [("handover_unconfirmed", "open")]


def test_a_chain_that_grows_while_the_sweeper_thinks_is_judged_again_whole(ledger, monkeypatch):
    """The sweeper judges in a read snapshot, outside the write lock: a receipt committed meanwhile must not be
    overwritten by the older judgement (the handover it confirms would stay 'unconfirmed')."""
    town = build_town(ledger)
    (a,) = register(ledger, town)
    start = NOW + timedelta(hours=1)
    items = trip(town, a, start)
    record(ledger, town, items[:2], start + timedelta(hours=1))
    supervisor, real, arrived = ledger.supervisor, ledger.supervisor.assess, []

    def assess(connection, work, now):
        assessed = real(connection, work, now)
        if work.purpose is Purpose.CLOCK and not arrived:  # the driver syncs while the sweeper thinks
            arrived.append(record(ledger, town, items[2:], start + timedelta(hours=29)))
        return assessed

    monkeypatch.setattr(supervisor, "assess", assess)
    Sweeper(ledger).run(now=start + timedelta(hours=30))

    assert arrived and kinds(ledger, a) == []
    with ledger.db.reading() as c:
        row = ledger.cylinder(c, a)
    assert row.chain_length == 4 and row.holder == town.transporter


def test_a_server_sweeps_by_itself_every_interval(ledger):
    town = build_town(ledger)
    (a,) = register(ledger, town)
    start = NOW + timedelta(hours=1)  # months before the wall clock the server sweeps by
    record(ledger, town, trip(town, a, start)[:2], start + timedelta(hours=1))
    served = Ledger(dataclasses.replace(ledger.settings, sweep_interval_seconds=1), ledger.db)
    with TestClient(create_app(ledger=served)):
        deadline = time.monotonic() + 30
        while ("handover_unconfirmed", "open") not in kinds(ledger, a) and time.monotonic() < deadline:
            time.sleep(0.2)
    assert ("handover_unconfirmed", "open") in kinds(ledger, a)
