"""A replay names how custody moved with enums, so the rules cannot test for a word the machine never says."""

from __future__ import annotations

import pytest

from ledger.custody import HandoverEnd, Jump, replay

from .story import CARRIER, REGISTRY, SHOP, STATION, Story, at


def test_a_confirmed_handover_and_a_receipt_nobody_sent_are_told_apart_by_type():
    story = Story()
    story.fill(at(1))
    story.dispatch(STATION, CARRIER, at(2))
    story.receive(CARRIER, at(3))
    story.receive(SHOP, at(4))  # nobody handed it to the shop
    trace = replay(story.events, REGISTRY)
    (handover,) = trace.handovers
    assert handover.outcome is HandoverEnd.RECEIVED
    assert [step.jump for step in trace.steps] == [None, None, None, None, Jump.UNANNOUNCED]
    assert f"{Jump.UNCONFIRMED}" == "unconfirmed"  # notes and answers keep the machine's words


def test_a_misspelt_way_a_handover_ended_cannot_be_made():
    with pytest.raises(ValueError):
        HandoverEnd("recieved")
