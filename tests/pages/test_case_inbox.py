"""The case pages on time: dispatch from the list, the inspector's inbox in the menu, the deadline
and its highlight, escalation in the history, handling with a photo (docs/cases.md)."""

from __future__ import annotations

import io
import re
from collections.abc import Iterator
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from PIL import Image
from sqlalchemy import text

from api.app import create_app
from ledger.sweeper import Sweeper

from .city import Town
from .conftest import sign_in
from .test_cases import account_of, fresh_case
from .test_public import visible
from .test_sessions import Clock


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def timed(town: Town, clock: Clock) -> Iterator[TestClient]:
    with TestClient(create_app(ledger=town.ledger, clock=clock), follow_redirects=False) as c:
        yield c


def jpeg() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (40, 30), (90, 90, 200)).save(out, "JPEG")
    return out.getvalue()


def photos_stored(town: Town) -> int:
    with town.ledger.db.reading() as c:
        return c.execute(text("SELECT COUNT(*) FROM case_photos")).scalar_one()


def test_a_case_reaches_the_inspectors_inbox_goes_overdue_and_is_handled_with_a_photo(town: Town, timed, clock):
    case = fresh_case(town)
    inspector_id = account_of(town, "inspector")
    csrf = sign_in(timed, town.tokens["regulator"])
    page = timed.get(f"/findings/{case}").text
    picker = page[page.index('<select id="assignee-dispatch"'):]
    picker = picker[:picker.index("</select>")]
    assert f'<option value="{inspector_id}">钱检查 · 市燃气管理办公室</option>' in picker  # a list, no free text
    assert 'list="inspectors"' not in page
    answer = timed.post(f"/findings/{case}/actions", data={"action": "dispatch", "csrf": csrf,
                                                           "assignee": str(inspector_id), "note": "请核查"})
    assert answer.status_code == 303
    page = visible(timed.get(f"/findings/{case}").text)
    assert "办理期限" in page and "已超期" not in page

    sign_in(timed, town.tokens["inspector"])
    home = timed.get("/cases/mine").text
    assert re.search(r'href="/cases/mine"[^>]*>我的案件 <span class="count" id="nav-count">\d+</span>', home)
    assert f'href="/findings/{case}"' in home and 'class="overdue"' not in home

    clock.advance(days=30)  # past any default deadline
    sign_in(timed, town.tokens["inspector"])  # the old sign-in has lapsed meanwhile
    assert f'<tr class="overdue">\n      <td><a href="/findings/{case}">' in timed.get("/cases/mine").text
    assert Sweeper(town.ledger).escalate(clock()) >= 1
    page = timed.get(f"/findings/{case}").text
    assert 'id="case-due" class="alert"' in page and "已超期" in page and "超期督办" in visible(page)

    csrf = sign_in(timed, town.tokens["inspector"])
    before = photos_stored(town)
    refused = timed.post(f"/findings/{case}/actions", data={"action": "handle", "csrf": csrf, "note": "已处置"},
                         files=[("photos", ("a.txt", b"not a picture", "text/plain"))])
    assert refused.status_code == 422 and "JPEG or PNG" in refused.text and photos_stored(town) == before
    done = timed.post(f"/findings/{case}/actions", data={"action": "handle", "csrf": csrf, "note": "已处置，见照片"},
                      files=[("photos", ("scene.jpg", jpeg(), "image/jpeg"))])
    assert done.status_code == 303 and photos_stored(town) == before + 1
    page = timed.get(f"/findings/{case}").text
    link = re.search(rf'href="(/findings/{case}/photos/[0-9a-f]{{64}})"', page)
    assert link
    shown = timed.get(link.group(1))
    assert shown.status_code == 200 and shown.headers["content-type"] == "image/jpeg"


def test_the_inbox_is_an_inspectors_page(town: Town, client):
    sign_in(client, town.tokens["regulator"])
    assert client.get("/cases/mine").status_code == 403
    assert "/cases/mine" not in client.get("/findings").text  # not in a regulator's menu
