"""The canonical encoding: golden vectors, and the writer's template against full RFC 8785."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import rfc8785
from hypothesis import given, settings
from hypothesis import strategies as st

from ledger.canonical import canonical_json, event_bytes, event_hash
from ledger.errors import InvalidInput
from ledger.wire import hash_of_json

GOLDEN = json.loads((Path(__file__).parent / "golden" / "events.json").read_text(encoding="utf-8"))["vectors"]


def template_bytes(event: dict) -> bytes:
    return event_bytes(
        cylinder=event["cylinder"], seq=event["seq"], kind=event["kind"], occurred_at=event["occurred_at"],
        recorded_at=event["recorded_at"], party=event["party"], person=event["person"], to=event["to"],
        location_json="null" if event["location"] is None else canonical_json(event["location"], "location"),
        data_json=canonical_json(event["data"]), idempotency_key=event["idempotency_key"],
        prev_hash_hex=event["prev_hash"],
    )


@pytest.mark.parametrize("vector", GOLDEN, ids=[v["name"] for v in GOLDEN])
def test_golden_vectors(vector):
    assert template_bytes(vector["event"]).decode("utf-8") == vector["canonical"]
    assert event_hash(vector["canonical"].encode("utf-8")).hex() == vector["hash"]
    assert hash_of_json(vector["event"]).hex() == vector["hash"]


def test_golden_vectors_form_a_chain():
    for earlier, later in zip(GOLDEN, GOLDEN[1:]):
        assert later["event"]["prev_hash"] == earlier["hash"]


identifiers = st.from_regex(r"[A-Za-z0-9][A-Za-z0-9._:\-]{0,20}", fullmatch=True)
scalars = (st.none() | st.booleans() | st.integers(-(2**53) + 1, 2**53 - 1)
           | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=20))
json_values = scalars | st.lists(scalars, max_size=3) | st.dictionaries(st.text(max_size=8), scalars, max_size=3)
times = st.datetimes().map(lambda d: d.strftime("%Y-%m-%dT%H:%M:%S.%fZ"))
events = st.fixed_dictionaries({
    "cylinder": identifiers, "seq": st.integers(0, 10**6), "kind": st.sampled_from(["fill", "deliver", "report"]),
    "occurred_at": times, "recorded_at": times, "party": identifiers,
    "person": st.none() | identifiers, "to": st.none() | identifiers,
    "location": st.none() | st.fixed_dictionaries({"lat": st.floats(-90, 90), "lon": st.floats(-180, 180)}),
    "data": st.dictionaries(st.text(max_size=8), json_values, max_size=4),
    "idempotency_key": st.from_regex(r"[A-Za-z0-9._:\-]{8,40}", fullmatch=True),
    "prev_hash": st.none() | st.binary(min_size=32, max_size=32).map(bytes.hex),
})


@settings(max_examples=300, deadline=None)
@given(events)
def test_the_template_is_exactly_rfc8785(event):
    body = dict(event, v=1)
    assert template_bytes(event) == rfc8785.dumps(body)


@settings(max_examples=200, deadline=None)
@given(events, st.data())
def test_any_single_byte_change_changes_the_hash(event, data):
    canonical = bytearray(template_bytes(event))
    position = data.draw(st.integers(0, len(canonical) - 1))
    flip = data.draw(st.integers(1, 255))
    changed = bytearray(canonical)
    changed[position] ^= flip
    assert event_hash(bytes(changed)) != event_hash(bytes(canonical))


@pytest.mark.parametrize("bad", [
    {"x": float("nan")}, {"x": float("inf")}, {"x": 2**60}, {1: "a"}, {"x": "\ud800"},
    {"a": {"b": {"c": {"d": {"e": {"f": 1}}}}}}, {"x": "y" * 5000}, {"x": object()},
])
def test_data_that_json_cannot_carry_exactly_is_refused(bad):
    with pytest.raises(InvalidInput):
        canonical_json(bad)
