"""Judging a story piece by piece, resuming from what each judgement carries forward, stores
exactly the findings, statuses and projection that judging the whole story each time does.

The stories are random: any party scanning anything at any time, arriving in any order and
in batches of any size, papers lapsed or missing, and parties registered in mid-story.
"""

from __future__ import annotations

import json
from datetime import date, timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ledger.custody import MemoryRegistry
from ledger.domain import Paper, Party, PartyKind, Person, PersonRole
from ledger.rules import RulesConfig, evaluate, judge, reconcile, resumable

from .story import (
    AT_SHOP, AT_STATION, CARRIER, CO, DRIVER, ESCORT, IN_BEIJING, LAB, OLD_DRIVER, PARTIES, PEOPLE, REGULATOR, SHOP,
    SHOP2, STATION, STATION2, WORKER, Story, at,
)

CFG = RulesConfig()
GHOST_SHOP, GHOST_DRIVER = "shop-new", "drv-new"  # unknown until registered in mid-story
LATE_PARTY = Party(GHOST_SHOP, PartyKind.SHOP, "New Shop", "330102", None)
LATE_PERSON = Person(GHOST_DRIVER, CARRIER, "Xu", PersonRole.DRIVER, Paper("DRV-9", date(2030, 1, 1)))

HOLDERS = [CO, STATION, STATION2, CARRIER, SHOP, SHOP2, LAB, GHOST_SHOP]
PLACES = [None, None, AT_STATION, AT_SHOP, IN_BEIJING]

scan = st.tuples(
    st.sampled_from(["fill", "dispatch", "return", "receive", "deliver", "collect", "inspect", "scrap", "report"]),
    st.sampled_from(HOLDERS + [REGULATOR]),
    st.sampled_from(HOLDERS + [WORKER, "user-1"]),
    # minutes after the scan before: minutes (within the clock skew), hours, weeks, or before it (offline)
    st.one_of(st.integers(0, 15), st.integers(60, 600), st.integers(1440, 1440 * 40), st.integers(-3000, -1)),
    # minutes from the scan to its upload: at once, or days later from an offline handheld
    st.one_of(st.just(1), st.integers(1440, 1440 * 40)),
    st.sampled_from(PLACES),
    st.sampled_from([None, 9.0, 14.5, 16.0]),
    st.sampled_from([None, DRIVER, OLD_DRIVER, GHOST_DRIVER]),
    st.sampled_from([None, ESCORT, DRIVER]),
    st.sampled_from(["pass", "fail"]),
)


def tell(scans) -> Story:
    story = Story(manufactured_on="2018-04-01", next_inspection_due="2026-03-20")  # near the end of its life
    when = at()
    for kind, party, to, gap, delay, place, kg, driver, escort, result in scans:
        when += timedelta(minutes=gap)
        data: dict = {}
        if kind == "fill" or kind == "deliver":
            data = {} if kg is None else {"net_kg": kg}
        elif kind in ("dispatch", "return"):
            data = {k: v for k, v in (("driver", driver), ("escort", escort)) if v}
        elif kind == "inspect":
            data = {"result": result, "next_inspection_due": "2030-01-01"}
        story.add(kind, party, when, to=to if kind in ("dispatch", "return", "deliver") else None, data=data,
                  location=place, recorded=when + timedelta(minutes=delay))
    return story


class Ledger:
    """Stored findings and the projection, as the service keeps them, by one way of judging."""

    def __init__(self, pieces: bool) -> None:
        self.pieces = pieces
        self.status: dict[str, str] = {}
        self.carried = None
        self.projection: dict = {}
        self.resumed = 0

    def record(self, history, batch, registry, now) -> dict[int, list[str]]:
        """``batch``: the events just recorded, the last ones of ``history``; returns each one's evidence."""
        if self.pieces and self.carried is not None and resumable(self.carried, batch, registry, CFG):
            judged = judge(batch, registry, CFG, now, carried=self.carried)
            self.resumed += 1
        else:
            judged = judge(history, registry, CFG, now)
        self.carried = json.loads(json.dumps(judged.carried))  # as the database gives it back
        fresh, scope = judged.findings, judged.scope
        if not self.pieces:
            assert fresh == evaluate(history, registry, CFG, now)
            assert scope is None
        outcome = reconcile(list(self.status.items()), fresh, batch[-1] if batch else None, scope)
        for draft in outcome.new + outcome.reopened:
            self.status[draft.key] = "open"
        for resolution in outcome.resolved:
            self.status[resolution.key] = "resolved"
        current = judged.trace.current
        self.projection = {
            "holder": current.holder, "state": current.state, "since": current.since,
            "due": judged.trace.next_inspection_due, "fill": judged.trace.origin.last_fill,
            "life_ends": judged.life_ends, "last": judged.last_event_at, "length": judged.length,
        }
        return {e.seq: sorted(f.key for f in fresh if e.seq in f.events) for e in batch}


@settings(max_examples=1000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scans=st.lists(scan, min_size=8, max_size=60), cuts=st.lists(st.integers(1, 6), min_size=1, max_size=40),
       registered_after=st.integers(0, 12))
def test_judging_in_pieces_stores_what_judging_the_whole_story_stores(scans, cuts, registered_after):
    story = tell(scans)
    registry = MemoryRegistry(PARTIES, PEOPLE)
    whole, pieces = Ledger(pieces=False), Ledger(pieces=True)
    done, turn = 0, 0
    while done < len(story.events):
        size = cuts[turn % len(cuts)]
        batch = story.events[done:done + size]
        done += len(batch)
        turn += 1
        if turn == registered_after:
            registry = MemoryRegistry(PARTIES + [LATE_PARTY], PEOPLE + [LATE_PERSON])
        now = max(e.recorded_at for e in story.events[:done])
        history = story.events[:done]
        assert pieces.record(history, batch, registry, now) == whole.record(history, batch, registry, now)
        assert pieces.status == whole.status
        assert pieces.projection == whole.projection
    # the clock alone, months later, with nothing new (the sweep)
    later = max(e.recorded_at for e in story.events) + timedelta(days=90)
    pieces.record(story.events, [], registry, later)
    whole.record(story.events, [], registry, later)
    assert pieces.status == whole.status
    assert pieces.projection == whole.projection


def test_a_story_told_in_order_is_judged_from_where_it_stopped():
    story = Story()
    end = story.round_trip(at(1))
    story.round_trip(end + timedelta(days=1))
    ledger = Ledger(pieces=True)
    for n in range(1, len(story.events) + 1):
        ledger.record(story.events[:n], story.events[n - 1:n], MemoryRegistry(PARTIES, PEOPLE),
                      story.events[n - 1].recorded_at)
    assert ledger.resumed == len(story.events) - 1  # every event after the register


def test_a_late_event_before_the_end_is_judged_with_the_whole_story():
    story = Story()
    story.fill(at(1))
    story.dispatch(STATION, CARRIER, at(3))
    story.receive(CARRIER, at(2))  # recorded after the dispatch, occurred before it
    carried = judge(story.events[:3], MemoryRegistry(PARTIES, PEOPLE), CFG, at(4)).carried
    assert not resumable(carried, story.events[3:], MemoryRegistry(PARTIES, PEOPLE), CFG)


def test_a_handover_that_would_move_before_a_judged_act_is_judged_with_the_whole_story():
    story = Story()
    story.receive(CARRIER, at(1))  # the carrier's handheld runs five minutes fast
    story.dispatch(STATION, CARRIER, at(1) + timedelta(minutes=3))
    registry = MemoryRegistry(PARTIES, PEOPLE)
    carried = judge(story.events[:2], registry, CFG, at(2)).carried
    assert not resumable(carried, story.events[2:], registry, CFG)
    story2 = Story()
    story2.receive(CARRIER, at(1))
    story2.dispatch(STATION, CARRIER, at(1) + timedelta(minutes=11))  # beyond the skew: a new handover
    carried = judge(story2.events[:2], registry, CFG, at(2)).carried
    assert resumable(carried, story2.events[2:], registry, CFG)


def test_a_party_registered_since_or_other_limits_mean_judging_the_whole_story_again():
    story = Story()
    story.fill(at(1))
    story.dispatch(STATION, GHOST_SHOP, at(2), crew={"driver": GHOST_DRIVER, "escort": ESCORT})
    story.receive(GHOST_SHOP, at(3))
    story.add("report", REGULATOR, at(4))
    before = MemoryRegistry(PARTIES, PEOPLE)
    carried = judge(story.events[:3], before, CFG, at(2)).carried
    assert resumable(carried, story.events[3:], before, CFG)
    assert not resumable(carried, story.events[3:], MemoryRegistry(PARTIES + [LATE_PARTY], PEOPLE), CFG)
    assert not resumable(carried, story.events[3:], MemoryRegistry(PARTIES, PEOPLE + [LATE_PERSON]), CFG)
    assert not resumable(carried, story.events[3:], before, RulesConfig(vanished_days=7))
    assert not resumable({**carried, "v": 0}, story.events[3:], before, CFG)
    assert not resumable(carried, story.events[4:], before, CFG)  # a seq missing in between
