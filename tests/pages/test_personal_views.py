"""The regulator's page of views of personal data: Chinese, filtered by ref and by day, paged, in the menu."""

from __future__ import annotations

import re
from datetime import datetime, timedelta

import pytest
from fastapi.testclient import TestClient

from api.pages import views
from api.pages.i18n import LOCAL

from .city import Town
from .conftest import sign_in
from .test_screens_text import english, seen


def _viewed(town: Town, times: int) -> str:
    """A new end user, seen in full ``times`` times by the regulator; returns the ref."""
    ledger = town.ledger
    with ledger.db.writing() as c:
        ref = ledger.create_end_user(c, town.actor("shop"), kind="household", name="钱多多", phone="13900007777",
                                     address="西湖区文三路 8 号")
        regulator = ledger.authenticate(c, town.tokens["regulator"])
        for n in range(times):
            ledger.end_user(c, regulator, ref, reason=f"投诉第{n + 1}号")
    return ref


def _rows(html: str) -> list[str]:
    return re.findall(r'<tr class="view-row">(.*?)</tr>', html, re.S)


def test_the_regulator_finds_who_viewed_a_user_by_ref_and_day_in_chinese(client: TestClient, town: Town) -> None:
    ref, other = _viewed(town, 2), _viewed(town, 1)
    sign_in(client, town.tokens["regulator"])
    page = client.get("/personal-views", params={"ref": ref})
    assert page.status_code == 200 and page.headers["cache-control"] == "no-store"
    rows = _rows(page.text)
    assert len(rows) == 2 and all(ref in row and other not in row for row in rows)
    assert "投诉第2号" in rows[0] and "投诉第1号" in rows[1]  # newest first
    assert "监管部门" in rows[0] and "regulator desk" in rows[0]
    assert 'href="/personal-views"' in page.text  # in the regulator's menu
    assert "钱多多" not in page.text and "13900007777" not in page.text  # the log names refs, not people
    assert 'lang="zh-CN"' in page.text[:200]
    shown = seen(page.text).replace("regulator desk", " ").replace(ref, " ").replace(other, " ")
    assert not english(shown, town), sorted(english(shown, town))

    today = datetime.now(LOCAL).date()
    same_day = client.get("/personal-views", params={"ref": ref, "since": today.isoformat(),
                                                     "until": today.isoformat()})
    assert len(_rows(same_day.text)) == 2
    later = client.get("/personal-views", params={"ref": ref, "since": (today + timedelta(days=1)).isoformat()})
    assert _rows(later.text) == [] and 'id="views-empty"' in later.text
    earlier = client.get("/personal-views", params={"ref": ref, "until": (today - timedelta(days=1)).isoformat()})
    assert _rows(earlier.text) == []


def test_the_list_pages_through_every_view_once(client: TestClient, town: Town,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    ref = _viewed(town, 5)
    monkeypatch.setattr(views, "PAGE", 2)
    sign_in(client, town.tokens["regulator"])
    reasons, url = [], f"/personal-views?ref={ref}"
    while url:
        page = client.get(url)
        reasons += re.findall(r"投诉第\d号", page.text)
        following = re.search(r'<a href="([^"]+)" rel="next">', page.text)
        url = following.group(1).replace("&amp;", "&") if following else None
    assert reasons == [f"投诉第{n}号" for n in (5, 4, 3, 2, 1)]


@pytest.mark.parametrize("params", [{"since": "2026-13-01"}, {"ref": "张三"},
                                    {"since": "2026-05-02", "until": "2026-05-01"}])
def test_bad_filters_get_a_chinese_explanation(client: TestClient, town: Town, params: dict) -> None:
    sign_in(client, town.tokens["regulator"])
    page = client.get("/personal-views", params=params)
    assert page.status_code == 422 and 'lang="zh-CN"' in page.text[:200]
    assert any(text in page.text for text in ("日期格式", "用户编号格式", "截止日期早于"))


@pytest.mark.parametrize("role", ["admin", "inspector", "shop"])
def test_only_regulators_open_the_page(client: TestClient, town: Town, role: str) -> None:
    sign_in(client, town.tokens[role])
    assert client.get("/personal-views").status_code == 403
    assert 'href="/personal-views"' not in client.get("/trace").text
