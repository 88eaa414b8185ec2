"""docs/custody.md works one cylinder's life by hand; the code must give exactly its answers."""

from __future__ import annotations

import json
import re
from pathlib import Path

from ledger.custody import replay
from ledger.domain import Event, EventKind, parse_time
from ledger.rules import RulesConfig, evaluate, reconcile

from .story import REGISTRY

DOC = Path(__file__).resolve().parents[3] / "docs" / "custody.md"


def section(marker: str) -> str:
    text = DOC.read_text(encoding="utf-8")
    start = text.index(f"<!-- example:{marker} -->") + len(marker) + 17
    return text[start:]


def block(marker: str):
    body = section(marker)
    match = re.search(r"```json\n(.*?)\n```", body, re.S)
    return json.loads(match[1])


def example_events() -> list[Event]:
    events = []
    for line in section("events").splitlines()[3:]:
        if not line.startswith("|"):
            break
        seq, occurred, recorded, kind, party, to, person, data = (c.strip() for c in line.strip("|").split("|"))
        events.append(Event(
            cylinder="CYL-0001", seq=int(seq), kind=EventKind(kind), occurred_at=parse_time(occurred),
            recorded_at=parse_time(recorded), party=party, person=person or None, to=to or None, location=None,
            data=json.loads(data.strip("`")), idempotency_key=f"doc-example-{seq:0>4}", prev_hash=None,
            hash=bytes(32),
        ))
    return events


def test_the_documented_life_has_nineteen_events_in_arrival_order():
    events = example_events()
    assert [e.seq for e in events] == list(range(19))
    assert events[0].kind is EventKind.REGISTER and events[-1].kind is EventKind.SCRAP


def test_the_trace_answer_is_exactly_the_documented_one():
    assert replay(example_events(), REGISTRY).as_dict() == block("trace")


def test_responsible_at_is_exactly_the_documented_answer():
    expected = block("responsible")
    answer = replay(example_events(), REGISTRY).responsible_at(parse_time(expected["at"]))
    assert answer.as_dict() == expected["answer"]


def test_findings_as_the_events_arrived_are_the_documented_ones():
    events, stored = example_events(), []
    for check in block("findings"):
        arrived = events[: check["arrived"]]
        fresh = evaluate(arrived, REGISTRY, RulesConfig(), parse_time(check["now"]))
        assert [f.key for f in fresh] == check["findings"]
        result = reconcile(stored, fresh, arrived[-1])
        assert [r.event for r in result.resolved] == ([check["resolved_by"]] if "resolved_by" in check else [])
        stored = [f.key for f in fresh]
