"""The rules judge each write from what they carried forward (cylinders.judged), on a real database,
and store what judging the whole chain would."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from sqlalchemy import text

from ledger import custody, rules
from ledger.domain import EventKind, Role
from ledger.service import Actor
from ledger.storage import events as event_rows
from ledger.storage import findings as store
from tests.conftest import NOW, build_town, register
from tests.integration.test_supervision import event, record, trip


@pytest.fixture
def whole_chain_reads(monkeypatch):
    """The cylinders whose whole chain the supervisor read, one list per read."""
    reads: list[list[str]] = []
    real = store.histories

    def spying(connection, cylinders):
        cylinders = sorted(set(cylinders))
        if cylinders:
            reads.append(cylinders)
        return real(connection, cylinders)

    monkeypatch.setattr(store, "histories", spying)
    return reads


def judged_whole(ledger, cylinder, now):
    """What evaluating the whole chain from scratch gives: findings by key, and the projection."""
    with ledger.db.reading() as c:
        history = event_rows.history(c, cylinder)
        registry = ledger.supervisor.registry(c)
        row = c.execute(text("SELECT holder, state, chain_length, judged FROM cylinders WHERE id = :c"),
                        {"c": cylinder}).one()
        keys = {key: status for key, status, _ in store.stored_for(c, [cylinder])[cylinder]}
    config = ledger.supervisor.config
    trace = custody.replay(history, registry, config.clock_skew)
    fresh = {f.key for f in rules.evaluate(history, registry, config, now)}
    return keys, fresh, trace, row


def test_events_in_order_are_judged_from_what_was_carried_and_store_what_the_whole_chain_implies(
        ledger, whole_chain_reads):
    town = build_town(ledger)
    (a,) = register(ledger, town)
    start = NOW + timedelta(hours=1)
    # four trips (each fill after the first takes the cylinder back from the transporter unannounced),
    # then the shop takes it without a handover: four custody jumps in all
    for day in range(4):
        record(ledger, town, trip(town, a, start + timedelta(days=day)), start + timedelta(days=day, hours=1))
    record(ledger, town, [event(a, EventKind.RECEIVE, town.shop, start + timedelta(days=5))],
           start + timedelta(days=5, hours=1))
    assert whole_chain_reads == []  # every event continued the story: none read the chain again
    keys, fresh, trace, row = judged_whole(ledger, a, start + timedelta(days=5, hours=1))
    assert {k for k, status in keys.items() if status == "open"} == fresh and len(fresh) == 4
    assert (row.holder, row.state, row.chain_length) == (town.shop, trace.current.state.value, 14)
    assert json.loads(row.judged)["mark"]["length"] == 14


def test_a_late_event_inside_the_story_is_judged_with_the_whole_chain(ledger, whole_chain_reads):
    town = build_town(ledger)
    (a,) = register(ledger, town)
    start = NOW + timedelta(hours=1)
    items = trip(town, a, start)
    record(ledger, town, items[:2], start + timedelta(hours=1))
    record(ledger, town, [event(a, EventKind.RETURN, town.transporter, start + timedelta(hours=5), to=town.station,
                                data={"vehicle": "浙A12345", "driver": town.driver, "escort": town.escort})],
           start + timedelta(hours=6))
    with ledger.db.reading() as c:
        jumped = ledger.findings(c, cylinder=a)["items"]
    assert [(f["kind"], f["status"]) for f in jumped] == [("custody_jump", "open")]  # returned what it never received
    (late,) = record(ledger, town, items[2:], start + timedelta(hours=7))  # the receipt, held offline, occurred before
    assert whole_chain_reads == [[a]]
    with ledger.db.reading() as c:
        (finding,) = ledger.findings(c, cylinder=a)["items"]
    assert finding["status"] == "resolved" and finding["resolved_by"] == late.event.id
    keys, fresh, trace, row = judged_whole(ledger, a, start + timedelta(hours=7))
    assert fresh == set() and row.state == trace.current.state.value == "in_transit"


def test_a_chain_never_judged_is_judged_whole_once_then_carried(ledger, whole_chain_reads):
    town = build_town(ledger)
    (a,) = register(ledger, town)
    start = NOW + timedelta(hours=1)
    record(ledger, town, trip(town, a, start), start + timedelta(hours=1))
    with ledger.db.writing() as c:  # as a database migrated from before judgements were carried
        c.execute(text("UPDATE cylinders SET judged = NULL"))
    record(ledger, town, [event(a, EventKind.DISPATCH, town.transporter, start + timedelta(hours=2), to=town.shop,
                                data={"vehicle": "浙A12345", "driver": town.driver, "escort": town.escort})],
           start + timedelta(hours=3))
    record(ledger, town, [event(a, EventKind.RECEIVE, town.shop, start + timedelta(hours=4))], start + timedelta(hours=5))
    assert whole_chain_reads == []  # NULL brings the whole chain in the one read of new events
    keys, fresh, trace, row = judged_whole(ledger, a, start + timedelta(hours=5))
    assert keys == {} and fresh == set() and row.chain_length == 6 and row.holder == town.shop
    assert json.loads(row.judged)["mark"]["length"] == 6


def test_the_reviewer_judges_a_batch_from_what_was_carried(ledger, whole_chain_reads):
    town = build_town(ledger)
    a, b = register(ledger, town, 2)
    start = NOW + timedelta(hours=1)
    station = town.at_station
    for day in range(3):
        with ledger.db.writing() as c:
            ledger.record_batch(c, station, [trip(town, code, start + timedelta(days=day))[0] for code in (a, b)],
                                now=start + timedelta(days=day, hours=1), defer_review=True)
        with ledger.db.writing() as c:
            assert ledger.review(c, now=start + timedelta(days=day, hours=2)) == 2
    assert whole_chain_reads == []
    with ledger.db.reading() as c:
        lengths = {code: ledger.cylinder(c, code).chain_length for code in (a, b)}
    assert lengths == {a: 4, b: 4}


def test_a_review_of_a_chain_that_grew_meanwhile_stores_nothing(ledger):
    town = build_town(ledger)
    (a,) = register(ledger, town)
    shop = Actor(Role.SHOP, town.shop, "shop")
    with ledger.db.writing() as c:
        ledger.record_batch(c, shop, [event(a, EventKind.RECEIVE, town.shop, NOW + timedelta(hours=1))],
                            now=NOW + timedelta(hours=2), defer_review=True)
    supervisor = ledger.supervisor
    with ledger.db.reading() as c:
        assessed = supervisor.assess(c, supervisor.queued(c, NOW + timedelta(hours=2)), NOW + timedelta(hours=2))
    record(ledger, town, [event(a, EventKind.RETURN, town.shop, NOW + timedelta(hours=3), to=town.transporter)],
           NOW + timedelta(hours=4))
    with ledger.db.writing() as c:
        assert supervisor.store(c, assessed, NOW + timedelta(hours=4)).stored == 0
    keys, fresh, trace, row = judged_whole(ledger, a, NOW + timedelta(hours=4))
    assert {k for k, s in keys.items() if s == "open"} == fresh and row.chain_length == 3


def test_a_finding_whose_evidence_was_judged_before_names_that_event(ledger):
    town = build_town(ledger)
    (a,) = register(ledger, town)
    start = NOW + timedelta(hours=1)
    filled = record(ledger, town, trip(town, a, start), start + timedelta(hours=1))[0]
    (short,) = record(ledger, town, [event(a, EventKind.DELIVER, town.shop, start + timedelta(hours=3), to=town.end_user,
                                           data={"net_kg": 12.0})], start + timedelta(hours=4))
    weights = [f for f in short.findings if f["kind"] == "short_weight"]
    with ledger.db.reading() as c:
        (stored,) = ledger.findings(c, cylinder=a, kind="short_weight")["items"]
    assert len(weights) == 1 and stored["events"] == [filled.event.id, short.event.id]
