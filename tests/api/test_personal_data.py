"""Personal data never enters the append-only chain: what the chain refuses, and what stays beside it.

Everything an event's hash covers is served to other parties in events and bundles and can never be
erased, so the API refuses data no kind defines and a delivery to anyone but a registered end user;
docs/privacy.md says what is kept where.
"""

from __future__ import annotations

import pytest

from ledger.domain import Role
from ledger.service import Actor

from .conftest import World, event_body


def _refused(response, field: str) -> dict:
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["errors"][0]["field"] == field, problem
    return problem


@pytest.fixture
def unchanged(shared_world: World):
    before = shared_world.counts()
    yield shared_world
    assert shared_world.counts() == before


# --- 1. each kind's data is a closed set of keys ---------------------------------------------------

def test_a_customer_key_in_fill_data_is_refused_naming_the_key(unchanged: World) -> None:
    world = unchanged
    body = event_body(world.cylinders[0], data={"net_kg": 14.5, "customer": "张三 13800138000 杭州市西湖区"})
    problem = _refused(world.client.post("/v1/events", json=body, headers=world.auth("station")), "data.customer")
    assert "customer" in problem["detail"] and "13800138000" not in problem["detail"]


@pytest.mark.parametrize("kind, account, data", [
    ("dispatch", "station", {"vehicle": "浙A12345", "customer": "张三"}),
    ("inspect", "inspection", {"result": "pass", "next_inspection_due": "2030-01-01", "owner_phone": "13800138000"}),
    ("receive", "transporter", {"remarks": "given to 张三"}),
    ("report", "inspector", {"note": "seen", "address": "杭州市西湖区"}),
])
def test_a_key_no_kind_defines_is_refused_for_every_kind(unchanged: World, kind, account, data) -> None:
    world = unchanged
    body = event_body(world.cylinders[0], kind=kind, data=data)
    if kind == "dispatch":
        body["to"] = world.parties["transporter"]
    unknown = next(key for key in data if key not in ("vehicle", "result", "next_inspection_due", "note"))
    _refused(world.client.post("/v1/events", json=body, headers=world.auth(account)), f"data.{unknown}")


def test_a_batch_item_with_a_customer_key_is_rejected_alone(shared_world: World) -> None:
    world = shared_world
    good = event_body(world.cylinders[1])
    bad = event_body(world.cylinders[1], data={"net_kg": 14.5, "customer": "张三"})
    response = world.client.post("/v1/events/batch", json={"events": [bad, good]}, headers=world.auth("station"))
    assert response.status_code == 200, response.text
    first, second = response.json()["results"]
    assert first["status"] == "rejected" and first["error"]["errors"][0]["field"] == "data.customer"
    assert second["status"] == "created"


@pytest.mark.parametrize("crew, field", [
    ({"vehicle": "浙A12345", "driver": "王伟 13900001111"}, "data.driver"),
    ({"vehicle": "浙A12345", "escort": "李娜, 杭州市西湖区文三路"}, "data.escort"),
    ({"vehicle": "浙A\u200b12345"}, "data.vehicle"),
])
def test_a_trip_crew_given_as_free_text_is_refused(unchanged: World, crew, field) -> None:
    world = unchanged
    body = event_body(world.cylinders[0], kind="dispatch", to=world.parties["transporter"], data=crew)
    _refused(world.client.post("/v1/events", json=body, headers=world.auth("station")), field)


# --- 2. a delivery names its end user only by a registered ref ------------------------------------

def _at_shop(world: World) -> str:
    """A cylinder the shop holds: filled, dispatched to the shop and confirmed."""
    code = world.register()
    for kind, account, extra in (("fill", "station", {}), ("dispatch", "station", {"to": world.parties["shop"]}),
                                 ("receive", "shop", {})):
        body = event_body(code, kind=kind, **extra)
        assert world.client.post("/v1/events", json=body, headers=world.auth(account)).status_code == 201
    return code


@pytest.mark.parametrize("kind", ["deliver", "collect"])
def test_a_delivery_to_a_name_and_phone_number_is_refused(world: World, kind: str) -> None:
    code = _at_shop(world)
    before = world.counts()
    body = event_body(code, kind=kind, to="ZhangSan-13800138000")
    problem = _refused(world.client.post("/v1/events", json=body, headers=world.auth("shop")), "to")
    assert "13800138000" not in problem["detail"]
    assert world.counts() == before


def test_a_delivery_without_an_end_user_is_refused(unchanged: World) -> None:
    world = unchanged
    body = event_body(world.cylinders[0], kind="deliver")
    _refused(world.client.post("/v1/events", json=body, headers=world.auth("shop")), "to")


def test_a_batch_delivering_to_a_phone_number_rejects_that_item_alone(world: World) -> None:
    code = _at_shop(world)
    items = [event_body(code, kind="deliver", to="13800138000"),
             event_body(code, kind="deliver", to=world.end_user, data={"net_kg": 14.4})]
    response = world.client.post("/v1/events/batch", json={"events": items}, headers=world.auth("shop"))
    first, second = response.json()["results"]
    assert first["status"] == "rejected" and first["error"]["errors"][0]["field"] == "to"
    assert second["status"] == "created" and second["event"]["to"] == world.end_user


def test_a_delivery_to_another_shops_end_user_is_recorded(world: World) -> None:
    code = _at_shop(world)  # a user may buy from several shops: any shop's registered ref will do
    with world.ledger.db.writing() as c:
        ref = world.ledger.create_end_user(c, Actor(Role.SHOP, world.parties["shop2"], "shop2"), kind="household",
                                           name="李四", phone="13900002222", address="杭州市上城区")
    body = event_body(code, kind="deliver", to=ref)
    assert world.client.post("/v1/events", json=body, headers=world.auth("shop")).status_code == 201
