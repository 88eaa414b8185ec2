"""Each kind's data is a closed set of keys: nothing the contract does not name reaches the chain."""

from __future__ import annotations

import pytest

from ledger.domain import EventKind
from ledger.facts import DATA_KEYS, check_event_data
from ledger.errors import InvalidInput

VALID = {
    EventKind.FILL: {"net_kg": 14.5},
    EventKind.DISPATCH: {"vehicle": "浙A12345", "driver": "W1", "escort": "W2"},
    EventKind.RETURN: {"vehicle": "浙A12345"},
    EventKind.RECEIVE: {},
    EventKind.DELIVER: {"net_kg": 14.1},
    EventKind.COLLECT: {},
    EventKind.INSPECT: {"result": "pass", "next_inspection_due": "2030-01-01"},
    EventKind.SCRAP: {"reason": "failed periodic inspection"},
    EventKind.REPORT: {"note": "seen at a market stall"},
}


@pytest.mark.parametrize("kind", VALID, ids=lambda kind: kind.value)
def test_every_kind_refuses_a_customer_key_naming_it(kind: EventKind) -> None:
    assert check_event_data(kind, VALID[kind]) == VALID[kind]
    with pytest.raises(InvalidInput) as refused:
        check_event_data(kind, {**VALID[kind], "customer": "张三 13800138000"})
    assert refused.value.field == "data.customer"
    assert "13800138000" not in refused.value.message


def test_every_kind_has_a_closed_schema() -> None:
    assert set(DATA_KEYS) == set(EventKind)


@pytest.mark.parametrize("kind, data, field", [
    (EventKind.SCRAP, {"reason": "owner 张三 moved away, phone 13800138000"}, "data.reason"),
    (EventKind.DISPATCH, {"driver": "张三 13800138000"}, "data.driver"),
    (EventKind.RETURN, {"vehicle": "浙A 12345 driven by 张三 13800138000"}, "data.vehicle"),
    (EventKind.REPORT, {"note": "seen\u202eevil"}, "data.note"),
    (EventKind.INSPECT, {"result": "fail", "next_inspection_due": "soon"}, "data.next_inspection_due"),
])
def test_free_text_where_a_kind_wants_a_fact_is_refused(kind, data, field) -> None:
    with pytest.raises(InvalidInput) as refused:
        check_event_data(kind, data)
    assert refused.value.field == field
