"""The label's public page (GET /c/{code}): what a citizen sees, and what nobody may see there."""

from __future__ import annotations

import html
import re

import pytest
from sqlalchemy import text

from ledger import tracecode
from scanners.payload import sign_label
from tests.conftest import make_settings, opened_end_users

from .city import Town

STOP, GO = "请勿使用此气瓶", "气瓶在检验有效期内，记录完整"


def visible(html: str) -> str:
    """The page's text as read, without markup."""
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


def test_a_cylinder_in_good_standing_shows_who_filled_it_when_and_that_it_is_in_date(town: Town, client):
    answer = client.get(f"/c/{town.cylinders['clean']}")
    page = visible(answer.text)
    assert answer.status_code == 200 and GO in page and STOP not in page
    assert "东方燃气有限公司" in page and "东方燃气城北充装站" in page and "14.5 kg" in page
    assert "2028-03-01" in page and "在用户处使用" in page and "完整，校验通过 · 7 条记录" in page
    assert "未校验标签签名" in page  # no signature in the URL: typed, not scanned


@pytest.mark.parametrize(("story", "reason"), [
    ("overdue", "已超过定期检验日期"),
    ("old", "已超过设计使用年限"),
    ("scrapped", "此气瓶已报废"),
    ("tampered", "追溯记录链校验失败"),
])
def test_a_cylinder_that_must_not_be_used_gets_a_red_warning_saying_why(town: Town, client, story, reason):
    page = client.get(f"/c/{town.cylinders[story]}").text
    assert 'class="verdict stop" role="alert"' in page
    warning = page[page.index("verdict stop"):page.index("</section>")]
    assert reason in warning and GO not in page


def test_the_public_page_shows_no_personal_data_for_any_cylinder(town: Town, client):
    assert town.secrets, "the town has personal data to hide"
    for code in town.cylinders.values():
        page = html.unescape(client.get(f"/c/{code}").text)
        leaked = [secret for secret in town.secrets if secret in page]
        assert not leaked, f"{code} shows {leaked}"
        assert "赵送气" not in page and "王建国" not in page


def test_a_genuine_label_is_confirmed(town: Town, client):
    code = town.cylinders["clean"]
    signature = sign_label(code, town.ledger.label_key)
    page = visible(client.get(f"/c/{code}", params={"s": signature}).text)
    assert "标签签名有效" in page and GO in page


def test_a_forged_label_is_a_warning_not_to_use_the_cylinder(town: Town, client, tmp_path):
    from ledger.keys import ensure_key, load_key

    code = town.cylinders["clean"]
    impostor = make_settings("sqlite://", tmp_path).label_key_file
    ensure_key(impostor)
    forged = sign_label(code, load_key(impostor))  # well formed, signed by a key that is not the platform's
    for signature in (forged, sign_label(town.cylinders["old"], town.ledger.label_key), "A" * 86, "short"):
        page = visible(client.get(f"/c/{code}", params={"s": signature}).text)
        assert STOP in page and "标签签名不符" in page, signature


def swapped(code: str) -> str:
    return code[1] + code[0] + code[2:] if code[0] != code[1] else code[:2] + code[3] + code[2] + code[4:]


def test_a_mistyped_code_is_told_apart_from_a_code_that_is_not_one(town: Town, client):
    code = town.cylinders["clean"]
    one_wrong = code[:5] + ("0" if code[5] != "0" else "1") + code[6:]
    for typo in (one_wrong, swapped(code)):
        answer = client.get(f"/c/{typo}")
        assert answer.status_code == 404 and "编码好像输错了" in answer.text, typo
    for junk in ("HELLO", "ABC-DEF", code + "Z"):
        answer = client.get(f"/c/{junk}")
        assert answer.status_code == 404 and "这不是气瓶编码" in answer.text, junk


def test_a_well_formed_code_nobody_registered_is_flagged_as_possibly_unregistered(client):
    unknown = tracecode.generate()
    answer = client.get(f"/c/{unknown}")
    assert answer.status_code == 404 and "平台上没有这个气瓶" in answer.text and "黑气瓶" in answer.text


def test_a_typed_spelling_redirects_to_the_one_address_of_the_cylinder(town: Town, client):
    code = town.cylinders["clean"]
    answer = client.get(f"/c/{tracecode.printed(code).lower()}", params={"s": "x"})
    assert answer.status_code == 301 and answer.headers["location"] == f"/c/{code}?s=x"
    looked_up = client.get("/lookup", params={"code": f" {tracecode.printed(code).lower()} "})
    assert looked_up.status_code == 303 and looked_up.headers["location"] == f"/c/{code}"
    assert "编码好像输错了" in client.get("/lookup", params={"code": swapped(code)}).text


def test_english_on_request_remembered_in_a_cookie(town: Town, client):
    code = town.cylinders["overdue"]
    first = client.get(f"/c/{code}", params={"lang": "en"})
    assert "Do not use this cylinder" in first.text and "Its periodic inspection is overdue" in first.text
    assert 'lang="en"' in first.text and first.cookies.get("lang") == "en"
    assert "Do not use this cylinder" in client.get(f"/c/{code}").text
    assert STOP in client.get(f"/c/{code}", params={"lang": "zh"}).text


def test_the_public_page_is_small_and_loads_nothing_from_elsewhere(town: Town, client):
    answer = client.get(f"/c/{town.cylinders['clean']}")
    assert len(answer.content) < 4000 and "<script" not in answer.text
    assert not re.search(r'(src|href)="(https?:)?//', answer.text)
    assert "default-src 'self'" in answer.headers["content-security-policy"]


@pytest.mark.slow
def test_no_personal_data_on_any_label_page_of_a_generated_city(tmp_path):
    """Every cylinder of the demo city, and every name, phone, address and reference in its database."""
    demo = pytest.importorskip("tools.demo")
    from fastapi.testclient import TestClient

    from api.app import create_app

    from .conftest import close_ledger, open_ledger

    ledger, url = open_ledger("sqlite", tmp_path)
    try:
        demo.build_city(ledger, demo.SIZES["small"], seed=7)
        with ledger.db.reading() as c:
            secrets = {value for row in opened_end_users(ledger, c) for value in row if value}
            secrets |= {value for row in c.execute(text("SELECT id, name FROM people")) for value in row}
            codes = [row[0] for row in c.execute(text("SELECT id FROM cylinders"))]
        assert len(codes) > 1000 and len(secrets) > 1000
        pattern = re.compile("|".join(re.escape(s) for s in sorted(secrets, key=len, reverse=True)))
        client = TestClient(create_app(ledger=ledger))
        for code in codes:
            answer = client.get(f"/c/{code}")
            assert answer.status_code == 200
            leak = pattern.search(html.unescape(answer.text))  # attributes too, and names with quotes
            assert leak is None, f"/c/{code} shows {leak.group()!r}"
    finally:
        close_ledger(ledger, "sqlite", url)


def test_an_open_custody_gap_is_not_shown_as_a_complete_record(town: Town, client):
    """docs/regulator.md section 5: an open high-severity custody finding turns the verdict amber."""
    page = client.get(f"/c/{town.cylinders['jump']}").text
    text = visible(page)
    assert 'class="verdict caution" role="alert"' in page and GO not in text and "记录完整" not in text
    assert "此气瓶的流转记录有待核查的问题" in text and "有一段经手记录缺失" in text
    assert "校验通过，但有待核查的问题" in text
    leaked = [secret for secret in town.secrets if secret in html.unescape(page)]
    assert not leaked  # what kind of problem, never who
    english = html.unescape(visible(client.get(f"/c/{town.cylinders['jump']}?lang=en").text))
    assert "This cylinder's record has a problem under review" in english and "A gap in who held it" in english


def test_a_closed_case_gives_the_green_verdict_back(tmp_path):
    """Once people close the case (after looking into it), the page is green again."""
    from ledger.domain import Role
    from ledger.service import Actor

    from .conftest import close_ledger, open_ledger
    from .city import populate
    from fastapi.testclient import TestClient
    from api.app import create_app

    ledger, url = open_ledger("sqlite", tmp_path)
    try:
        town = populate(ledger)
        regulator = Actor(Role.REGULATOR, town.parties["regulator"], "regulator desk")
        with ledger.db.writing() as c:
            (case,) = ledger.findings(c, cylinder=town.cylinders["jump"])["items"]
            ledger.finding_action(c, regulator, case["id"], action="close", note="核实：门店代收，已补交接记录")
        with TestClient(create_app(ledger=ledger)) as client:
            text = visible(client.get(f"/c/{town.cylinders['jump']}").text)
        assert GO in text and "有待核查" not in text
    finally:
        close_ledger(ledger, "sqlite", url)
