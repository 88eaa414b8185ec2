"""The permission matrix of docs/api.md, every cell: each role against each endpoint.

The expected matrix is written out here, independently of ``api.permissions``,
so a change to either that the other does not share fails a cell. An allowed
cell must answer its success status exactly; a denied one 403 (401 without a
token); public endpoints answer everyone.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Callable

import pytest
from sqlalchemy import text

from ledger.domain import Role
from ledger.service import Actor

from .conftest import World, event_body

ROLES = ("admin", "regulator", "inspector", "company", "transporter", "shop", "inspection")
ALL = frozenset(ROLES)
HOLDERS = frozenset({"company", "transporter", "shop", "inspection"})
OVERSEERS = frozenset({"admin", "regulator", "inspector"})


@dataclass(frozen=True)
class Cell:
    method: str
    path: str
    body: dict | None = None


@dataclass(frozen=True)
class Row:
    name: str
    allowed: frozenset[str]
    success: int
    request: Callable[[World, str], Cell]
    public: bool = False


def _own_party(world: World, role: str) -> str:
    return world.parties["company" if role == "admin" else "regulator" if role == "inspector" else role]


def _event_account(role: str) -> str:
    return "station" if role == "company" else role  # a station fills; its account has the company role


def _event(kind: str) -> Callable[[World, str], Cell]:
    def build(world: World, role: str) -> Cell:
        party = world.parties.get(_event_account(role))
        receiver = world.parties["shop" if party == world.parties["transporter"] else "transporter"]
        data = {
            "fill": {"net_kg": 14.5}, "deliver": {"net_kg": 14.4}, "report": {"note": "label damaged"},
            "inspect": {"result": "pass", "next_inspection_due": "2030-03-01"},
            "dispatch": {"vehicle": "ZJ-A12345", "driver": world.driver, "escort": world.escort},
        }.get(kind, {})
        to = {"dispatch": receiver, "return": receiver, "deliver": world.end_user}.get(kind)
        return Cell("POST", "/v1/events", event_body(world.cylinders[0], kind, data=data, to=to))
    return build


def _overfill(world: World) -> int:
    """A fresh finding about the filling station: it put 16.9 kg into a YSP-15."""
    body = event_body(world.cylinders[2], data={"net_kg": 16.9})
    findings = world.client.post("/v1/events", json=body, headers=world.auth("station")).json()["findings"]
    return next(f["id"] for f in findings if f["kind"] == "overfill")


def _dispatched_finding(world: World) -> int:
    finding = _overfill(world)
    with world.ledger.db.writing() as connection:
        world.ledger.finding_action(connection, Actor(Role.REGULATOR, world.parties["regulator"], "Director Zhou"),
                                    finding, action="dispatch", note="check the scale",
                                    assignee=world.account_id("inspector"))
    return finding


def _registration(owner: str) -> Callable[[World, str], Cell]:
    def build(world: World, role: str) -> Cell:
        return Cell("POST", "/v1/cylinders", {
            "owner": world.parties[owner], "serial": f"SN-{uuid.uuid4().hex[:8]}", "manufacturer": "Zhejiang Steel",
            "manufactured_on": "2023-01-05", "model": "YSP-15", "tare_kg": 15.0, "design_life_years": 8,
            "last_inspected_on": "2024-01-05", "next_inspection_due": "2028-01-05"})
    return build


def _get(path: Callable[[World, str], str]) -> Callable[[World, str], Cell]:
    return lambda world, role: Cell("GET", path(world, role))


KIND_ROLES = {
    "fill": {"company"}, "dispatch": HOLDERS, "receive": HOLDERS, "return": HOLDERS,
    "deliver": {"shop"}, "collect": {"shop"}, "inspect": {"inspection"}, "scrap": {"inspection"},
    "report": {"regulator", "inspector"},
}

ROWS = [
    Row("create party", frozenset({"admin", "regulator"}), 201, lambda w, r: Cell(
        "POST", "/v1/parties", {"kind": "shop", "name": "New Shop", "region": "330106"})),
    Row("list parties", ALL, 200, _get(lambda w, r: "/v1/parties?kind=shop")),
    Row("read party", ALL, 200, _get(lambda w, r: f"/v1/parties/{w.parties['shop']}")),
    Row("add person to own party", ALL, 201, lambda w, r: Cell(
        "POST", f"/v1/parties/{_own_party(w, r)}/people", {"name": "Zhao Lei", "role": "operator"})),
    Row("add person to another party", frozenset({"admin", "regulator"}), 201, lambda w, r: Cell(
        "POST", f"/v1/parties/{w.parties['shop2']}/people", {"name": "Zhao Lei", "role": "delivery_worker"})),
    Row("list own party's people", ALL, 200, _get(lambda w, r: f"/v1/parties/{_own_party(w, r)}/people")),
    Row("list another party's people", frozenset({"admin", "regulator", "inspector"}), 200,
        _get(lambda w, r: f"/v1/parties/{w.parties['shop2']}/people")),
    Row("register own cylinder", frozenset({"admin", "company"}), 201, _registration("company")),
    Row("register another company's cylinder", frozenset({"admin"}), 201, _registration("company2")),
    Row("read cylinder", ALL, 200, _get(lambda w, r: f"/v1/cylinders/{w.cylinders[1]}")),
    Row("list cylinder events", ALL, 200, _get(lambda w, r: f"/v1/cylinders/{w.cylinders[1]}/events")),
    Row("read event", ALL, 200, _get(lambda w, r: "/v1/events/0")),
    Row("inclusion proof", ALL, 200, _get(lambda w, r: "/v1/events/0/proof")),
    Row("bundle", ALL, 200, _get(lambda w, r: f"/v1/cylinders/{w.cylinders[1]}/bundle")),
    Row("own label svg", frozenset({"admin", "company"}), 200,
        _get(lambda w, r: f"/v1/cylinders/{w.cylinders[1]}/label.svg")),
    Row("own label png", frozenset({"admin", "company"}), 200,
        _get(lambda w, r: f"/v1/cylinders/{w.cylinders[1]}/label.png")),
    Row("another company's label", frozenset({"admin"}), 200,
        _get(lambda w, r: f"/v1/cylinders/{w.foreign_cylinder}/label.svg")),
    Row("register end user", frozenset({"shop"}), 201, lambda w, r: Cell(
        "POST", "/v1/end-users", {"kind": "household", "name": "Chen Jie", "phone": "+86 138 0000 0000",
                                  "address": "Room 301, 8 Wensan Road"})),
    Row("read end user", frozenset({"regulator", "inspector"}), 200, _get(lambda w, r: f"/v1/end-users/{w.end_user}?reason=case+2026-0042")),
    *[Row(f"record {kind}", frozenset(roles), 201, _event(kind)) for kind, roles in KIND_ROLES.items()],
    Row("trace", ALL, 200, _get(lambda w, r: f"/v1/cylinders/{w.cylinders[1]}/trace")),
    Row("responsible at a time", ALL, 200,
        _get(lambda w, r: f"/v1/cylinders/{w.cylinders[1]}/responsible?at=2099-01-01T00:00:00%2B08:00")),
    Row("list findings (a party sees its own)", ALL, 200, _get(lambda w, r: "/v1/findings")),
    Row("list another party's findings", OVERSEERS, 200,
        _get(lambda w, r: f"/v1/findings?party={w.parties['station']}")),
    Row("read another party's finding", OVERSEERS, 200, _get(lambda w, r: f"/v1/findings/{w.finding}")),
    Row("supervise a finding", frozenset({"admin", "regulator"}), 200, lambda w, r: Cell(
        "POST", f"/v1/findings/{w.finding}/actions", {"action": "supervise", "note": "follow up by Friday"})),
    Row("handle a dispatched finding", OVERSEERS, 200, lambda w, r: Cell(
        "POST", f"/v1/findings/{_dispatched_finding(w)}/actions", {"action": "handle", "note": "station warned"})),
    Row("risk list", OVERSEERS, 200, _get(lambda w, r: "/v1/risk/cylinders?reason=open_findings")),
    Row("risk list as xlsx", OVERSEERS, 200, _get(lambda w, r: "/v1/risk/cylinders?reason=overdue_inspection&format=xlsx")),
    Row("enterprise colours", OVERSEERS, 200, _get(lambda w, r: "/v1/risk/enterprises?region=330110")),
    Row("public cylinder page", ALL, 200, _get(lambda w, r: f"/c/{w.cylinders[1]}"), public=True),
    Row("checkpoint", ALL, 200, _get(lambda w, r: "/v1/log/checkpoint"), public=True),
    Row("log public key", ALL, 200, _get(lambda w, r: "/v1/log/public-key"), public=True),
    Row("consistency proof", ALL, 200, _get(lambda w, r: "/v1/log/consistency?old=1&new=2"), public=True),
    Row("log entries", ALL, 200, _get(lambda w, r: "/v1/log/entries?start=0&end=10"), public=True),
    Row("label public key", ALL, 200, _get(lambda w, r: "/v1/labels/public-key"), public=True),
    Row("health", ALL, 200, _get(lambda w, r: "/healthz"), public=True),
]


@pytest.fixture(scope="module")
def matrix_world(shared_world: World) -> World:
    response = shared_world.client.post("/v1/end-users", headers=shared_world.auth("shop"), json={
        "kind": "restaurant", "name": "Lao Wang Noodles", "phone": "0571-8888-0000", "address": "12 Hefang Street"})
    assert response.status_code == 201
    shared_world.end_user = response.json()["ref"]
    shared_world.finding = _overfill(shared_world)
    return shared_world


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("row", ROWS, ids=lambda row: row.name)
def test_cell(matrix_world: World, row: Row, role: str) -> None:
    world = matrix_world
    cell = row.request(world, role)
    account = _event_account(role) if row.name.startswith("record ") else role
    response = world.client.request(cell.method, cell.path, json=cell.body, headers=world.auth(account))
    if role in row.allowed:
        assert response.status_code == row.success, response.text
    else:
        assert response.status_code == 403, response.text
        assert response.headers["content-type"] == "application/problem+json"
        assert response.json()["status"] == 403


@pytest.mark.parametrize("row", ROWS, ids=lambda row: row.name)
def test_without_token(matrix_world: World, row: Row) -> None:
    cell = row.request(matrix_world, "admin")
    response = matrix_world.client.request(cell.method, cell.path, json=cell.body)
    if row.public:
        assert response.status_code == row.success
    else:
        assert response.status_code == 401
        assert response.headers["www-authenticate"].startswith("Bearer")
        assert response.json()["type"] == "urn:cylinder-ledger:problem:unauthenticated"


@pytest.mark.parametrize("token", ["cl_" + "x" * 43, "", "a" * 5000, "Bearer"])
def test_unknown_or_absurd_tokens_are_401(matrix_world: World, token: str) -> None:
    response = matrix_world.client.get("/v1/parties", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 401


def test_disabled_account_is_401(matrix_world: World) -> None:
    with matrix_world.ledger.db.writing() as connection:
        token = matrix_world.ledger.create_account(connection, role=Role.SHOP, party=matrix_world.parties["shop"],
                                                   name="temp")
    assert matrix_world.client.get("/v1/parties", headers={"Authorization": f"Bearer {token}"}).status_code == 200
    with matrix_world.ledger.db.writing() as connection:
        connection.execute(text("UPDATE accounts SET disabled = :t WHERE name = 'temp'"), {"t": True})
    remembered = matrix_world.client.get("/v1/parties", headers={"Authorization": f"Bearer {token}"})
    assert remembered.status_code == 200  # for at most token_ttl seconds (docs/api.md "Accounts")
    matrix_world.client.app.state.accounts.clear()  # what the expiry does
    assert matrix_world.client.get("/v1/parties", headers={"Authorization": f"Bearer {token}"}).status_code == 401


def test_batch_items_are_held_to_the_same_kinds(matrix_world: World) -> None:
    world = matrix_world
    items = [_event(kind)(world, "shop").body for kind in ("fill", "deliver", "report")]
    response = world.client.post("/v1/events/batch", json={"events": items}, headers=world.auth("shop"))
    assert response.status_code == 200
    statuses = [(r["status"], r.get("error", {}).get("status")) for r in response.json()["results"]]
    assert statuses == [("rejected", 403), ("created", None), ("rejected", 403)]


def test_events_are_recorded_for_the_accounts_party(matrix_world: World) -> None:
    world = matrix_world
    body = _event("receive")(world, "shop").body
    forged = {**body, "party": world.parties["transporter"]}
    assert world.client.post("/v1/events", json=forged, headers=world.auth("shop")).status_code == 422
    response = world.client.post("/v1/events", json=body, headers=world.auth("shop"))
    assert response.status_code == 201
    assert response.json()["event"]["party"] == world.parties["shop"]
