"""The citizen's pages without JavaScript (docs/citizens.md): the label page offers a report, the form sends it
as a plain form, the tracking page follows it, all in Chinese; large type is remembered; the hotline printed."""

from __future__ import annotations

import io
import re
from collections.abc import Iterator
from dataclasses import replace

import pytest
from PIL import Image

from ledger import citizen
from ledger.domain import Role
from ledger.service import Actor

from .city import Town
from .test_screens_text import english, seen

CODE = re.compile(r'id="tracking-code">([0-9A-Z-]{19})<')


@pytest.fixture
def roomy(town: Town) -> Iterator[None]:
    """Many reports from the one test client's address: the address limit set out of the way."""
    town.ledger.__dict__["report_limits"] = citizen.parse_limits("address=1000/1h,cylinder=1000/1d,fold=7d")
    yield
    town.ledger.__dict__.pop("report_limits", None)


def chinese_only(answer, town: Town) -> None:
    assert 'lang="zh-CN"' in answer.text[:200]
    shown = re.sub(r"\b(?:[0-9A-Z]{4}-){3}[0-9A-Z]{4}\b", " ", seen(answer.text))  # tracking codes, as codes
    words = english(shown, town)
    assert not words, sorted(words)


def png() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (20, 20), (0, 90, 200)).save(out, format="PNG")
    return out.getvalue()


def send(client, **fields):
    files = fields.pop("files", None) or [("photos", ("", b"", "application/octet-stream"))]  # as a browser sends none
    return client.post("/report", data=fields, files=files)


def test_the_label_page_offers_a_report_of_that_cylinder_and_the_form_fills_it_in(town: Town, client) -> None:
    code = town.cylinders["clean"]
    label = client.get(f"/c/{code}")
    assert f'href="/report?cylinder={code}"' in label.text and "举报/反映问题" in label.text
    form = client.get(f"/report?cylinder={code}")
    assert form.status_code == 200
    assert 'enctype="multipart/form-data"' in form.text and "<script" not in form.text.split("<main>", 1)[1]
    assert f'value="{code[:4]}-{code[4:8]}-{code[8:]}"' in form.text
    for category in citizen.CATEGORIES.values():
        assert category.zh in form.text
    chinese_only(form, town)


def test_a_report_sent_as_a_plain_form_gives_a_code_the_tracking_page_follows(town: Town, client, roomy) -> None:
    answer = send(client, cylinder=town.cylinders["clean"], category="no_safety_check",
                  text="送气师傅没有检查软管就走了", contact="138 0000 1111",
                  files=[("photos", ("a.png", png(), "image/png"))])
    assert answer.status_code == 201, answer.text
    chinese_only(answer, town)
    printed = CODE.search(answer.text).group(1)
    track = client.get(f"/track?code={printed}")
    assert track.status_code == 200
    assert "已受理" in track.text and "送气未做入户安检" in track.text
    assert "138 0000 1111" not in track.text and "送气师傅" not in track.text
    chinese_only(track, town)

    code = citizen.tracking_code(printed)
    with town.ledger.db.reading() as c:
        finding = town.ledger.report_tracking(c, code)  # the case behind it, as the regulator would find it
        case = town.ledger.findings(c, kind="citizen_report", cylinder=town.cylinders["clean"])["items"][0]
    assert finding["status"] == "received" and case["history"][0]["photos"]
    regulator = Actor(Role.REGULATOR, town.parties["regulator"], "regulator")
    with town.ledger.db.writing() as c:
        town.ledger.finding_action(c, regulator, case["id"], action="close", note="已约谈送气企业，责令整改。")
    done = client.get(f"/track?code={code.lower()}")
    assert "已办结" in done.text and "已约谈送气企业，责令整改。" in done.text
    chinese_only(done, town)


def test_no_report_turns_a_cylinders_verdict_amber(town: Town, client, roomy) -> None:
    code = town.cylinders["clean"]
    for category in ("gas_smell_at_shop", "damaged_cylinder"):  # critical and high
        assert send(client, cylinder=code, category=category, text="恶意举报也要先核查").status_code == 201
    label = client.get(f"/c/{code}")
    assert 'class="verdict go"' in label.text and 'id="concerns"' not in label.text


def test_a_code_the_platform_never_issued_offers_a_report_without_it(town: Town, client) -> None:
    from ledger import tracecode

    answer = client.get(f"/c/{tracecode.generate()}")  # well formed, never registered: 黑气瓶
    assert answer.status_code == 404 and 'id="report-unregistered"' in answer.text
    chinese_only(answer, town)


def test_a_refused_report_comes_back_filled_in_and_explained_in_chinese(town: Town, client, roomy) -> None:
    answer = send(client, category="", text="有人在小区门口倒气")
    assert answer.status_code == 422
    assert "请选择问题类型" in answer.text and "有人在小区门口倒气" in answer.text
    chinese_only(answer, town)
    bad_photo = send(client, category="other", text="看图", files=[("photos", ("x.png", b"not an image", "image/png"))])
    assert bad_photo.status_code == 422 and "JPEG 或 PNG" in bad_photo.text
    chinese_only(bad_photo, town)


def test_too_many_reports_from_one_address_get_a_chinese_429(town: Town, client) -> None:
    town.ledger.__dict__["report_limits"] = citizen.parse_limits("address=1/1h,cylinder=10/1d,fold=7d")
    try:
        first = send(client, category="other", text="第一次")
        again = send(client, category="other", text="第二次")
    finally:
        town.ledger.__dict__.pop("report_limits", None)
    assert first.status_code in (201, 429)  # an earlier test of this module may have used the address already
    assert again.status_code == 429 and "提交太频繁" in again.text
    chinese_only(again, town)


def test_a_form_posted_from_another_site_is_not_taken(town: Town, client, roomy) -> None:
    answer = client.post("/report", data={"category": "other", "text": "跨站"}, headers={"Origin": "https://evil.example"})
    assert answer.status_code == 403 and "来自别的网站" in answer.text


def test_the_tracking_page_explains_a_typo_and_an_unknown_code(town: Town, client) -> None:
    typo = client.get("/track?code=ABCD-EFGH-JKLM-NPQ0")
    unknown = client.get(f"/track?code={citizen.new_tracking_code()}")
    assert {typo.status_code, unknown.status_code} <= {404, 422}
    assert "没有找到" in unknown.text
    for answer in (typo, unknown, client.get("/track")):
        chinese_only(answer, town)


def test_large_type_is_chosen_without_javascript_and_remembered(town: Town, client) -> None:
    page = client.get(f"/c/{town.cylinders['clean']}")
    assert 'class="large"' not in page.text[:200] and "大字模式" in page.text
    large = client.get(f"/c/{town.cylinders['clean']}?size=large")
    assert '<html lang="zh-CN" class="large">' in large.text and large.cookies.get("size") == "large"
    assert '<html lang="zh-CN" class="large">' in client.get("/report").text  # remembered
    assert "标准字号" in client.get("/track").text
    normal = client.get("/?size=normal")
    assert 'class="large"' not in normal.text[:200]


def test_the_hotline_is_printed_on_the_public_pages(town: Town, client) -> None:
    settings = town.ledger.settings
    town.ledger.settings = replace(settings, hotline="0571-12345")
    try:
        for path in (f"/c/{town.cylinders['clean']}", "/report", "/track", "/"):
            answer = client.get(path)
            assert 'href="tel:0571-12345"' in answer.text, path
            chinese_only(answer, town)
    finally:
        town.ledger.settings = settings


def test_the_case_page_shows_the_report_to_the_regulator_and_not_to_an_inspector_it_was_not_sent_to(
        town: Town, client, roomy) -> None:
    from .conftest import sign_in

    answer = send(client, category="other", text="楼道里堆着三个气瓶", contact="赵先生 13600002222")
    code = citizen.tracking_code(CODE.search(answer.text).group(1))
    with town.ledger.db.reading() as c:
        case = next(f for f in town.ledger.findings(c, kind="citizen_report", limit=200)["items"]
                    if f["evidence"]["text_sha256"] and f["cylinder"] is None)
        assert town.ledger.report_tracking(c, code)["status"] == "received"
    sign_in(client, town.tokens["regulator"])
    page = client.get(f"/findings/{case['id']}")
    assert "楼道里堆着三个气瓶" in page.text and "赵先生 13600002222" in page.text
    assert 'id="public-reply"' in page.text and "市民（公开页面）" in page.text
    chinese_only(page, town)
    client.cookies.clear()
    sign_in(client, town.tokens["inspector"])
    hidden = client.get(f"/findings/{case['id']}")
    assert hidden.status_code == 200 and "赵先生" not in hidden.text and 'id="citizen-reports"' not in hidden.text


def test_the_pages_read_in_english_on_request(town: Town, client) -> None:
    form = client.get("/report?lang=en")
    assert 'lang="en"' in form.text[:200] and "Report a problem" in form.text and "Suspected illegal refilling" in form.text
    assert "Follow a report" in client.get("/track").text  # the cookie keeps English
