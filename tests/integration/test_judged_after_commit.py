"""Single events recorded first and judged a moment later (Ledger.admit, Ledger.judge_recorded).

The HTTP service's writer appends a group of single events in one transaction,
then runs the custody rules outside the write lock and stores their findings in
a second, short one. These tests hold that to what judging inside the append
gives, also when another write overtakes it and when judging fails.
"""

from __future__ import annotations

from datetime import timedelta

import pytest

from ledger.domain import EventKind, Role
from ledger.service import Actor
from tests.conftest import NOW, build_town, register
from tests.integration.test_review import backlog, kinds
from tests.integration.test_supervision import event, record


def recorded_then_judged(ledger, actor, items, now):
    with ledger.db.writing() as c:
        outcomes = ledger.record_batch(c, actor, items, now=now, defer_review=True)
    return ledger.judge_recorded(outcomes, now)


def stored(ledger, cylinder):
    """What the rules left in the database for a cylinder: findings, statuses and the projection."""
    with ledger.db.reading() as c:
        findings = sorted((f["kind"], f["status"], tuple(f["events"])) for f in
                          ledger.findings(c, cylinder=cylinder)["items"])
        row = ledger.cylinder(c, cylinder)
    return findings, (row.holder, row.state, row.chain_length)


def test_judged_after_the_commit_answers_and_stores_what_judging_inside_it_does(ledger):
    town = build_town(ledger)
    inline, after = register(ledger, town, 2)
    shop = Actor(Role.SHOP, town.shop, "shop")
    at = NOW + timedelta(hours=1)
    # A receipt nobody dispatched, then the shop hands it on: a custody jump, then a handover.
    story = lambda code: [event(code, EventKind.RECEIVE, town.shop, at),  # noqa: E731
                          event(code, EventKind.RETURN, town.shop, at + timedelta(minutes=5), to=town.transporter)]
    judged_inline = record(ledger, town, story(inline), NOW + timedelta(hours=2))
    judged_after = recorded_then_judged(ledger, shop, story(after), NOW + timedelta(hours=2))
    shape = lambda outcomes: [(o.status, [(f["kind"], f["severity"]) for f in o.findings])  # noqa: E731
                              for o in outcomes]
    assert shape(judged_after) == shape(judged_inline)
    assert [f["kind"] for f in judged_after[0].findings] == ["custody_jump"]
    assert all(f["id"] for o in judged_after for f in o.findings)  # stored: the answer names them
    assert stored(ledger, after)[0] == [("custody_jump", "open", (judged_after[0].event.id,))]
    assert stored(ledger, after)[1] == stored(ledger, inline)[1]
    assert backlog(ledger) == 0  # judged: off the reviewer's queue


def test_a_write_that_overtakes_the_judging_is_judged_with_it(ledger, monkeypatch):
    town = build_town(ledger)
    (a,) = register(ledger, town)
    shop = Actor(Role.SHOP, town.shop, "shop")
    supervisor = ledger.supervisor
    assess = supervisor._assess
    overtaken = []

    def assess_then_overtaken(connection, cylinders, now):
        assessed = assess(connection, cylinders, now)
        if not overtaken:  # another process appends to the same cylinder before the findings are stored
            overtaken.append(True)
            record(ledger, town, [event(a, EventKind.RETURN, town.shop, NOW + timedelta(hours=1, minutes=5),
                                        to=town.transporter)], NOW + timedelta(hours=2))
        return assessed

    monkeypatch.setattr(supervisor, "_assess", assess_then_overtaken)
    (receipt,) = recorded_then_judged(ledger, shop, [event(a, EventKind.RECEIVE, town.shop, NOW + timedelta(hours=1))],
                                      NOW + timedelta(hours=2))
    monkeypatch.undo()
    # The stale assessment was not stored; the chain was judged whole again, the later return included.
    assert [f["kind"] for f in receipt.findings] == ["custody_jump"]
    findings, projection = stored(ledger, a)
    assert findings == [("custody_jump", "open", (receipt.event.id,))]
    assert projection == (town.shop, "in_transit", 3)  # handed back, not yet received: the shop still holds it
    assert backlog(ledger) == 0


def test_when_judging_fails_the_events_stay_recorded_and_queued_for_the_reviewer(ledger, monkeypatch):
    town = build_town(ledger)
    (a,) = register(ledger, town)
    shop = Actor(Role.SHOP, town.shop, "shop")

    def failing(*_args, **_kwargs):
        raise RuntimeError("the disk is full")

    monkeypatch.setattr(ledger.supervisor, "_apply", failing)
    with pytest.raises(RuntimeError):
        recorded_then_judged(ledger, shop, [event(a, EventKind.RECEIVE, town.shop, NOW + timedelta(hours=1))],
                             NOW + timedelta(hours=2))
    monkeypatch.undo()
    assert backlog(ledger) == 1 and kinds(ledger, a) == []
    with ledger.db.reading() as c:
        assert len(ledger.history(c, a)) == 2  # recorded once, whatever judging did
    with ledger.db.writing() as c:
        assert ledger.review(c, now=NOW + timedelta(hours=3)) == 1
    assert kinds(ledger, a) == [("custody_jump", "open")]


def test_the_reviewer_leaves_cylinders_just_queued_to_the_writer_judging_them(ledger):
    town = build_town(ledger)
    (a,) = register(ledger, town)
    shop = Actor(Role.SHOP, town.shop, "shop")
    queued_at = NOW + timedelta(hours=2)
    with ledger.db.writing() as c:
        ledger.record_batch(c, shop, [event(a, EventKind.RECEIVE, town.shop, NOW + timedelta(hours=1))],
                            now=queued_at, defer_review=True)
    settled = timedelta(seconds=1)
    with ledger.db.reading() as c:
        assert ledger.supervisor.queued(c, queued_at + timedelta(milliseconds=500), settled=settled).cylinders == []
        assert ledger.supervisor.queued(c, queued_at + timedelta(seconds=2), settled=settled).cylinders == [a]
        assert ledger.supervisor.queued(c, queued_at).cylinders == [a]  # `ledger sweep` takes everything
