"""Who held the cylinder when, where it is now, and who answers for it: from the replay."""

from __future__ import annotations

from datetime import timedelta

import pytest

from ledger.custody import UNANNOUNCED, in_time_order, replay
from ledger.domain import State
from ledger.errors import InvalidInput

from .story import CARRIER, CO, LAB, REGISTRY, SHOP, SHOP2, STATION, WORKER, Story, at

S = State


def test_a_full_round_passes_through_every_state_in_order():
    story = Story()
    story.round_trip(at(1))
    trace = replay(story.events, REGISTRY)
    assert [s.state for s in trace.steps] == [
        S.AT_STATION,  # register by the company
        S.AT_STATION, S.IN_TRANSIT, S.IN_TRANSIT,  # fill, dispatch (unconfirmed), carrier confirms
        S.IN_TRANSIT, S.AT_SHOP,  # carrier hands to the shop, shop confirms
        S.OUT_FOR_DELIVERY, S.WITH_USER,  # shop gives it to its delivery worker, who delivers
        S.AT_SHOP, S.IN_TRANSIT, S.IN_TRANSIT, S.IN_TRANSIT, S.AT_STATION,  # the empty goes back
    ]
    assert [s.holder for s in trace.steps] == [
        CO, STATION, STATION, CARRIER, CARRIER, SHOP, SHOP, SHOP, SHOP, SHOP, CARRIER, CARRIER, STATION,
    ]
    assert [i.holder for i in trace.custody] == [CO, STATION, CARRIER, SHOP, CARRIER, STATION]
    assert trace.current.holder == STATION and trace.current.state is S.AT_STATION
    assert trace.first_responsible == CO


def test_an_unconfirmed_handover_leaves_the_cylinder_with_the_sender():
    story = Story()
    story.fill(at(1))
    story.dispatch(STATION, CARRIER, at(2))
    trace = replay(story.events, REGISTRY)
    assert (trace.current.holder, trace.current.state, trace.current.since) == (STATION, S.IN_TRANSIT, at(2))
    assert trace.responsible_at(at(3)).party == STATION
    assert [(h.sender, h.receiver, h.outcome) for h in trace.handovers] == [(STATION, CARRIER, None)]


def test_responsible_at_instants_of_a_round():
    story = Story()
    story.round_trip(at(1))
    trace = replay(story.events, REGISTRY)
    assert trace.responsible_at(at(-5)) is None  # before it was registered
    assert trace.responsible_at(at(0)).party == CO
    at_station = trace.responsible_at(at(2, ))
    assert (at_station.party, at_station.start, at_station.until, at_station.event) == (
        STATION, at(1), at(2) + timedelta(minutes=5), 1)
    # the receiver answers from the very instant it confirms (intervals are half-open)
    assert trace.responsible_at(at(2) + timedelta(minutes=5)).party == CARRIER
    # with the end user, the shop that delivered answers
    with_user = trace.responsible_at(at(days=10))
    assert (with_user.party, with_user.event) == (SHOP, 5)
    assert trace.responsible_at(at(days=100)).until is None
    assert trace.responsible_at(at(days=100)).as_dict()["until"] is None


def test_out_of_order_arrival_tells_the_same_story_as_arrival_in_time_order():
    story = Story()
    story.round_trip(at(1))
    # the carrier's handheld was offline: its scans arrive after the shop's and the station's
    carrier = [i for i, e in enumerate(story.events) if e.party == CARRIER]
    others = [i for i in range(len(story.events)) if i not in carrier]
    shuffled = story.arriving(others + carrier)
    assert [e.kind for e in shuffled] != [e.kind for e in story.events]
    by_key = lambda events: {e.seq: e.idempotency_key for e in events}  # noqa: E731
    assert replay(shuffled, REGISTRY).as_dict(by_key(shuffled)) == replay(story.events, REGISTRY).as_dict(
        by_key(story.events))


def test_last_fill_is_the_latest_in_time_not_the_latest_to_arrive():
    story = Story()
    story.fill(at(days=2), kg=14.2)
    story.fill(at(1), kg=14.6)  # synced late from an offline station terminal
    trace = replay(story.events, REGISTRY)
    assert (trace.origin.last_fill.net_kg, trace.origin.last_fill.event) == (14.2, 1)


def test_a_handover_stamped_by_a_fast_clock_is_forgiven_within_the_skew_allowance():
    story = Story()
    story.fill(at(1))
    story.receive(CARRIER, at(2))  # the carrier confirms by its own clock
    story.dispatch(STATION, CARRIER, at(2) + timedelta(minutes=2))  # the station's clock runs fast
    trace = replay(story.events, REGISTRY)
    assert [s.event.seq for s in trace.steps] == [0, 1, 3, 2]
    assert [s.jump for s in trace.steps] == [None, None, None, None]
    assert trace.current.holder == CARRIER


def test_beyond_the_skew_allowance_the_story_is_taken_as_stamped():
    story = Story()
    story.fill(at(1))
    story.receive(CARRIER, at(2))
    story.dispatch(STATION, CARRIER, at(2) + timedelta(minutes=20))
    trace = replay(story.events, REGISTRY)
    # the carrier took it unannounced, then the station dispatched what the carrier held
    assert [s.jump for s in trace.steps] == [None, None, UNANNOUNCED, UNANNOUNCED]
    assert (trace.current.holder, trace.current.state) == (STATION, S.IN_TRANSIT)


def test_the_genesis_is_replayed_first_even_when_a_device_clock_puts_a_scan_before_it():
    story = Story()
    story.fill(at(-1.5))  # 30 minutes before the register, by the station's clock
    assert [s.event.kind.value for s in replay(story.events, REGISTRY).steps] == ["register", "fill"]
    assert [e.seq for e in in_time_order(story.events)] == [0, 1]


def test_a_history_without_its_register_is_refused():
    story = Story()
    story.fill(at(1))
    with pytest.raises(InvalidInput):
        replay(story.events[1:], REGISTRY)


def test_a_scrapped_cylinder_stays_scrapped_but_the_trace_still_shows_who_has_it():
    story = Story()
    story.dispatch(STATION, LAB, at(1), crew={})
    story.receive(LAB, at(2))
    story.add("scrap", LAB, at(3))
    story.receive(SHOP2, at(days=4))  # turned up at a shop
    trace = replay(story.events, REGISTRY)
    assert (trace.current.holder, trace.current.state, trace.scrapped_at) == (SHOP2, S.SCRAPPED, at(3))
    assert trace.steps[-1].after_scrap and trace.steps[-1].jump is None


def test_a_delivery_round_that_comes_back_undelivered_is_at_the_shop_again():
    story = Story()
    story.dispatch(STATION, SHOP, at(1), crew={})
    story.receive(SHOP, at(2))
    story.add("dispatch", SHOP, at(3), to=WORKER)
    story.receive(SHOP, at(5))
    trace = replay(story.events, REGISTRY)
    assert [s.state for s in trace.steps[-2:]] == [S.OUT_FOR_DELIVERY, S.AT_SHOP]
    assert all(s.jump is None for s in trace.steps)


def test_any_shop_may_collect_an_empty_from_a_household():
    story = Story()
    story.dispatch(STATION, SHOP, at(1), crew={})
    story.receive(SHOP, at(2))
    story.deliver(at(3))
    story.add("collect", SHOP2, at(days=30))
    trace = replay(story.events, REGISTRY)
    assert (trace.current.holder, trace.current.state, trace.steps[-1].jump) == (SHOP2, S.AT_SHOP, None)
