"""Bad input is refused with a problem+json 4xx and writes nothing (rows counted before and after)."""

from __future__ import annotations

import base64
import json
import logging
import traceback
from datetime import date

import pytest
import sqlalchemy.exc
from fastapi.routing import APIRoute

from api.body import JSONRoute
from api.routers import ROUTERS

from ledger.domain import Paper, Party, PartyKind, PersonRole, Role
from ledger.errors import InvalidInput
from ledger.service import Registration
from ledger.storage import registry

from .conftest import ADMIN, World, event_body


def _problem(response, status: int) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert {"type", "title", "status", "detail"} <= body.keys()
    assert body["status"] == status and body["type"].startswith("urn:cylinder-ledger:problem:")
    return body


@pytest.fixture
def unchanged(shared_world: World):
    before = shared_world.counts()
    yield shared_world
    assert shared_world.counts() == before


def _registration(world: World, **changes) -> dict:
    body = {"owner": world.parties["company"], "serial": "SN-BAD-1", "manufacturer": "Zhejiang Steel",
            "manufactured_on": "2023-01-05", "model": "YSP-15", "tare_kg": 15.0, "design_life_years": 8,
            "last_inspected_on": "2024-01-05", "next_inspection_due": "2028-01-05"}
    body.update(changes)
    return body


def test_body_over_the_limit_is_413(unchanged: World) -> None:
    world = unchanged
    padding = "x" * (3 * 1024 * 1024)
    body = event_body(world.cylinders[0], data={"net_kg": 14.5, "note": padding})
    _problem(world.client.post("/v1/events", json=body, headers=world.auth("station")), 413)


def test_body_over_the_limit_without_content_length_is_413(unchanged: World) -> None:
    world = unchanged
    chunks = (b'{"events": [' + b" " * 65536 for _ in range(40))  # 2.5 MiB, streamed in chunks
    response = world.client.post("/v1/events/batch", content=chunks,
                                 headers={**world.auth("station"), "content-type": "application/json"})
    assert "content-length" not in response.request.headers
    _problem(response, 413)


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded", "application/xml", None])
def test_non_json_content_type_is_415(unchanged: World, content_type: str | None) -> None:
    world = unchanged
    headers = world.auth("station") | ({"content-type": content_type} if content_type else {})
    body = json.dumps(event_body(world.cylinders[0])).encode()
    _problem(world.client.post("/v1/events", content=body, headers=headers), 415)


@pytest.mark.parametrize("raw", [b"{", b'{"cylinder": }', b"\xff\xfe", b"[1, 2", b"{'single': 'quotes'}"])
def test_malformed_json_is_400(unchanged: World, raw: bytes) -> None:
    world = unchanged
    response = world.client.post("/v1/events", content=raw,
                                 headers={**world.auth("station"), "content-type": "application/json"})
    _problem(response, 400)


def test_unknown_fields_are_named(unchanged: World) -> None:
    world = unchanged
    body = event_body(world.cylinders[0], colour="red")
    problem = _problem(world.client.post("/v1/events", json=body, headers=world.auth("station")), 422)
    assert {"field": "colour", "message": "Extra inputs are not permitted"} in problem["errors"]
    problem = _problem(world.client.post("/v1/cylinders", json=_registration(world, price=9),
                                         headers=world.auth("company")), 422)
    assert [e["field"] for e in problem["errors"]] == ["price"]


ABSURD_EVENTS = {
    "negative weight": {"data": {"net_kg": -3}},
    "weight as text": {"data": {"net_kg": "14.5"}},
    "weight as boolean": {"data": {"net_kg": True}},
    "absurd weight": {"data": {"net_kg": 1e9}},
    "time in 2199": {"occurred_at": "2199-05-01T08:00:00+08:00"},
    "time without offset": {"occurred_at": "2026-05-01T08:00:00"},
    "time as a number": {"occurred_at": 1777777777},
    "time before 1990": {"occurred_at": "1970-01-01T00:00:00Z"},
    "kind unknown": {"kind": "teleport"},
    "kind register": {"kind": "register"},
    "kind as number": {"kind": 3},
    "short idempotency key": {"idempotency_key": "abc"},
    "idempotency key with spaces": {"idempotency_key": "a key with spaces"},
    "megabyte note": {"data": {"net_kg": 14.5, "note": "n" * 1_000_000}},
    "data over 4 KiB": {"data": {"net_kg": 14.5, "extra": "e" * 5000}},
    "data nested too deep": {"data": {"net_kg": 14.5, "a": {"b": {"c": {"d": {"e": {"f": 1}}}}}}},
    "data huge integer": {"data": {"net_kg": 14.5, "count": 2**64}},
    "latitude out of range": {"location": {"lat": 91.0, "lon": 120.1}},
    "location as text": {"location": "Hangzhou"},
    "cylinder with a slash": {"cylinder": "../etc/passwd"},
    "inspection due in 2199": {"kind": "inspect", "data": {"result": "pass", "next_inspection_due": "2199-01-01"}},
    "control characters in a field": {"to": "T\n1"},
    "data not an object": {"data": [1, 2, 3]},
    "no body fields": None,
}


@pytest.mark.parametrize("change", ABSURD_EVENTS.values(), ids=ABSURD_EVENTS.keys())
def test_absurd_events_are_422(unchanged: World, change: dict | None) -> None:
    world = unchanged
    body = {} if change is None else event_body(world.cylinders[0]) | change
    problem = _problem(world.client.post("/v1/events", json=body, headers=world.auth("station")), 422)
    assert problem["detail"]


def test_not_a_number_is_refused(unchanged: World) -> None:
    world = unchanged
    raw = json.dumps(event_body(world.cylinders[0], data={"net_kg": 1})).replace('"net_kg": 1', '"net_kg": NaN')
    response = world.client.post("/v1/events", content=raw.encode(),
                                 headers={**world.auth("station"), "content-type": "application/json"})
    assert response.status_code in (400, 422)
    _problem(response, response.status_code)


ABSURD_REGISTRATIONS = {
    "negative tare": {"tare_kg": -15.0},
    "tare as text": {"tare_kg": "15"},
    "design life as float": {"design_life_years": 8.5},
    "design life 500 years": {"design_life_years": 500},
    "manufactured in 2199": {"manufactured_on": "2199-01-01"},
    "inspection due in 2199": {"next_inspection_due": "2199-01-01"},
    "date as number": {"manufactured_on": 20230105},
    "date nonsense": {"manufactured_on": "yesterday"},
    "10 MB serial": {"serial": "s" * 1_500_000},
    "empty manufacturer": {"manufacturer": "   "},
    "owner not a company": {"owner": "NOPE"},
    "inspected before manufacture": {"last_inspected_on": "2020-01-01"},
    "missing model": {"model": None},
}


@pytest.mark.parametrize("change", ABSURD_REGISTRATIONS.values(), ids=ABSURD_REGISTRATIONS.keys())
def test_absurd_registrations_are_4xx(unchanged: World, change: dict) -> None:
    world = unchanged
    body = _registration(world, **change)
    response = world.client.post("/v1/cylinders", json=body, headers=world.auth("company"))
    _problem(response, 422)


@pytest.mark.parametrize("path", [
    "/v1/events/99999999999999999999", "/v1/parties?limit=0",
    "/v1/parties?limit=100000", "/v1/parties?cursor=not-a-cursor", "/v1/parties?region=abc",
    "/v1/parties?kind=castle", "/v1/parties?regon=330110", "/v1/risk/enterprises?colour=red", "/v1/log/consistency?old=0&new=1", "/v1/log/consistency?old=5&new=2",
    "/v1/log/consistency?old=1&new=999999", "/v1/events/0/proof?size=0", "/v1/events/0/proof?size=999999",
    "/v1/cylinders/X/events?after_seq=-5", "/v1/cylinders/X/events?cursor=eyJhZnRlciI6ICJ4In0",
    "/v1/log/entries?start=5&end=5", "/v1/log/entries?start=-1&end=3", "/v1/log/entries?start=0",
])
def test_absurd_queries_are_422(unchanged: World, path: str) -> None:
    world = unchanged
    _problem(world.client.get(path, headers=world.auth("regulator")), 422)


def test_unknown_things_are_404(unchanged: World) -> None:
    world = unchanged
    for path in ("/v1/cylinders/AAAAAAAAAAA", "/v1/events/999999", "/v1/events/-1", "/v1/events/abc", "/v1/parties/NOPE", "/v1/nothing-here",
                 "/v1/end-users/UNKNOWN?reason=case+2026-0042", "/v1/cylinders/NOPE/bundle"):
        account = "inspector" if "end-users" in path else "regulator"
        _problem(world.client.get(path, headers=world.auth(account)), 404)
    body = event_body("AAAAAAAAAAA")
    _problem(world.client.post("/v1/events", json=body, headers=world.auth("station")), 404)


@pytest.mark.parametrize("events", [[], ["x"] * 1001, "not a list", None])
def test_batch_envelope_is_checked(unchanged: World, events) -> None:
    world = unchanged
    body = {"events": events} if events is not None else {}
    _problem(world.client.post("/v1/events/batch", json=body, headers=world.auth("station")), 422)


def test_wrong_method_is_a_problem(unchanged: World) -> None:
    world = unchanged
    _problem(world.client.delete("/v1/events/0", headers=world.auth("admin")), 405)


def test_a_refused_write_never_prints_its_parameters(world: World, caplog) -> None:
    """A write the database refuses is logged with its statement, never with the names and notes it carried."""
    taken = world.parties["shop"]
    secret = "Zhao Xiuying 13800138000"
    with pytest.raises(sqlalchemy.exc.IntegrityError) as refused, world.ledger.db.writing() as connection:
        registry.insert_party(connection, Party(taken, PartyKind.SHOP, secret, "330110", None, None),
                              "2026-01-01T00:00:00Z")
    logging.getLogger("ledger.api").error("refused", exc_info=refused.value)
    printed = "".join(traceback.format_exception(refused.value)) + caplog.text
    assert "INSERT INTO parties" in printed
    assert secret not in printed


def _b64(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


FORGED_CURSORS = {
    "json position past 64 bits": ("/v1/cylinders/{cylinder}/events", _b64(json.dumps({"after": 2**63}))),
    "json position past 64 bits for parties": ("/v1/parties", _b64(json.dumps({"after": 2**63}))),
    "finding id past 64 bits": ("/v1/findings", _b64("f:9223372036854775808")),
    "finding id past postgresql integer": ("/v1/findings", _b64("f:2147483648")),
    "finding id in superscript digits": ("/v1/findings", _b64("f:²")),
    "finding id with nul": ("/v1/findings", _b64("f:1\x00")),
    "risk position with nul": ("/v1/risk/cylinders", _b64("c:A\x00")),
    "nul in the token": ("/v1/findings", "abc\x00def"),
    "not base64": ("/v1/findings", "!!!!"),
}


@pytest.mark.parametrize("path, cursor", FORGED_CURSORS.values(), ids=FORGED_CURSORS.keys())
def test_forged_cursors_are_422_on_both_backends(unchanged: World, path: str, cursor: str) -> None:
    world = unchanged
    params = {"cursor": cursor} | ({"reason": "overdue_inspection"} if path.startswith("/v1/risk") else {})
    response = world.client.get(path.format(cylinder=world.cylinders[0]), params=params, headers=world.auth("regulator"))
    problem = _problem(response, 422)
    assert problem["errors"][0]["field"] == "cursor" and problem["detail"].startswith("cursor refused")


def test_a_cursor_of_one_list_does_not_page_another(unchanged: World) -> None:
    world = unchanged
    first = world.client.get("/v1/parties", params={"limit": 1}, headers=world.auth("regulator")).json()
    cursor = first["next_cursor"]
    assert cursor
    problem = _problem(world.client.get("/v1/risk/cylinders", params={"reason": "overdue_inspection", "cursor": cursor},
                                        headers=world.auth("regulator")), 422)
    assert "pages parties, not risk" in problem["detail"]


def test_an_altered_cursor_is_refused(unchanged: World) -> None:
    """A client cannot move a cursor by editing its payload: the server's tag no longer matches."""
    world = unchanged
    cursor = world.client.get("/v1/parties", params={"limit": 1}, headers=world.auth("regulator")).json()["next_cursor"]
    payload, tag = cursor.split(".")
    altered = _b64(base64.urlsafe_b64decode(payload + "==").decode().replace(":", ":0", 1)) + "." + tag
    problem = _problem(world.client.get("/v1/parties", params={"cursor": altered}, headers=world.auth("regulator")), 422)
    assert "not issued by this server" in problem["detail"]


NON_FINITE = {"NaN": "NaN", "Infinity": "Infinity", "minus Infinity": "-Infinity", "1e999": "1e999",
              "-1e999": "-1e999", "a 400-digit float": "1" + "0" * 400 + ".5"}


@pytest.mark.parametrize("number", NON_FINITE.values(), ids=NON_FINITE.keys())
def test_non_finite_numbers_are_422_not_stored_as_null(unchanged: World, number: str) -> None:
    world = unchanged
    for where in ('"net_kg": 14.5, "gauge": {}', '"net_kg": {}'):
        raw = json.dumps(event_body(world.cylinders[0], data={"net_kg": 1})).replace('"net_kg": 1', where.format(number))
        response = world.client.post("/v1/events", content=raw.encode(),
                                     headers={**world.auth("station"), "content-type": "application/json"})
        assert _problem(response, 422)["type"].endswith(":non-finite-number")


def test_a_non_finite_number_refuses_the_whole_batch(unchanged: World) -> None:
    world = unchanged
    good = json.dumps(event_body(world.cylinders[0]))
    bad = json.dumps(event_body(world.cylinders[1], data={"net_kg": 1})).replace('"net_kg": 1', '"net_kg": NaN')
    response = world.client.post("/v1/events/batch", content=f'{{"events": [{good}, {bad}]}}'.encode(),
                                 headers={**world.auth("station"), "content-type": "application/json"})
    _problem(response, 422)


ENCODINGS = {"utf-16 with bom": "utf-16", "utf-16-le": "utf-16-le", "utf-16-be": "utf-16-be",
             "utf-32 with bom": "utf-32", "utf-32-le": "utf-32-le", "utf-8 with bom": "utf-8-sig", "gb18030": "gb18030"}


@pytest.mark.parametrize("encoding", ENCODINGS.values(), ids=ENCODINGS.keys())
def test_bodies_not_in_utf8_are_400(unchanged: World, encoding: str) -> None:
    world = unchanged
    body = event_body(world.cylinders[0], data={"net_kg": 14.5, "vehicle": "浙A12345"})
    raw = json.dumps(body, ensure_ascii=False).encode(encoding)
    response = world.client.post("/v1/events", content=raw,
                                 headers={**world.auth("station"), "content-type": "application/json"})
    assert _problem(response, 400)["type"].endswith(":not-utf8")


@pytest.mark.parametrize("charset", ["utf-16", "iso-8859-1", "gbk"])
def test_a_charset_other_than_utf8_is_415(unchanged: World, charset: str) -> None:
    world = unchanged
    raw = json.dumps(event_body(world.cylinders[0])).encode()
    response = world.client.post("/v1/events", content=raw,
                                 headers={**world.auth("station"), "content-type": f"application/json; charset={charset}"})
    _problem(response, 415)


def test_utf8_declared_as_utf8_is_accepted(world: World) -> None:
    raw = json.dumps(event_body(world.cylinders[0]), ensure_ascii=False).encode()
    response = world.client.post("/v1/events", content=raw,
                                 headers={**world.auth("station"), "content-type": "application/json; charset=UTF-8"})
    assert response.status_code == 201, response.text


def test_every_api_route_reads_its_body_strictly() -> None:
    loose = [route.path for router in ROUTERS for route in router.routes
             if isinstance(route, APIRoute) and not isinstance(route, JSONRoute)]
    assert loose == []


UNREADABLE = {"nul": "\x00", "c1 control": "\x85", "delete": "\x7f", "bidi override": "\u202e",
              "bidi isolate": "\u2066", "zero-width space": "\u200b", "byte order mark": "\ufeff",
              "line separator": "\u2028", "private use": "\ue000"}


def _text_fields(world: World) -> dict[str, tuple[str, str, dict, str]]:
    """Each text field people read: (account, path, body with the text at {t}, field the problem names)."""
    party = {"kind": "shop", "name": "Shop {t}", "region": "330110",
             "licence": {"number": "LIC-1", "valid_until": "2031-01-01"}}
    event = event_body(world.cylinders[0])
    return {
        "party name": ("admin", "/v1/parties", party, "name"),
        "licence number": ("admin", "/v1/parties", party | {"licence": {"number": "LIC{t}1", "valid_until": "2031-01-01"}},
                           "licence.number"),
        "person name": ("admin", f"/v1/parties/{world.parties['shop']}/people", {"name": "Wang{t}Wei", "role": "driver"},
                        "name"),
        "certificate number": ("admin", f"/v1/parties/{world.parties['shop']}/people",
                               {"name": "Wang Wei", "role": "driver",
                                "certificate": {"number": "CERT{t}9", "valid_until": "2031-01-01"}},
                               "certificate.number"),
        "end user name": ("shop", "/v1/end-users", {"kind": "household", "name": "Zhang{t}San", "phone": "13800138000",
                                                    "address": "1 Road"}, "name"),
        "end user address": ("shop", "/v1/end-users", {"kind": "household", "name": "Zhang San", "phone": "13800138000",
                                                       "address": "1 {t}Road"}, "address"),
        "serial": ("company", "/v1/cylinders", _registration(world, serial="SN{t}1"), "serial"),
        "manufacturer": ("company", "/v1/cylinders", _registration(world, manufacturer="Zhejiang{t}Steel"), "manufacturer"),
        "model": ("company", "/v1/cylinders", _registration(world, model="YSP{t}15"), "model"),
        "vehicle plate": ("station", "/v1/events", event | {"data": {"net_kg": 14.5, "vehicle": "浙A{t}123"}},
                          "data.vehicle"),
        "event note": ("station", "/v1/events", event | {"data": {"net_kg": 14.5, "note": "seen{t}"}}, "data.note"),
        "data value": ("station", "/v1/events", event | {"data": {"net_kg": 14.5, "gauge": ["ok", "low{t}"]}}, "data"),
        "data key": ("station", "/v1/events", event | {"data": {"net_kg": 14.5, "ga{t}uge": 1}}, "data"),
        "finding note": ("regulator", "/v1/findings/1/actions", {"action": "supervise", "note": "look{t}again"}, "note"),
    }


FIELDS = ("party name", "licence number", "person name", "certificate number", "end user name", "end user address",
          "serial", "manufacturer", "model", "vehicle plate", "event note", "data value", "data key", "finding note")


@pytest.mark.parametrize("field", FIELDS)
@pytest.mark.parametrize("char", UNREADABLE.values(), ids=UNREADABLE.keys())
def test_unreadable_characters_in_any_text_field_are_422(unchanged: World, field: str, char: str) -> None:
    world = unchanged
    account, path, body, named = _text_fields(world)[field]
    raw = json.dumps(body).replace("{t}", json.dumps(char)[1:-1])
    response = world.client.post(path, content=raw.encode(),
                                 headers={**world.auth(account), "content-type": "application/json"})
    problem = _problem(response, 422)
    assert named in [error["field"] for error in problem["errors"]], problem
    assert f"U+{ord(char):04X}" in json.dumps(problem)


def test_unreadable_characters_in_a_batch_item_reject_that_item_alone(world: World) -> None:
    good = event_body(world.cylinders[0])
    bad = event_body(world.cylinders[1], data={"net_kg": 14.5, "note": "a\x00b"})
    response = world.client.post("/v1/events/batch", json={"events": [good, bad]}, headers=world.auth("station"))
    assert [r["status"] for r in response.json()["results"]] == ["created", "rejected"], response.text


@pytest.mark.parametrize("char", ["\x00", "\u202e", "\u200b"], ids=["nul", "bidi override", "zero-width space"])
def test_the_core_refuses_unreadable_text_whatever_the_door(world: World, char: str) -> None:
    """The command line and the pages reach the ledger without the API's schemas: the core checks the same text."""
    before = world.counts()
    ledger, shop = world.ledger, world.parties["shop"]
    attempts = [
        lambda c: ledger.create_party(c, kind=PartyKind.SHOP, name=f"Shop{char}", region="330110"),
        lambda c: ledger.create_party(c, kind=PartyKind.SHOP, name="Shop", region="330110",
                                      licence=Paper(f"L{char}1", date(2031, 1, 1))),
        lambda c: ledger.create_person(c, party=shop, name=f"Wang{char}", role=PersonRole.DRIVER),
        lambda c: ledger.create_person(c, party=shop, name="Wang", role=PersonRole.DRIVER,
                                       certificate=Paper(f"C{char}9", date(2031, 1, 1))),
        lambda c: ledger.create_account(c, role=Role.SHOP, party=shop, name=f"till{char}"),
        lambda c: ledger.register(c, ADMIN, Registration(world.parties["company"], f"SN{char}1", "Steel",
                                                         date(2022, 3, 1), "YSP-15", 15.2, 8, date(2024, 3, 1),
                                                         date(2028, 3, 1))),
        lambda c: ledger.finding_action(c, ADMIN, 1, action="supervise", note=f"look{char}again"),
    ]
    for attempt in attempts:
        with pytest.raises(InvalidInput, match=f"U\\+{ord(char):04X}"), world.ledger.db.writing() as connection:
            attempt(connection)
    assert world.counts() == before


@pytest.mark.parametrize("path", ["/v1/cylinders/A%00B", "/v1/cylinders/%00/trace", "/v1/cylinders/A%00/events",
                                  "/v1/cylinders/A%00/responsible", "/v1/cylinders/A%00/bundle",
                                  "/v1/findings?cylinder=A%00", "/v1/cylinders/A%E2%80%AEB"])
def test_a_cylinder_named_with_nul_is_422_not_a_database_error(unchanged: World, path: str) -> None:
    world = unchanged
    problem = _problem(world.client.get(path, headers=world.auth("regulator")), 422)
    assert problem["errors"][0]["field"] == "cylinder"


@pytest.mark.parametrize("path", ["/v1/parties?regon=330110", "/v1/findings?colour=red", "/v1/cylinders/X/events?afterseq=1",
                                  "/v1/risk/cylinders?reason=vanished&regon=330110"])
def test_an_unknown_query_parameter_tells_a_caller_without_a_token_only_401(unchanged: World, path: str) -> None:
    world = unchanged
    _problem(world.client.get(path), 401)
    _problem(world.client.get(path, headers={"Authorization": "Bearer cl_not-a-token"}), 401)
    _problem(world.client.get(path, headers=world.auth("regulator")), 422)


def test_an_unknown_query_parameter_after_a_forbidden_role_is_403(unchanged: World) -> None:
    world = unchanged
    _problem(world.client.get("/v1/risk/enterprises?colour=red", headers=world.auth("shop")), 403)


def test_a_public_route_still_refuses_an_unknown_query_parameter(unchanged: World) -> None:
    world = unchanged
    _problem(world.client.get("/v1/log/checkpoint?format=json"), 422)
