"""GET /v1/epcis/events, the EPCIS 2.0 REST query subset: each filter selects exactly the exported events
that carry what it names (the SQL filter and the mapping read the same rules), paging by `Link` and
`nextPageToken` visits every event once, and bad parameters are 4xx with the parameter named."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest

from ledger.domain import format_time
from ledger.epcis.mapping import party_uri, site_uri, user_uri, to_epcis

from .conftest import schema_errors

QUERY = "/v1/epcis/events"


def everything(village) -> list[dict]:
    return [to_epcis(event) for event in village.events()]


def fetch_all(village, params: dict, per_page: int = 1000, account: str = "regulator") -> list[dict]:
    """Every page of a query, following `Link: <...>; rel="next"` as a client does."""
    found, url, pages = [], QUERY, 0
    query = {**params, "perPage": per_page}
    while url:
        answer = village.client.get(url, params=query, headers=village.auth(account))
        assert answer.status_code == 200, answer.text
        assert answer.headers["content-type"] == "application/ld+json"
        document = answer.json()
        found += document["epcisBody"]["queryResults"]["resultsBody"]["eventList"]
        link = answer.headers.get("link")
        url, query = (re.fullmatch(r'<([^>]+)>; rel="next"', link).group(1), None) if link else (None, None)
        pages += 1
        assert pages < 500
    return found


def ids(events: list[dict]) -> list[int]:
    return [e["cl:log_index"] for e in events]


def test_one_page_is_a_valid_query_document(village):
    answer = village.client.get(QUERY, params={"perPage": 25}, headers=village.auth("shop"))
    document = answer.json()
    assert answer.status_code == 200 and schema_errors(document) == []
    assert document["type"] == "EPCISQueryDocument"
    assert len(document["epcisBody"]["queryResults"]["resultsBody"]["eventList"]) == 25
    assert answer.headers["link"].endswith('; rel="next"') and "nextPageToken=" in answer.headers["link"]


@pytest.mark.slow
def test_paging_visits_every_event_once_in_log_order(village):
    walked = fetch_all(village, {}, per_page=97)
    assert ids(walked) == [e.id for e in village.events()]


def test_match_any_epc(village):
    events = village.events()
    codes = [events[0].cylinder, events[-1].cylinder]
    epcs = "|".join(f"urn:x-cylinder-ledger:cyl:{code.lower()}" for code in codes) + "|urn:epc:id:sgtin:0614141.107346.1"
    assert ids(fetch_all(village, {"MATCH_anyEPC": epcs}, per_page=7)) == [e.id for e in events if e.cylinder in codes]
    assert fetch_all(village, {"MATCH_anyEPC": "urn:x-cylinder-ledger:cyl:NOSUCHCODE"}) == []


def test_event_time_window(village):
    events = village.events()
    times = sorted(e.occurred_at for e in events)
    low, high = times[len(times) // 5], times[len(times) // 2]
    params = {"GE_eventTime": format_time(low), "LT_eventTime": format_time(high)}
    assert ids(fetch_all(village, params)) == [e.id for e in events if low <= e.occurred_at < high]
    # the same instant written with another offset selects the same events
    shifted = (low + timedelta(hours=8)).replace(tzinfo=None).isoformat() + "+08:00"
    assert ids(fetch_all(village, {**params, "GE_eventTime": shifted})) == ids(fetch_all(village, params))


@pytest.mark.parametrize("steps", ["shipping", "receiving|urn:epcglobal:cbv:bizstep:destroying",
                                   "https://ns.cylinder-ledger.example/epcis/bizstep/filling", "inspecting",
                                   "https://ref.gs1.org/cbv/BizStep-commissioning", "loading"])
def test_eq_biz_step(village, steps):
    short = {s.replace("urn:epcglobal:cbv:bizstep:", "").replace("https://ref.gs1.org/cbv/BizStep-", "")
             for s in steps.split("|")}
    expected = [e for e in everything(village) if e["bizStep"] in short]
    assert ids(fetch_all(village, {"EQ_bizStep": steps})) == ids(expected)
    assert expected or steps == "loading"


def _carries(event: dict, side: str, types: tuple[str, ...], uri: str) -> bool:
    return any(entry["type"] in types and entry[side] == uri for entry in event.get(f"{side}List", []))


@pytest.mark.parametrize("name, side, types", [
    ("EQ_source_possessing_party", "source", ("possessing_party",)),
    ("EQ_source_location", "source", ("location",)),
    ("EQ_source", "source", ("possessing_party", "location")),
    ("EQ_destination_possessing_party", "destination", ("possessing_party",)),
    ("EQ_destination_location", "destination", ("location",)),
    ("EQ_destination", "destination", ("possessing_party", "location")),
])
def test_source_and_destination_select_what_the_documents_say(village, name, side, types):
    exported = everything(village)
    matched = 0
    for kind in ("gas_company", "filling_station", "transporter", "shop"):
        party = village.parties[kind][0]
        uri = (site_uri if "location" in name else party_uri)(party)
        expected = [e for e in exported if any(_carries(e, side, types, u) for u in (party_uri(party), site_uri(party)))]
        assert ids(fetch_all(village, {name: uri})) == ids(expected), (name, kind)
        matched += len(expected)
    assert matched > 0


def test_deliveries_to_an_end_user_by_reference(village):
    exported = everything(village)
    user = next(e.to for e in village.events() if e.kind.value == "deliver")
    expected = [e for e in exported if _carries(e, "destination", ("possessing_party",), user_uri(user))]
    assert expected and ids(fetch_all(village, {"EQ_destination_possessing_party": user_uri(user)})) == ids(expected)


def test_filters_combine(village):
    exported = everything(village)
    shop = village.parties["shop"][0]
    expected = [e for e in exported if e["bizStep"] == "shipping" and _carries(
        e, "source", ("possessing_party",), party_uri(shop))]
    got = fetch_all(village, {"EQ_bizStep": "shipping", "EQ_source_possessing_party": party_uri(shop)}, per_page=5)
    assert expected and ids(got) == ids(expected)


@pytest.mark.parametrize("params, field", [
    ({"GE_eventTime": "yesterday"}, "GE_eventTime"),
    ({"LT_eventTime": "2026-05-01T00:00:00"}, "LT_eventTime"),
    ({"EQ_disposition": "in_transit"}, "EQ_disposition"),
    ({"perPage": 0}, "perPage"),
    ({"perPage": 1001}, "perPage"),
    ({"EQ_bizStep": "shipping||receiving"}, "EQ_bizStep"),
    ({"nextPageToken": "bm90IGEgdG9rZW4.AAAAAAAAAAAAAAAAAAAAAA"}, "cursor"),
])
def test_bad_parameters_are_refused_by_name(village, params, field):
    answer = village.client.get(QUERY, params=params, headers=village.auth("regulator"))
    assert answer.status_code in (400, 422), answer.text
    problem = answer.json()
    assert answer.headers["content-type"] == "application/problem+json"
    assert field in problem["detail"] or any(field in str(e) for e in problem.get("errors", [])), problem


def test_a_token_from_another_list_is_refused(village):
    other = village.ledger.cursors.issue("events", 3)
    answer = village.client.get(QUERY, params={"nextPageToken": other}, headers=village.auth("regulator"))
    assert answer.status_code in (400, 422) and "pages events, not epcis" in answer.json()["detail"]


def test_the_query_is_open_to_whoever_may_trace(village):
    code = village.events()[0].cylinder
    for account in [*village.tokens, None]:
        headers = village.auth(account) if account else {}
        trace = village.client.get(f"/v1/cylinders/{code}/trace", headers=headers)
        query = village.client.get(QUERY, params={"perPage": 1}, headers=headers)
        assert query.status_code == trace.status_code, account
