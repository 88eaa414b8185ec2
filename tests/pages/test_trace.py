"""The inspector's trace page: a cylinder's whole life on one screen, its proofs, field reports."""

from __future__ import annotations

import json
import uuid

import pytest

from ledger import tracecode
from ledger.bundle import verify_bundle
from ledger.domain import Role
from ledger.service import Actor
from scanners.payload import label_url

from .city import Town
from .conftest import csrf_of, sign_in
from .test_public import swapped, visible


def test_the_whole_story_on_one_screen(town: Town, client):
    sign_in(client, town.tokens["inspector"])
    page = visible(client.get(f"/trace/{town.cylinders['clean']}").text)
    # origin, who answers, the holders in order with times, the chain, no open findings
    assert "东方燃气有限公司" in page and "首负责任人 东方燃气有限公司" in page
    assert page.index("东方燃气城北充装站") < page.index("顺达危货运输") < page.index("街角液化气供应站 2026")
    assert "当前责任方 街角液化气供应站" in page and "在用户处使用" in page
    assert "完整，校验通过 · 7 条记录" in page and "没有未关闭的问题" in page
    assert "司机 王建国" in page and "押运员 李押运" in page  # inspectors see who drove and escorted
    assert "至今" in page


def test_open_findings_are_listed_with_their_cases(town: Town, client):
    sign_in(client, town.tokens["regulator"])
    html = client.get(f"/trace/{town.cylinders['jump']}").text
    assert "未关闭的问题（1）" in html and "交接断档" in html and 'href="/findings/' in html
    assert "街角液化气供应站" in visible(html[html.index('id="findings"'):])  # the note names parties by name


def test_a_tampered_chain_is_broken_here_and_its_proof_fails(town: Town, client):
    sign_in(client, town.tokens["inspector"])
    code = town.cylinders["tampered"]
    page = visible(client.get(f"/trace/{code}").text)
    assert "不得充装或配送" in page and "有争议" in page
    proof = visible(client.get(f"/trace/{code}/proof").text)
    assert "证明校验失败" in proof and "altered" in proof


def test_the_proof_page_checks_the_bundle_and_shows_each_events_inclusion_proof(town: Town, client):
    sign_in(client, town.tokens["inspector"])
    code = town.cylinders["clean"]
    html = client.get(f"/trace/{code}/proof").text
    assert "7 条记录逐条校验通过" in html and html.count("audit_path") == 7
    assert "ledger verify-bundle" in html and town.ledger.verifier.vkey() in html
    download = client.get(f"/trace/{code}/bundle.json")
    assert download.status_code == 200 and "attachment" in download.headers["content-disposition"]
    assert verify_bundle(json.loads(download.content), town.ledger.verifier).events == 7
    trace = client.get(f"/trace/{code}").text
    assert f'href="/trace/{code}/bundle.json"' in trace and 'href="/v1/log/checkpoint"' in trace


def test_looking_up_by_typed_code_or_scanned_url(town: Town, client):
    sign_in(client, town.tokens["inspector"])
    code = town.cylinders["clean"]
    typed = client.get("/trace", params={"code": tracecode.printed(code).lower()})
    assert typed.status_code == 303 and typed.headers["location"] == f"/trace/{code}"
    url = label_url("https://trace.example", code, town.ledger.label_key)
    scanned = client.get("/trace", params={"code": url})
    assert scanned.status_code == 303 and scanned.headers["location"].startswith(f"/trace/{code}?s=")
    assert "标签签名有效" in client.get(scanned.headers["location"]).text
    typo = client.get("/trace", params={"code": swapped(code)})
    assert typo.status_code == 404 and "编码好像输错了" in typo.text
    unknown = client.get(f"/trace/{tracecode.generate()}")
    assert unknown.status_code == 404 and "平台上没有这个气瓶" in unknown.text


def test_an_inspector_records_a_field_report_once(town: Town, client):
    csrf = sign_in(client, town.tokens["inspector"])
    code = town.cylinders["overdue"]
    form = client.get(f"/trace/{code}").text
    key, at = (form.split(f'name="{name}" value="', 1)[1].split('"', 1)[0] for name in ("key", "at"))
    for _ in range(2):  # a double tap sends the form twice: one report
        answer = client.post(f"/trace/{code}/report",
                             data={"note": "在无证经营点发现，已暂扣", "key": key, "at": at, "csrf": csrf})
        assert answer.status_code == 303
    page = client.get(answer.headers["location"])
    assert "已记录到账本" in page.text and "“在无证经营点发现，已暂扣”" in page.text
    with town.ledger.db.reading() as c:
        reports = [e for e in town.ledger.history(c, code) if e.kind.value == "report"]
    assert len(reports) == 1 and reports[0].party == town.parties["regulator"]


def test_an_erased_report_note_shows_as_erased(town: Town, client):
    csrf = sign_in(client, town.tokens["inspector"])
    code = town.cylinders["clean"]
    form = client.get(f"/trace/{code}").text
    key, at = (form.split(f'name="{name}" value="', 1)[1].split('"', 1)[0] for name in ("key", "at"))
    note = "用户张三 13800138000 自行倒气"
    sent = client.post(f"/trace/{code}/report", data={"note": note, "key": key, "at": at, "csrf": csrf})
    assert sent.status_code == 303
    assert note in client.get(f"/trace/{code}").text
    with town.ledger.db.reading() as c:
        report = [e for e in town.ledger.history(c, code) if e.kind.value == "report"][-1]
    with town.ledger.db.writing() as c:
        shown = town.ledger.with_notes(c, Actor(Role.REGULATOR, None, "r"), [report])[0]["note"]
        town.ledger.erase(c, shown["id"], reason="PIPL art. 47", requested_by="the user")
    page = client.get(f"/trace/{code}").text
    assert "13800138000" not in page and "记录文字已依法删除" in page


def test_an_empty_report_is_refused_and_writes_nothing(town: Town, client):
    csrf = sign_in(client, town.tokens["inspector"])
    code = town.cylinders["old"]
    answer = client.post(f"/trace/{code}/report", data={"note": "  ", "csrf": csrf})
    assert answer.status_code == 422 and "请填写检查情况" in answer.text


def test_only_inspectors_and_regulators_get_the_report_form(town: Town, client):
    csrf = sign_in(client, town.tokens["shop"])
    code = town.cylinders["clean"]
    page = client.get(f"/trace/{code}").text
    assert 'action="/trace/' not in page and "王建国" not in page  # a shop sees parties, not others' people
    refused = client.post(f"/trace/{code}/report", data={"note": "x", "csrf": csrf})
    assert refused.status_code == 403 and "report" in refused.text
    assert csrf_of(page, "/signout") == csrf


FORGED_REPORTS = {
    "short idempotency key": {"key": "abc"},
    "idempotency key with spaces": {"key": "a key with spaces"},
    "idempotency key with nul": {"key": "page-report-\x00-0001"},
    "note with nul": {"note": "seized\x00"},
    "note with a bidi override": {"note": "seized \u202eDEZIES"},
    "note with a zero-width space": {"note": "sei\u200bzed"},
    "note longer than the api takes": {"note": "n" * 1001},
    "time in 2199": {"at": "2199-01-01T00:00:00Z"},
    "time without offset": {"at": "2026-01-01T00:00:00"},
}


@pytest.mark.parametrize("change", FORGED_REPORTS.values(), ids=FORGED_REPORTS.keys())
def test_a_forged_field_report_form_is_refused_as_the_api_would(town: Town, client, change: dict):
    """The form is checked by the API's own schema: what POST /v1/events refuses, the page refuses too."""
    csrf = sign_in(client, town.tokens["inspector"])
    code = town.cylinders["old"]
    with town.ledger.db.reading() as c:
        before = len(town.ledger.history(c, code))
    form = {"note": "seized at an unlicensed point", "key": f"page-report-{uuid.uuid4()}", "csrf": csrf} | change
    answer = client.post(f"/trace/{code}/report", data=form)
    assert answer.status_code == 422, answer.text
    with town.ledger.db.reading() as c:
        assert len(town.ledger.history(c, code)) == before


def test_a_field_report_keeps_the_lines_a_browser_sends(town: Town, client):
    csrf = sign_in(client, town.tokens["inspector"])
    code = town.cylinders["old"]
    answer = client.post(f"/trace/{code}/report", data={"note": "seized\r\nlabel torn", "csrf": csrf,
                                                         "key": f"page-report-{uuid.uuid4()}"})
    assert answer.status_code == 303, answer.text
    with town.ledger.db.reading() as c:
        report = town.ledger.history(c, code)[-1]
        shown = town.ledger.with_notes(c, Actor(Role.REGULATOR, None, "r"), [report])[0]["note"]
    assert shown["text"] == "seized\nlabel torn"
