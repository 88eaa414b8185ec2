"""Late events explain earlier findings: the fresh evaluation drops them and reconcile resolves them."""

from __future__ import annotations

import random
from datetime import timedelta

from ledger.domain import FindingKind as F
from ledger.rules import RulesConfig, evaluate, reconcile

from .story import CARRIER, REGISTRY, SHOP, STATION, Story, at

CFG = RulesConfig()


def test_a_late_receive_resolves_the_unconfirmed_handover_it_explains():
    story = Story()
    story.fill(at(1))
    dispatch = story.dispatch(STATION, CARRIER, at(2))
    before = evaluate(story.events, REGISTRY, CFG, now=at(30))
    assert [f.kind for f in before] == [F.HANDOVER_UNCONFIRMED]
    stored = [(before[0].key, "open", 77)]  # as the service keeps it: key, status, finding id

    # the carrier's handheld was in a basement; its receive (10 minutes after the dispatch) syncs now
    late = story.receive(CARRIER, at(2) + timedelta(minutes=10), recorded=at(30))
    after = evaluate(story.events, REGISTRY, CFG, now=at(30))
    new, resolved, reopened = reconcile(stored, after, trigger=late)

    assert after == [] and new == [] and reopened == []
    assert [(r.key, r.stored, r.event) for r in resolved] == [(before[0].key, stored[0], late.seq)]
    assert "receive" in resolved[0].note and "recorded late" in resolved[0].note
    assert before[0].events == (dispatch.seq,)


def test_a_shops_receive_looks_like_a_jump_until_the_carriers_offline_scans_arrive():
    story = Story()
    story.fill(at(1))
    story.dispatch(STATION, CARRIER, at(2))
    story.receive(SHOP, at(4.2))
    jump = evaluate(story.events, REGISTRY, CFG, now=at(5))
    assert [f.kind for f in jump] == [F.CUSTODY_JUMP]
    stored = [jump[0].key]

    story.receive(CARRIER, at(2.1), recorded=at(6))
    still = evaluate(story.events, REGISTRY, CFG, now=at(6))
    assert [f.key for f in still] == stored  # the carrier had it, but never handed it to the shop
    assert reconcile(stored, still, story.events[-1]).resolved == []

    explaining = story.dispatch(CARRIER, SHOP, at(4), crew=None)
    cleared = evaluate(story.events, REGISTRY, CFG, now=at(6))
    assert cleared == []
    assert [r.event for r in reconcile(stored, cleared, explaining).resolved] == [explaining.seq]


def test_reconcile_inserts_only_keys_never_stored_and_leaves_peoples_decisions_alone():
    story = Story()
    story.fill(at(1), kg=15.6)  # overfill
    story.dispatch(STATION, CARRIER, at(2))
    fresh = evaluate(story.events, REGISTRY, CFG, now=at(40))
    keys = {f.kind: f.key for f in fresh}
    assert set(keys) == {F.OVERFILL, F.HANDOVER_UNCONFIRMED}

    stored = [
        {"key": keys[F.OVERFILL], "status": "closed"},  # a regulator closed it: not new, not resolved
        {"key": "vanished:CYL-0001:9", "status": "handled"},  # no longer implied, but people handled it
        {"key": "custody_jump:CYL-0001:4", "status": "dispatched"},  # no longer implied: resolve
    ]
    result = reconcile(stored, fresh)
    assert [f.key for f in result.new] == [keys[F.HANDOVER_UNCONFIRMED]]
    assert [r.key for r in result.resolved] == ["custody_jump:CYL-0001:4"]
    assert result.resolved[0].event is None and "no longer implied" in result.resolved[0].note


def test_a_resolved_finding_the_history_implies_again_is_reopened_not_duplicated():
    story = Story()
    story.fill(at(1), kg=15.6)
    fresh = evaluate(story.events, REGISTRY, CFG, now=at(2))
    result = reconcile([(fresh[0].key, "resolved")], fresh)
    assert result.new == [] and [f.key for f in result.reopened] == [fresh[0].key]


def test_evaluation_is_deterministic_whatever_order_the_events_are_passed_in():
    story = Story()
    end = story.round_trip(at(1))
    story.fill(end, kg=15.9)
    story.dispatch(STATION, CARRIER, end + timedelta(hours=1), crew={"driver": "drv-ghost"})
    expected = evaluate(story.events, REGISTRY, CFG, now=end + timedelta(days=40))
    assert len(expected) >= 4
    shuffled = list(story.events)
    for seed in range(5):
        random.Random(seed).shuffle(shuffled)
        assert evaluate(shuffled, REGISTRY, CFG, now=end + timedelta(days=40)) == expected
