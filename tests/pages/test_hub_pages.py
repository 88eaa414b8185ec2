"""The provincial hub's pages read in Chinese, tell a city's follow problem and a trace's broken links in
Chinese, and switch to English with ``?lang=en``.

The province's lists come from the cities' APIs (tests/integration/test_hub.py runs real cities); here the
hub's use cases answer fixed rows, as three cities would, so every page and every kind of broken link is
shown without starting servers.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from api.hub import hub_app
from api.pages.strings import STRINGS
from ledger.errors import InvalidInput
from ledger.service import hub
from ledger.service.hub import PROBLEMS, CityView
from ledger.storage.hub import HubStore
from tests.conftest import BACKENDS, create_database, drop_database

from .test_screens_text import ALLOWED, WORD, seen

CODE = "7K3Q9XZ2ABM"
ORIGIN = {"杭州": "ledger.hangzhou.example/log", "绍兴": "ledger.shaoxing.example/log", "宁波": "ledger.ningbo.example/log"}
REGION = {"杭州": "330100", "绍兴": "330600", "宁波": "330200"}
ISSUES = [  # one of every kind of broken link
    {"kind": "starts_late", "seq": 2, "city": "绍兴"},
    {"kind": "held_twice", "seq": 3, "city": "杭州", "other_city": "绍兴"},
    {"kind": "missing", "first": 4, "last": 6},
    {"kind": "unlinked", "seq": 7, "city": "绍兴", "prev_seq": 6, "prev_city": "杭州"},
    {"kind": "not_handed", "seq": 6, "city": "杭州", "origin": ORIGIN["绍兴"]},
    {"kind": "not_received", "seq": 7, "city": "绍兴", "origin": ORIGIN["杭州"]},
]


def event(seq: int, kind: str, party: str) -> dict:
    return {"seq": seq, "kind": kind, "occurred_at": f"2026-03-0{seq + 1}T02:00:00Z", "party": party}


def segment(city: str, events: list[dict]) -> dict:
    return {"city": city, "origin": ORIGIN[city], "region": REGION[city], "tree_size": 40,
            "checkpoint": f"{ORIGIN[city]}\n40\nq3Xr0WQ2o8p1l6m5bD7t0cVh1yK9uZ2E4fHjJwA5sNc=\n",
            "first_seq": events[0]["seq"], "last_seq": events[-1]["seq"], "events": events}


def traced(issues: list[dict]) -> dict:
    return {"cylinder": CODE, "intact": not issues, "issues": issues,
            "problems": [PROBLEMS[i["kind"]].format(**i) for i in issues], "held_in": "绍兴",
            "last_kind": "fill", "last_at": "2026-03-03T02:00:00Z",
            "segments": [segment("杭州", [event(0, "register", "P1"), event(1, "dispatch", "P1")]),
                         segment("绍兴", [event(2, "fill", "330100:P1")])]}


@contextmanager
def province(url: str) -> Iterator[tuple[FastAPI, str]]:
    """The hub's app over three cities (杭州 followed, 绍兴 refused, 宁波 unreachable) and an account's token;
    the province's use cases answer fixed rows while it is open."""
    store = HubStore(url)
    store.create()
    for name in ORIGIN:
        store.add_city(name, f"http://{name}.invalid", ORIGIN[name], f"{name}+key", REGION[name], "token", "sqlite://")
    store.followed("杭州", "ok", None, 1200)
    store.followed("绍兴", "refused", "checkpoint 40 does not extend checkpoint 41 the hub verified")
    store.followed("宁波", "unreachable", "宁波: GET /log/checkpoint: connection refused")
    views = [CityView(name, f"http://{name}.invalid", ORIGIN[name], REGION[name], "token") for name in ORIGIN]
    risk = [{"city": "杭州", "cylinder": CODE, "reason": "overdue_inspection", "owner": "P1", "region": "330102",
             "state": "at_shop", "next_inspection_due": "2026-01-01", "last_event_at": "2026-03-01T02:00:00Z"}]
    findings = [{"city": "绍兴", "id": 9, "kind": "short_weight", "severity": "medium", "cylinder": CODE,
                 "party": "S2", "region": "330602", "detected_at": "2026-03-02T02:00:00Z", "status": "open"}]
    firms = [{"enterprise": "330100:P1", "colour": "red", "score": 0.9, "cylinders": 15,
              "party": {"id": "330100:P1", "kind": "gas_company", "name": "杭州燃气有限公司"},
              "cities": {"杭州": {"colour": "green", "reasons": []}, "绍兴": {"colour": "red", "reasons": []}}}]
    missing = {"杭州": "ok", "绍兴": "ok", "宁波": "unreachable: 宁波: GET /v1/findings: connection refused"}
    counts = [{"city": "杭州", "total": 0, "by_severity": dict.fromkeys(("critical", "high", "medium", "low"), 0)},
              {"city": "绍兴", "total": 3, "by_severity": {"critical": 1, "high": 0, "medium": 2, "low": 0}}]
    def page(items):
        def answer(cities, *args, cursor=None, **_):  # one page, and the next from the province's cursor
            if cursor == "BAD":
                raise InvalidInput("not a cursor of this list", field="cursor")
            return {"items": items, "next_cursor": None if cursor else "NEXT+/=", "cities": missing}
        return lambda cities, *args, **kwargs: answer(cities, *args[:-2], cursor=args[-2], **kwargs)

    try:
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(hub, "risk_page", page(risk))
            patch.setattr(hub, "findings_page", page(findings))
            patch.setattr(hub, "province_risk", lambda cities, *a, **k: {"items": risk, "cities": missing})
            patch.setattr(hub, "province_findings", lambda cities, *a, **k: {"items": findings, "cities": missing})
            patch.setattr(hub, "province_counts", lambda cities, *a, **k: {"items": counts, "cities": missing})
            patch.setattr(hub, "province_enterprises", lambda cities, *a, **k: {"items": firms, "cities": missing})
            patch.setattr(hub, "trace", lambda cities, code: traced(ISSUES if code == "BROKEN00001" else []))
            yield hub_app(store, lambda: views), store.create_account("省市场监管局")
    finally:
        store.dispose()


@pytest.fixture(params=BACKENDS)
def client(request, tmp_path) -> Iterator[TestClient]:
    url = create_database(request.param, tmp_path)
    try:
        with province(url) as (app, token), TestClient(app) as opened:
            opened.headers["Authorization"] = f"Bearer {token}"
            yield opened
    finally:
        drop_database(url)


PAGES = ("/", "/risk", "/risk?reason=past_design_life&city=杭州&region=330102", "/findings",
         "/findings?city=绍兴&kind=short_weight&status=", f"/trace?code={CODE}", "/trace?code=BROKEN00001")


def english(html: str) -> set[str]:
    text = seen(html)
    for value in [CODE, "BROKEN00001", "330100:P1", "P1", "S2", *ORIGIN.values()]:
        text = text.replace(value, " ")  # codes, ids and a log's origin are shown as they are written
    return {w for w in WORD.findall(text) if w not in ALLOWED}


@pytest.mark.parametrize("path", PAGES)
def test_every_hub_page_speaks_chinese(client, path):
    answer = client.get(path)
    assert answer.status_code == 200, (path, answer.text[:500])
    assert 'lang="zh-CN"' in answer.text[:200]
    assert not english(answer.text), (path, sorted(english(answer.text)))
    assert "全省气瓶追溯枢纽" in answer.text


def test_the_pages_tell_what_is_wrong_in_chinese_and_in_english(client):
    page = client.get("/").text
    assert "枢纽停止跟随" in page and "恢复后会自动补齐" in page  # 绍兴 refused, 宁波 unreachable
    assert "以下城市本次未应答" in page and "宁波" in page
    assert "杭州燃气有限公司" in page and "绍兴（红）" in page
    # Each city's open findings as it counted them, by severity; a city that did not answer has no number.
    opened = dict(re.findall(r'href="/findings\?city=([^"]+)">(\d+)</a>', page))
    assert opened == {"%E6%9D%AD%E5%B7%9E": "0", "%E7%BB%8D%E5%85%B4": "3"}
    assert "严重 1 · 中 2" in page
    broken = client.get("/trace?code=BROKEN00001").text
    assert "链断裂" in broken and "第 4 至 6 条不在枢纽持有的任何日志中" in broken
    assert "第 1 段 · 杭州" in broken and "第 2 段 · 绍兴" in broken and ORIGIN["绍兴"] in broken
    english_page = client.get("/trace?code=BROKEN00001&lang=en").text
    assert 'lang="en"' in english_page[:200] and "seqs 4 to 6 are in no log the hub holds" in english_page
    assert "Segment 2 · 绍兴" in english_page
    assert "refused: the log contradicts" in client.get("/?lang=en").text
    risk = client.get("/risk?city=杭州").text
    assert 'href="/v1/province/risk/cylinders?reason=overdue_inspection&amp;city=' in risk and "format=xlsx" in risk


def test_a_list_page_leads_to_the_next_under_the_same_filters(client):
    first = client.get("/findings?city=绍兴&kind=short_weight").text
    assert 'id="next-page" href="?city=%E7%BB%8D%E5%85%B4&amp;kind=short_weight&amp;status=open&amp;cursor=NEXT%2B%2F%3D"' \
        in first and "下一页" in first and 'id="first-page"' not in first
    last = client.get("/risk", params={"reason": "overdue_inspection", "cursor": "NEXT+/="}).text
    assert 'id="next-page"' not in last and 'id="first-page" href="?reason=overdue_inspection"' in last
    assert "Next page" in client.get("/risk?lang=en").text
    assert client.get("/findings?cursor=BAD").status_code == 422


def test_every_broken_link_has_words_in_both_languages():
    for kind, english_words in PROBLEMS.items():
        zh, en = STRINGS[f"hub.issue.{kind}"]
        names = set(re.findall(r"{(\w+)}", english_words))
        assert set(re.findall(r"{(\w+)}", en)) == names and set(re.findall(r"{(\w+)}", zh)) == names


def test_the_pages_need_an_account_and_refuse_bad_filters(client):
    token = client.headers.pop("Authorization").split()[1]
    moved = client.get("/risk", follow_redirects=False)
    assert moved.status_code == 303 and moved.headers["location"].startswith("/signin?next=")
    assert client.post("/signin", data={"token": "nope"}, follow_redirects=False).headers["location"].startswith(
        "/signin?failed=true")
    signed = client.post("/signin", data={"token": token, "next": "//elsewhere.example/"}, follow_redirects=False)
    assert signed.status_code == 303 and signed.headers["location"] == "/"  # never to another site
    assert client.get("/").status_code == 200  # the cookie now
    assert client.get("/risk?reason=nonsense").status_code == 422
    assert client.get("/findings?region=33").status_code == 422
    assert client.get("/findings?city=温州").status_code == 404
    assert 'lang="zh-CN"' in client.get("/findings?city=温州").text[:200]
