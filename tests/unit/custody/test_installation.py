"""The home safety check's shape, a city's own checklist, and the pure rules of unsafe installations."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest

from ledger.domain import Event, EventKind, FindingKind, Severity
from ledger.errors import InvalidInput
from ledger.facts import check_event_data
from ledger.rules import installation
from ledger.safety import DEFAULT_ITEMS, Checklist, check_shape, load

T0 = datetime(2026, 5, 1, 8, 0, tzinfo=timezone.utc)
CHECKLIST = Checklist()


def delivery(items: dict, *, to: str = "U1", at: datetime = T0, seq: int = 5, cylinder: str = "C1") -> Event:
    return Event(cylinder=cylinder, seq=seq, kind=EventKind.DELIVER, occurred_at=at, recorded_at=at, party="SHOP1",
                 person=None, to=to, location=None, data={"safety_check": {"items": items}},
                 idempotency_key=f"k-{cylinder}-{seq}", prev_hash=None, hash=b"\0" * 32, id=seq + 100)


def test_every_default_item_has_both_names_a_severity_and_a_source():
    codes = [item.code for item in DEFAULT_ITEMS]
    assert len(codes) == len(set(codes))
    assert {"gas_leak", "hose_condition", "hose_age", "regulator", "gas_alarm", "ventilation",
            "upright_away_from_heat", "no_second_cylinder"} <= set(codes)
    assert all(item.zh and item.en and item.source for item in DEFAULT_ITEMS)
    assert CHECKLIST.critical("gas_leak") and not CHECKLIST.critical("hose_age")


@pytest.mark.parametrize("check, field", [
    ([], "data.safety_check"),
    ({"items": {"gas_leak": "OK"}}, "data.safety_check.items.gas_leak"),
    ({"items": {"Gas Leak": "ok"}}, "data.safety_check.items"),
    ({"items": {"gas_leak": "ok"}, "photos": ["a" * 64, "a" * 64]}, "data.safety_check.photos"),
    ({"items": {"gas_leak": "ok"}, "photos": ["a" * 64] * 4}, "data.safety_check.photos"),
    ({"items": {"gas_leak": "ok"}, "note": "the user is 张三"}, "data.safety_check.note"),
])
def test_a_malformed_check_is_refused_naming_the_field(check, field):
    with pytest.raises(InvalidInput) as refused:
        check_event_data(EventKind.DELIVER, {"safety_check": check})
    assert refused.value.field == field


def test_a_check_belongs_to_a_delivery_only():
    with pytest.raises(InvalidInput):
        check_event_data(EventKind.COLLECT, {"safety_check": {"items": {"gas_leak": "ok"}}})
    assert check_shape({"items": {"gas_leak": "ok"}, "photos": ["b" * 64]})


def test_a_city_file_replaces_the_list_and_a_bad_one_is_refused_at_start(tmp_path):
    city = tmp_path / "items.json"
    city.write_text(json.dumps([{"code": "valve_box", "name_zh": "阀门箱完好", "name_en": "valve box sound",
                                 "severity": "high", "source": "本市瓶装燃气管理办法"}]), encoding="utf-8")
    checklist = load(city)
    assert [item.code for item in checklist] == ["valve_box"]
    checklist.check_known({"items": {"valve_box": "ok"}})
    with pytest.raises(InvalidInput) as refused:
        checklist.check_known({"items": {"gas_leak": "ok"}})
    assert refused.value.field == "data.safety_check.items.gas_leak"
    city.write_text(json.dumps([{"code": "valve_box", "severity": "urgent"}]), encoding="utf-8")
    with pytest.raises(ValueError, match="LEDGER_SAFETY_ITEMS"):
        load(city)
    assert load(None).items == DEFAULT_ITEMS


def test_a_failed_item_raises_an_unsafe_installation_of_the_worst_items_severity():
    (draft,) = installation.unsafe(delivery({"hose_age": "fail", "regulator": "fail", "gas_leak": "ok"}), CHECKLIST)
    assert draft.kind is FindingKind.UNSAFE_INSTALLATION and draft.severity is Severity.HIGH
    assert draft.evidence["items"][0] == ["hose_age", "连接软管在使用年限内", "hose within its service life"]
    assert [item[0] for item in draft.evidence["items"]] == ["hose_age", "regulator"]  # the checklist's order
    assert draft.evidence["to"] == "U1" and draft.events == (5,)
    assert installation.unsafe(delivery({"gas_leak": "ok", "gas_alarm": "n/a"}), CHECKLIST) == []


def test_a_critical_failure_also_makes_the_delivery_itself_a_finding():
    drafts = installation.unsafe(delivery({"gas_leak": "fail", "hose_age": "fail"}), CHECKLIST)
    kinds = {draft.kind: draft for draft in drafts}
    assert set(kinds) == {FindingKind.UNSAFE_INSTALLATION, FindingKind.DELIVERED_DESPITE_HAZARD}
    assert kinds[FindingKind.UNSAFE_INSTALLATION].severity is Severity.CRITICAL
    assert [item[0] for item in kinds[FindingKind.DELIVERED_DESPITE_HAZARD].evidence["items"]] == ["gas_leak"]


def test_only_a_later_delivery_to_the_same_user_finding_every_failed_item_ok_rechecks_it():
    (draft,) = installation.unsafe(delivery({"hose_condition": "fail", "gas_alarm": "fail"}), CHECKLIST)
    evidence = draft.evidence
    later = T0 + timedelta(days=20)
    fixed = {"hose_condition": "ok", "gas_alarm": "ok"}
    assert installation.rechecked(evidence, delivery(fixed, at=later, cylinder="C2", seq=3))["code"] == "rechecked"
    assert installation.rechecked(evidence, delivery(fixed, at=later, to="U2")) is None  # another user
    assert installation.rechecked(evidence, delivery(fixed, at=T0 - timedelta(hours=1))) is None  # earlier
    assert installation.rechecked(evidence, delivery({"hose_condition": "ok", "gas_alarm": "n/a"}, at=later)) is None
    assert installation.rechecked(evidence, delivery({"hose_condition": "ok"}, at=later)) is None

