"""Batches whose rules run a moment later: the review queue (ledger.supervision.Supervisor.review)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from ledger.domain import EventKind, Role, format_time
from ledger.service import Actor
from tests.conftest import NOW, build_town, fill, register
from tests.integration.test_carried_judgement import judged_whole
from tests.integration.test_supervision import event, record, unconfirmed_handover



def deferred(ledger, actor, items, now):
    with ledger.db.writing() as c:
        return ledger.record_batch(c, actor, items, now=now, defer_review=True)


def kinds(ledger, cylinder):
    with ledger.db.reading() as c:
        return sorted((f["kind"], f["status"]) for f in ledger.findings(c, cylinder=cylinder)["items"])


def backlog(ledger):
    with ledger.db.reading() as c:
        return ledger.review_backlog(c)[0]


def review(ledger, now, limit=200):
    with ledger.db.writing() as c:
        return ledger.review(c, now=now, limit=limit)


def test_a_deferred_batch_raises_what_the_rules_raise_inline_once_reviewed(ledger):
    town = build_town(ledger)
    inline, later = register(ledger, town, 2)
    shop = Actor(Role.SHOP, town.shop, "shop")
    jump = lambda code: event(code, EventKind.RECEIVE, town.shop, NOW + timedelta(hours=1))  # noqa: E731
    (now_outcome,) = record(ledger, town, [jump(inline)], NOW + timedelta(hours=2))
    (later_outcome,) = deferred(ledger, shop, [jump(later)], NOW + timedelta(hours=2))
    assert [f["kind"] for f in now_outcome.findings] == ["custody_jump"]
    assert later_outcome.status == "created" and later_outcome.findings == []
    assert kinds(ledger, later) == [] and backlog(ledger) == 1
    assert review(ledger, NOW + timedelta(hours=2, seconds=1)) == 1
    assert kinds(ledger, later) == kinds(ledger, inline) == [("custody_jump", "open")]
    assert backlog(ledger) == 0
    assert review(ledger, NOW + timedelta(hours=3)) == 0  # nothing queued: nothing stored twice
    assert kinds(ledger, later) == [("custody_jump", "open")]
    with ledger.db.reading() as c:
        row = ledger.cylinder(c, later)
    assert row.holder == town.shop and row.chain_length == 2  # the projection follows too


def test_an_event_evaluated_inline_takes_its_cylinder_off_the_queue(ledger):
    town = build_town(ledger)
    (a,) = register(ledger, town)
    shop = Actor(Role.SHOP, town.shop, "shop")
    deferred(ledger, shop, [event(a, EventKind.RECEIVE, town.shop, NOW + timedelta(hours=1))], NOW + timedelta(hours=2))
    assert backlog(ledger) == 1
    # the shop hands it back; the inline evaluation replays the whole history, the deferred receipt included
    (outcome,) = record(ledger, town, [event(a, EventKind.RETURN, town.shop, NOW + timedelta(hours=3),
                                             to=town.transporter)], NOW + timedelta(hours=4))
    assert outcome.status == "created" and backlog(ledger) == 0
    assert kinds(ledger, a) == [("custody_jump", "open")]


def test_a_review_that_fails_leaves_the_cylinder_queued_and_nothing_stored(ledger):
    town = build_town(ledger)
    (a,) = register(ledger, town)
    shop = Actor(Role.SHOP, town.shop, "shop")
    deferred(ledger, shop, [event(a, EventKind.RECEIVE, town.shop, NOW + timedelta(hours=1))], NOW + timedelta(hours=2))
    with pytest.raises(RuntimeError):
        with ledger.db.writing() as c:
            assert ledger.review(c, now=NOW + timedelta(hours=3)) == 1
            raise RuntimeError("the process dies before the commit")
    assert backlog(ledger) == 1 and kinds(ledger, a) == []
    assert review(ledger, NOW + timedelta(hours=3)) == 1
    assert kinds(ledger, a) == [("custody_jump", "open")]


def test_a_late_receipt_in_a_batch_resolves_the_handover_naming_that_receipt(ledger):
    town = build_town(ledger)
    (a,) = register(ledger, town)
    start = NOW + timedelta(hours=1)
    items, _ = unconfirmed_handover(ledger, town, a, start)
    assert kinds(ledger, a) == [("handover_unconfirmed", "open")]
    driver = Actor(Role.TRANSPORTER, town.transporter, "driver")
    (late,) = deferred(ledger, driver, items[2:], start + timedelta(hours=31))  # the outbox synced at last
    assert kinds(ledger, a) == [("handover_unconfirmed", "open")]
    review(ledger, start + timedelta(hours=31, seconds=1))
    with ledger.db.reading() as c:
        (finding,) = ledger.findings(c, cylinder=a)["items"]
    assert finding["status"] == "resolved" and finding["resolved_by"] == late.event.id
    assert "explained by receive" in finding["history"][-1]["note"]


def test_review_takes_the_longest_waiting_first_and_at_most_its_limit(ledger):
    town = build_town(ledger)
    codes = register(ledger, town, 5)
    shop = Actor(Role.SHOP, town.shop, "shop")
    for n, code in enumerate(codes):
        deferred(ledger, shop, [event(code, EventKind.RECEIVE, town.shop, NOW + timedelta(hours=1))],
                 NOW + timedelta(hours=2, minutes=n))
    assert review(ledger, NOW + timedelta(hours=3), limit=2) == 2
    assert [bool(kinds(ledger, code)) for code in codes] == [True, True, False, False, False]
    assert backlog(ledger) == 3
    assert review(ledger, NOW + timedelta(hours=3), limit=10) == 3 and backlog(ledger) == 0


def overtaken(ledger, readers=1):
    """A queued receipt assessed by ``readers`` reviewers in one snapshot, then a return recorded after it:
    (the cylinder, the assessments, when they were made)."""
    town = build_town(ledger)
    (a,) = register(ledger, town)
    shop = Actor(Role.SHOP, town.shop, "shop")
    deferred(ledger, shop, [event(a, EventKind.RECEIVE, town.shop, NOW + timedelta(hours=1))], NOW + timedelta(hours=2))
    now = NOW + timedelta(hours=3)
    with ledger.db.reading() as c:
        assessments = [ledger.supervisor.assess(c, ledger.supervisor.queued(c, now), now) for _ in range(readers)]
    deferred(ledger, shop, [event(a, EventKind.RETURN, town.shop, NOW + timedelta(hours=2, minutes=30),
                                  to=town.transporter)], NOW + timedelta(hours=2, minutes=31))
    return a, town, assessments, now


def test_an_assessment_overtaken_by_a_new_event_stores_what_it_judged_and_queues_the_rest(ledger):
    a, town, (assessed,), now = overtaken(ledger)
    supervisor = ledger.supervisor
    with ledger.db.writing() as c:
        assert supervisor.store(c, assessed, now).stored == 1  # the receipt is judged: that much is kept
    assert kinds(ledger, a) == [("custody_jump", "open")]
    with ledger.db.reading() as c:
        row = ledger.cylinder(c, a)
        # still queued for the return, behind whatever was queued before this review began
        assert ledger.review_backlog(c) == (1, format_time(now))
    assert row.chain_length == 2 and row.holder == town.shop
    assert review(ledger, now + timedelta(seconds=1)) == 1 and backlog(ledger) == 0
    keys, fresh, _, stored = judged_whole(ledger, a, now + timedelta(seconds=1))
    assert stored.chain_length == 3 and {key for key, status in keys.items() if status == "open"} == fresh


def test_an_assessment_is_not_stored_over_a_judgement_stored_after_it_was_read(ledger):
    a, _, (first, second), now = overtaken(ledger, readers=2)
    supervisor = ledger.supervisor
    with ledger.db.writing() as c:
        assert supervisor.store(c, first, now).stored == 1
    with ledger.db.writing() as c:  # another process's reviewer, with the same snapshot: nothing twice
        assert supervisor.store(c, second, now).stored == 0
    with ledger.db.reading() as c:
        (finding,) = ledger.findings(c, cylinder=a)["items"]
    assert [step["action"] for step in finding["history"]] == ["detect"] and backlog(ledger) == 1


def test_during_a_burst_every_review_makes_progress_and_reaches_every_queued_cylinder(ledger):
    town = build_town(ledger)
    codes = register(ledger, town, 3)
    start = NOW + timedelta(hours=1)
    station = town.at_station
    for n, code in enumerate(codes):  # queued one after another
        deferred(ledger, station, [fill(code, town, start)], start + timedelta(minutes=n))
    supervisor, reviewed = ledger.supervisor, []
    for day in range(1, 7):  # each chunk is overtaken: every cylinder gains a trip before it is stored
        now = start + timedelta(days=day)
        with ledger.db.reading() as c:
            assessed = supervisor.assess(c, supervisor.queued(c, now, limit=1), now)
        for code in codes:
            deferred(ledger, station, [fill(code, town, now)], now + timedelta(minutes=1))
        with ledger.db.writing() as c:
            assert supervisor.store(c, assessed, now).stored == 1
        reviewed += list(assessed)
    assert reviewed == codes + codes  # overtaken cylinders go to the back: none is taken again before the others
    with ledger.db.reading() as c:
        assert [ledger.cylinder(c, code).chain_length for code in codes] == [5, 6, 7]
    assert review(ledger, start + timedelta(days=8)) == 3 and backlog(ledger) == 0
    for code in codes:
        keys, fresh, _, row = judged_whole(ledger, code, start + timedelta(days=8))
        assert row.chain_length == 8 and {key for key, status in keys.items() if status == "open"} == fresh
