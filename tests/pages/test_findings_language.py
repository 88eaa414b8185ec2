"""Findings told in the reader's language from the evidence the rules stored, not in the ledger's English.

Every case page of the stories (tests/pages/stories.py) is scanned for English words
outside a short allow-list; the same cases in English say the English sentences;
a finding stored before evidence was kept still shows its note; the API keeps its
English ``note`` and adds ``evidence``.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest

from tests.conftest import BACKENDS

from .city import Town, populate
from .conftest import close_ledger, open_ledger, sign_in
from .stories import OLD_NOTE, add_stories
from .test_public import visible

# ASCII a Chinese page may show: codes and units, the language switch, the chain's own terms.
ALLOWED = {"seq", "hash", "kg", "km", "YSP", "English", "SN", "LIC", "CERT", "CSRF"}
WORD = re.compile(r"[A-Za-z]{2,}")


@pytest.fixture(scope="module", params=BACKENDS)
def town(request, tmp_path_factory) -> Iterator[Town]:
    ledger, url = open_ledger(request.param, tmp_path_factory.mktemp("findings-language"))
    try:
        yield add_stories(populate(ledger))
    finally:
        close_ledger(ledger, request.param, url)


def all_findings(town: Town) -> list[dict]:
    with town.ledger.db.reading() as c:
        return town.ledger.findings(c, limit=200)["items"]


def case_of(town: Town, story: str, kind: str) -> int:
    found = [f["id"] for f in all_findings(town) if f["cylinder"] == town.cylinders[story] and f["kind"] == kind]
    assert found, (story, kind)
    return found[0]


def main_text(html: str) -> str:
    body = html[html.index("<main"):html.index("</main>")]
    body = re.sub(r"<(script|style|textarea|select)[^>]*>.*?</\1>", " ", body, flags=re.S)
    return visible(body)


def english_words(text: str, town: Town) -> set[str]:
    for code in town.cylinders.values():  # trace codes are shown as codes
        text = text.replace(code, " ")
    return {w for w in WORD.findall(text) if w not in ALLOWED}


def test_every_case_page_speaks_chinese_only(town: Town, client):
    sign_in(client, town.tokens["regulator"])
    cases = all_findings(town)
    kinds = {f["kind"] for f in cases}
    assert {"missing_escort", "overfill", "short_weight", "filled_overdue_inspection", "filled_past_design_life",
            "vanished", "handover_unconfirmed", "custody_jump"} <= kinds
    for f in cases:
        if f["id"] == town.legacy_finding:
            continue
        text = main_text(client.get(f"/findings/{f['id']}").text)
        assert not english_words(text, town), (f["kind"], f["note"], english_words(text, town), text)


def test_the_sentences_name_parties_states_and_local_times(town: Town, client):
    sign_in(client, town.tokens["regulator"])
    silent = main_text(client.get(f"/findings/{case_of(town, 'silent', 'vanished')}").text)
    assert "顺达危货运输处（运输中）" in silent and "天没有任何记录，至今未见" in silent
    short = main_text(client.get(f"/findings/{case_of(town, 'short', 'short_weight')}").text)
    assert "入户称重12千克" in short and "短少2.5千克" in short and "东方燃气城北充装站充装时为14.5千克" in short
    escort = main_text(client.get(f"/findings/{case_of(town, 'no_escort', 'missing_escort')}").text)
    assert "未登记押运员" in escort and "东方燃气城北充装站交给顺达危货运输" in escort


def test_a_late_record_explains_in_the_history(town: Town, client):
    sign_in(client, town.tokens["regulator"])
    (handover,) = [f for f in all_findings(town)
                   if f["cylinder"] == town.cylinders["late"] and f["kind"] == "handover_unconfirmed"]
    assert handover["status"] == "resolved"
    assert handover["history"][-1]["evidence"]["code"] == "explained" and handover["history"][-1]["evidence"]["late"]
    zh = main_text(client.get(f"/findings/{handover['id']}").text)
    assert "超过24小时仍未确认接收" in zh and "已由顺达危货运输的“接收”" in zh and "为离线后补录" in zh
    en = main_text(client.get(f"/findings/{handover['id']}?lang=en").text)
    assert "not confirmed after 24 h" in en and "explained by receive" in en and "recorded late" in en


def test_the_same_cases_in_english(town: Town, client):
    sign_in(client, town.tokens["regulator"])
    escort = main_text(client.get(f"/findings/{case_of(town, 'no_escort', 'missing_escort')}?lang=en").text)
    assert "names no escort" in escort and "顺达危货运输" in escort  # names stay as the parties wrote them
    silent = main_text(client.get(f"/findings/{case_of(town, 'silent', 'vanished')}?lang=en").text)
    assert re.search(r"No event for \d+ days while in transit with 顺达危货运输", silent)
    assert "in_transit" not in silent and "Z" not in WORD.findall(silent)


def test_a_finding_stored_before_evidence_shows_its_note(town: Town, client):
    sign_in(client, town.tokens["regulator"])
    page = main_text(client.get(f"/findings/{town.legacy_finding}").text)
    assert "no event for 41 days while in_transit" in page and "2026-01-01 08:00" in page  # local time
    assert english_words(page, town)  # the scan above would see an English sentence


def test_the_trace_pages_findings_speak_chinese(town: Town, client):
    sign_in(client, town.tokens["inspector"])
    for story in ("short", "no_escort", "silent", "old", "overdue", "overfill"):
        html = client.get(f"/trace/{town.cylinders[story]}").text
        section = html[html.index('id="findings">') + len('id="findings">'):]
        section = section[:section.index("</section>")]
        text = visible(section)
        assert "未关闭的问题（0）" not in text, text
        assert not english_words(text, town), (story, text)


def test_the_api_keeps_the_english_note_and_adds_evidence(town: Town, client):
    answer = client.get("/v1/findings", params={"cylinder": town.cylinders["short"], "kind": "short_weight"},
                        headers={"Authorization": f"Bearer {town.tokens['regulator']}"})
    assert answer.status_code == 200, answer.text
    (finding,) = answer.json()["items"]
    assert "kg short" in finding["note"]
    assert finding["evidence"] == {"code": "short_weight", "party": town.parties["shop"], "kg": 12.0,
                                   "at": finding["evidence"]["at"], "station": town.parties["station"],
                                   "filled": 14.5, "short": 2.5}
    assert finding["history"][0]["evidence"] == finding["evidence"]
    legacy = client.get(f"/v1/findings/{town.legacy_finding}",
                        headers={"Authorization": f"Bearer {town.tokens['regulator']}"}).json()
    assert legacy["evidence"] is None and legacy["note"] == OLD_NOTE


def test_a_chain_break_is_explained_in_chinese(town: Town, client):
    sign_in(client, town.tokens["inspector"])
    zh = visible(client.get(f"/trace/{town.cylinders['tampered']}").text)
    assert "存储的记录与其哈希值不符" in zh and "does not match its hash" not in zh
    en = visible(client.get(f"/trace/{town.cylinders['tampered']}?lang=en").text)
    assert "the stored event does not match its hash" in en
