"""The provincial hub's own rules: one colour per enterprise, only listed fields kept, its accounts."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from fastapi.testclient import TestClient

from api.hub import hub_app
from ledger.service.hub import (
    FINDING_FIELDS, RISK_FIELDS, CityUnreachable, CityView, _counted, identity, merge_enterprises, only, province_counts,
)
from ledger.storage.hub import HubStore
from tests.api.served import free_port


def row(city: str, region: str, pid: str, colour: str, cylinders: int, score: float = 0.0) -> dict:
    return {"city": city, "region_of_city": region, "party": {"id": pid, "name": "燃气公司", "kind": "gas_company"},
            "colour": colour, "score": score, "cylinders": cylinders, "reasons": [f"{colour} in {city}"]}


def test_an_enterprise_has_one_colour_across_its_cities_the_worst_of_them():
    merged = merge_enterprises([
        row("杭州", "330100", "P1", "green", 10, 0.1),
        row("绍兴", "330600", "330100:P1", "red", 5, 0.9),  # 绍兴 names 杭州's party by its province-unique id
        row("绍兴", "330600", "P1", "yellow", 3, 0.4),  # 绍兴's own P1 is another enterprise
    ])
    assert [(m["enterprise"], m["colour"], m["cylinders"], m["score"]) for m in merged] == [
        ("330100:P1", "red", 15, 0.9), ("330600:P1", "yellow", 3, 0.4)]
    assert merged[0]["cities"] == {"杭州": {"colour": "green", "reasons": ["green in 杭州"]},
                                   "绍兴": {"colour": "red", "reasons": ["red in 绍兴"]}}
    assert identity({"id": "GLN:6901234567892"}, "330100") == "GLN:6901234567892"
    # 绍兴 lists 杭州's party by its id there and its 杭州 district: one enterprise with 杭州's own row
    assert identity({"id": "P1", "region": "330106", "home": "杭州"}, "330600") == identity(
        {"id": "P1", "region": "330106", "home": None}, "330100") == "330100:P1"
    assert identity({"id": "P2", "region": "000000", "home": "杭州"}, "330600") == "330600:P2"  # district unknown
    assert identity({"id": "P3", "region": "330106"}, "330600") == "330600:P3"  # its own party, wherever it is


def test_only_listed_fields_reach_the_hub():
    finding = {"id": 3, "kind": "short_weight", "note": "张三 13800001234 说", "history": [{"note": "x"}],
               "assignee": "7", "evidence": {"phone": "13800001234"}, "status": "open"}
    assert only(finding, FINDING_FIELDS) == {"id": 3, "kind": "short_weight", "status": "open"}
    assert only({"cylinder": "C1", "holder_name": "张三", "phone": "1"}, RISK_FIELDS) == {"cylinder": "C1"}


def test_only_listed_counts_reach_the_hub_and_a_malformed_count_is_a_missing_city():
    city = SimpleNamespace(city=SimpleNamespace(name="杭州"))
    answer = {"total": 2, "by_status": {"open": 2, "张三": 1}, "by_kind": {"short_weight": 2},
              "by_severity": {"critical": 1, "low": 1}, "phone": "13800001234"}
    kept = _counted(city, answer)
    assert set(kept) == {"total", "by_status", "by_kind", "by_severity"} and kept["total"] == 2
    assert kept["by_status"] == {"open": 2, "dispatched": 0, "handled": 0, "closed": 0, "resolved": 0}
    assert kept["by_kind"]["short_weight"] == 2 and "张三" not in str(kept)
    assert list(kept["by_severity"].items()) == [("critical", 1), ("high", 0), ("medium", 0), ("low", 1)]
    for wrong in ([], {"total": "2"}, {**answer, "total": -1}, {**answer, "by_kind": {"overfill": 1.5}},
                  {**answer, "by_status": None}, {**answer, "total": True}):
        with pytest.raises(CityUnreachable):
            _counted(city, wrong)
    dead = CityView("宁波", f"http://127.0.0.1:{free_port()}", "ningbo.test/log", "330200", "token")
    asked = province_counts([dead])
    assert asked["items"] == [] and asked["cities"]["宁波"].startswith("unreachable: 宁波: GET /v1/findings/counts")


def test_the_hubs_routes_need_one_of_its_accounts(tmp_path):
    store = HubStore(f"sqlite:///{tmp_path / 'hub.db'}")
    store.create()
    token = store.create_account("省市场监管局")
    try:
        client = TestClient(hub_app(store, lambda: []))
        refused = client.get("/v1/province/cities")
        assert refused.status_code == 401 and refused.headers["content-type"] == "application/problem+json"
        assert client.get("/v1/province/cities", headers={"Authorization": "Bearer nope"}).status_code == 401
        signed = {"Authorization": f"Bearer {token}"}
        assert client.get("/v1/province/cities", headers=signed).json() == []
        unknown = client.get("/v1/province/findings", params={"city": "温州"}, headers=signed)
        assert unknown.status_code == 404
        bad = client.get("/v1/province/risk/cylinders", params={"reason": "nonsense"}, headers=signed)
        assert bad.status_code == 422
        page = client.get("/", headers=signed)
        assert page.status_code == 200 and "各城市" in page.text and "Cities" not in page.text
        assert client.get("/", follow_redirects=False).status_code == 303  # to the sign-in page
    finally:
        store.dispose()
