"""The EPCIS query parameters as the stored-event filter reads them."""

from __future__ import annotations

import pytest

from ledger.epcis.query import kinds_for_biz_step, parse_query
from ledger.errors import InvalidInput


def test_biz_steps_in_any_spelling():
    assert kinds_for_biz_step("shipping") == ["dispatch", "return"]
    assert kinds_for_biz_step("urn:epcglobal:cbv:bizstep:inspecting") == ["inspect", "report"]
    assert kinds_for_biz_step("https://ref.gs1.org/cbv/BizStep-receiving") == ["receive"]
    assert kinds_for_biz_step("loading") == []


def test_parameters_become_the_filter():
    selected = parse_query({
        "MATCH_anyEPC": "urn:epc:id:grai:0614141.12345.C1|urn:epc:id:sgtin:0614141.107346.1",
        "EQ_bizStep": "shipping|destroying", "GE_eventTime": "2026-05-01T08:00:00+08:00",
        "EQ_destination_possessing_party": "urn:x-cylinder-ledger:party:S1|urn:x-cylinder-ledger:user:U7",
    })
    assert selected["cylinders"] == ["C1"]
    assert selected["kinds"] == ["dispatch", "return", "scrap"]
    assert selected["event_from"] == "2026-05-01T00:00:00.000000Z"
    (condition,) = selected["parties"]
    assert (("deliver",), "to_ref", ["U7"]) in condition and (("dispatch", "return"), "to_ref", ["S1"]) in condition


def test_a_party_of_nothing_matches_nothing():
    assert parse_query({"EQ_source": "urn:epc:id:pgln:0614141.00001"}) == {"parties": [[]]}


@pytest.mark.parametrize("params, field", [
    ({"EQ_action": "ADD"}, "EQ_action"),
    ({"GE_eventTime": "2026-05-01"}, "GE_eventTime"),
    ({"MATCH_anyEPC": "a||b"}, "MATCH_anyEPC"),
    ({"EQ_bizStep": "x" * 201}, "EQ_bizStep"),
])
def test_bad_parameters_are_named(params, field):
    with pytest.raises(InvalidInput) as caught:
        parse_query(params)
    assert caught.value.field == field
