"""The closed loop on the case pages: dispatch, handle, supervise, close, reopen."""

from __future__ import annotations

import re

import pytest

from ledger import oversight
from ledger.domain import Role
from ledger.service import Actor

from api.pages.cases import OFFERS

from .city import Town
from .conftest import sign_in
from .test_public import visible


def account_of(town: Town, role: str) -> int:
    with town.ledger.db.reading() as c:
        return town.ledger.authenticate(c, town.tokens[role]).account


def jump_case(town: Town) -> int:
    with town.ledger.db.reading() as c:
        (finding,) = town.ledger.findings(c, cylinder=town.cylinders["jump"])["items"]
    return finding["id"]


def fresh_case(town: Town) -> int:
    """The jump case, open again whatever the module's earlier tests did with it."""
    case = jump_case(town)
    regulator = Actor(Role.REGULATOR, town.parties["regulator"], "regulator desk")
    with town.ledger.db.writing() as c:
        if town.ledger.finding(c, case)["status"] not in ("closed", "resolved"):
            town.ledger.finding_action(c, regulator, case, action="close", note="办结")
        town.ledger.finding_action(c, regulator, case, action="reopen", note="重新核查")
    return case


def act(client, case: int, csrf: str, action: str, **fields):
    return client.post(f"/findings/{case}/actions", data={"action": action, "csrf": csrf, **fields})


def offered(client, case: int) -> list[str]:
    return re.findall(r'name="action" value="(\w+)"', client.get(f"/findings/{case}").text)


def test_the_pages_offer_the_steps_the_ledgers_loop_allows():
    loop = oversight._LOOP  # the service's own table: the forms must not offer a step it refuses
    assert set(OFFERS) == set(loop) == set(oversight.ACTIONS)
    for action, (starts, _roles) in OFFERS.items():
        assert starts == frozenset(loop[action][0]), action


def test_a_case_goes_round_the_whole_loop(town: Town, client):
    case = jump_case(town)
    csrf = sign_in(client, town.tokens["regulator"])
    page = client.get(f"/findings/{case}").text
    assert "交接断档" in page and "街角液化气供应站" in page and "待处置" in page
    assert offered(client, case) == ["dispatch", "supervise", "close"]
    inspector_id = account_of(town, "inspector")
    assert f'<option value="{inspector_id}">钱检查 · 市燃气管理办公室</option>' in page  # inspectors to dispatch to

    answer = act(client, case, csrf, "dispatch", assignee=str(inspector_id), note="请到街角供应站核查来源")
    assert answer.status_code == 303 and answer.headers["location"] == f"/findings/{case}?done=dispatch#history"
    page = visible(client.get(answer.headers["location"]).text)
    assert "已派发" in page and "承办检查员 钱检查 · 市燃气管理办公室" in page and "请到街角供应站核查来源" in page

    inspector = sign_in(client, town.tokens["inspector"])
    assert offered(client, case) == ["handle"]
    assert act(client, case, inspector, "handle", note="已核查：无进货单据，已责令整改").status_code == 303

    csrf = sign_in(client, town.tokens["regulator"])
    assert act(client, case, csrf, "supervise", note="三日内报送整改材料").status_code == 303
    assert act(client, case, csrf, "close", note="整改到位，办结").status_code == 303
    html = client.get(f"/findings/{case}").text
    assert "已办结" in visible(html) and offered(client, case) == ["reopen"]
    history = html[html.index('id="history"'):]
    assert re.findall(r"<li><strong>(\w+)</strong>", history) == ["发现", "派发", "处置", "督办", "办结"]
    assert act(client, case, csrf, "reopen", note="群众再次举报").status_code == 303
    assert "待处置" in visible(client.get(f"/findings/{case}").text)


def test_a_step_the_status_does_not_allow_is_explained_on_the_case(town: Town, client):
    case = jump_case(town)
    csrf = sign_in(client, town.tokens["regulator"])
    act(client, case, csrf, "close", note="先办结")
    answer = act(client, case, csrf, "handle", note="太晚了")
    assert answer.status_code == 409 and "cannot be handled" in answer.text and 'name="action"' in answer.text
    empty = act(client, case, csrf, "reopen", note=" ")
    assert empty.status_code == 422 and "note" in empty.text


def test_an_inspector_may_only_handle(town: Town, client):
    case = jump_case(town)
    csrf = sign_in(client, town.tokens["inspector"])
    refused = act(client, case, csrf, "dispatch", assignee=str(account_of(town, "inspector")), note="x")
    assert refused.status_code == 403 and "only a regulator" in refused.text


def test_a_person_named_as_assignee_is_refused_on_the_case(town: Town, client):
    case = fresh_case(town)
    csrf = sign_in(client, town.tokens["regulator"])
    for nobody in ("钱检查", town.people["worker"], str(account_of(town, "shop"))):
        answer = act(client, case, csrf, "dispatch", assignee=nobody, note="请核查")
        assert answer.status_code == 422 and 'role="alert"' in answer.text, nobody
    assert "待处置" in visible(client.get(f"/findings/{case}").text)


def test_only_the_inspector_a_case_was_sent_to_is_offered_to_handle_it(town: Town, client):
    case = fresh_case(town)
    with town.ledger.db.writing() as c:
        token = town.ledger.create_account(c, role=Role.INSPECTOR, party=town.parties["regulator"], name="孙检查")
        other = town.ledger.authenticate(c, token).account
    csrf = sign_in(client, town.tokens["regulator"])
    assert act(client, case, csrf, "dispatch", assignee=str(other), note="请孙检查核查").status_code == 303
    inspector = sign_in(client, town.tokens["inspector"])
    assert offered(client, case) == []
    refused = act(client, case, inspector, "handle", note="我来处理")
    assert refused.status_code == 403 and "dispatched to" in refused.text
    sign_in(client, token)
    assert offered(client, case) == ["handle"]


def test_the_list_filters_by_kind_status_and_district(town: Town, client):
    sign_in(client, town.tokens["regulator"])
    html = client.get("/findings", params={"kind": "custody_jump"}).text
    assert html.count('href="/findings/') >= 2 * 2  # two jumps, each linked twice
    assert "交接未确认" not in visible(html[html.index("<tbody>"):])
    assert "没有符合条件的问题" in client.get("/findings", params={"region": "330106"}).text
    assert client.get("/findings", params={"kind": "nonsense"}).status_code == 422
    assert client.get("/findings", params={"region": "33"}).status_code == 422


def test_an_erased_handling_note_shows_as_erased_on_the_case(town: Town, client):
    case = jump_case(town)
    csrf = sign_in(client, town.tokens["regulator"])
    with town.ledger.db.reading() as c:
        status = town.ledger.finding(c, case)["status"]
    action = "reopen" if status in ("closed", "resolved") else "supervise"
    note = "车主张三 13800138000 称气瓶系邻居所借"
    assert act(client, case, csrf, action, note=note).status_code == 303
    assert note in client.get(f"/findings/{case}").text
    with town.ledger.db.writing() as c:
        step = town.ledger.finding(c, case)["history"][-1]
        town.ledger.erase(c, f"A{step['id']}", reason="PIPL art. 47", requested_by="the person named")
    html = client.get(f"/findings/{case}").text
    assert "13800138000" not in html and "记录文字已依法删除" in html


def test_a_case_note_with_hidden_characters_is_refused_and_one_with_lines_is_kept(town: Town, client):
    case = jump_case(town)
    csrf = sign_in(client, town.tokens["regulator"])
    for note in ("核查\x00", "核查\u202e查核", "核\u200b查"):
        refused = act(client, case, csrf, "supervise", note=note)
        assert refused.status_code == 422 and "U+" in refused.text
    with town.ledger.db.reading() as c:  # the module's cases share one town: take the step its status allows
        step = "reopen" if town.ledger.finding(c, case)["status"] in ("closed", "resolved") else "supervise"
    assert act(client, case, csrf, step, note="第一条\r\n第二条").status_code == 303
    with town.ledger.db.reading() as c:
        assert town.ledger.finding(c, case)["history"][-1]["note"] == "第一条\n第二条"


@pytest.mark.parametrize("query", [{"party": "A\x00"}, {"cylinder": "A\x00"}, {"cylinder": "A\u202eB"}])
def test_a_findings_filter_with_nul_is_422_not_a_database_error(town: Town, client, query: dict):
    sign_in(client, town.tokens["regulator"])
    answer = client.get("/findings", params=query)
    assert answer.status_code == 422 and "<html" in answer.text
