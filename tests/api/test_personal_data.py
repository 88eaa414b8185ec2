"""Personal data never enters the append-only chain: what the chain refuses, and what stays beside it.

Everything an event's hash covers is served to other parties in events and bundles and can never be
erased, so the API refuses data no kind defines and a delivery to anyone but a registered end user;
docs/privacy.md says what is kept where.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

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


# --- 3. a report's note is kept beside the chain, under a salted commitment -----------------------

NOTE = "张三 13800138000 杭州市西湖区文三路 1 号: found refilling at home"


def _report(world: World, text: str = NOTE) -> dict:
    body = event_body(world.cylinders[0], kind="report", data={"note": text})
    response = world.client.post("/v1/events", json=body, headers=world.auth("inspector"))
    assert response.status_code == 201, response.text
    return response.json()["event"]


def _canonical_bytes(world: World, event_id: int) -> bytes:
    from ledger.storage import audit

    with world.ledger.db.reading() as c:
        rows = [row for page in audit.event_pages(c, start=event_id, end=event_id + 1) for row in page]
    return repr(rows).encode()


def test_a_report_note_is_not_in_the_chain_nor_the_bundle(world: World) -> None:
    event = _report(world)
    assert event["data"] == {"note": {"sha256": event["data"]["note"]["sha256"]}}
    stored = _canonical_bytes(world, event["id"])
    for secret in ("13800138000", "张三", "文三路"):
        assert secret.encode() not in stored and secret.encode("unicode_escape") not in stored
    bundle = world.client.get(f"/v1/cylinders/{world.cylinders[0]}/bundle", headers=world.auth("regulator"))
    assert bundle.status_code == 200
    assert "13800138000" not in bundle.text and "张三" not in bundle.text and "\\u5f20" not in bundle.text


def test_the_note_beside_the_event_checks_against_the_commitment_in_the_chain(world: World) -> None:
    from ledger import notes

    event = _report(world)
    shown = world.client.get(f"/v1/events/{event['id']}", headers=world.auth("regulator")).json()
    assert shown["hash"] == event["hash"] and shown["note"]["text"] == NOTE
    notes.check(bytes.fromhex(event["data"]["note"]["sha256"]), bytes.fromhex(shown["note"]["salt"]), NOTE)
    from ledger.errors import ProofInvalid
    with pytest.raises(ProofInvalid):
        notes.check(bytes.fromhex(event["data"]["note"]["sha256"]), bytes.fromhex(shown["note"]["salt"]), NOTE + ".")


def test_a_party_that_may_not_read_notes_sees_only_the_commitment(world: World) -> None:
    event = _report(world)
    shown = world.client.get(f"/v1/events/{event['id']}", headers=world.auth("station")).json()
    assert shown["note"]["text"] is None and shown["note"]["salt"] is None
    assert "13800138000" not in json.dumps(shown, ensure_ascii=False)


def test_a_repeated_report_is_a_duplicate_and_another_note_under_its_key_a_conflict(world: World) -> None:
    body = event_body(world.cylinders[0], kind="report", data={"note": NOTE})
    first = world.client.post("/v1/events", json=body, headers=world.auth("inspector"))
    again = world.client.post("/v1/events", json=body, headers=world.auth("inspector"))
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json()["event"]["id"] == first.json()["event"]["id"]
    other = dict(body, data={"note": "something else"})
    assert world.client.post("/v1/events", json=other, headers=world.auth("inspector")).status_code == 409


# --- 4. `ledger erase`: the text goes, every chain, proof and bundle still verifies --------------

def _ledger(world: World, url: str, tmp_path, *args: str):
    env = {**os.environ, "LEDGER_KEY_FILE": str(tmp_path / "log.key"),
           "LEDGER_LABEL_KEY_FILE": str(tmp_path / "label.key"), "LEDGER_LOG_ORIGIN": world.ledger.settings.log_origin}
    return subprocess.run([sys.executable, "-m", "tools.cli", *args, "--db", url], env=env, capture_output=True,
                          text=True, timeout=120)


def test_an_erased_note_shows_as_erased_and_verify_still_passes(offline_world, tmp_path) -> None:
    from datetime import datetime, timezone

    from ledger.bundle import verify_bundle
    from ledger.domain import EventKind, NewEvent

    world, url = offline_world
    ledger = world.ledger
    inspector = Actor(Role.INSPECTOR, world.parties["regulator"], "inspector")
    report = NewEvent(world.cylinders[0], EventKind.REPORT, datetime.now(timezone.utc), world.parties["regulator"],
                      "k-erase-note-1", data={"note": NOTE})
    with ledger.db.writing() as c:
        event = ledger.record(c, inspector, report).event
    with ledger.db.reading() as c:
        note = ledger.with_notes(c, inspector, [event])[0]["note"]
    before = ledger.bundle(world.cylinders[0])

    done = _ledger(world, url, tmp_path, "erase", note["id"], "--reason", "PIPL art. 47 request of the data subject",
                   "--requested-by", "case 2026-0042")
    assert done.returncode == 0, done.stderr
    again = _ledger(world, url, tmp_path, "erase", note["id"], "--reason", "repeat", "--requested-by", "case 2026-0042")
    assert again.returncode == 0 and "already erased" in again.stdout

    with ledger.db.reading() as c:
        shown = ledger.with_notes(c, inspector, [ledger.event(c, event.id)])[0]
        audit = c.exec_driver_sql("SELECT target, what, reason, requested_by FROM erasures").fetchall()
        stored = c.exec_driver_sql("SELECT text, salt FROM notes").fetchall()
    assert shown["note"]["text"] is None and shown["note"]["erased_at"] is not None
    assert shown["hash"] == event.hash.hex() and shown["data"] == event.data
    assert stored == [(None, None)]
    assert [tuple(row) for row in audit] == [(note["id"], "note", "PIPL art. 47 request of the data subject",
                                              "case 2026-0042")]
    verified = _ledger(world, url, tmp_path, "verify")
    assert verified.returncode == 0, verified.stdout + verified.stderr
    verify_bundle(before, ledger.verifier)
    verify_bundle(ledger.bundle(world.cylinders[0]), ledger.verifier)


def test_an_erased_end_user_keeps_the_ref_deliveries_name_and_loses_name_phone_and_address(world: World) -> None:
    code = _at_shop(world)
    body = event_body(code, kind="deliver", to=world.end_user)
    assert world.client.post("/v1/events", json=body, headers=world.auth("shop")).status_code == 201
    with world.ledger.db.writing() as c:
        done = world.ledger.erase(c, world.end_user, reason="PIPL art. 47", requested_by="the user, in person")
    with world.ledger.db.writing() as c:
        again = world.ledger.erase(c, world.end_user, reason="PIPL art. 47", requested_by="the user, in person")
    assert done.done and not again.done
    shown = world.client.get(f"/v1/end-users/{world.end_user}?reason=case+2026-0042", headers=world.auth("inspector")).json()
    assert (shown["name"], shown["phone"], shown["address"]) == (None, None, None)
    assert shown["erased_at"] == done.erased_at
    assert world.client.get(f"/v1/cylinders/{code}/trace", headers=world.auth("regulator")).json()["chain"]["status"] \
        == "intact"
    with world.ledger.db.reading() as c:
        assert c.exec_driver_sql("SELECT COUNT(*) FROM erasures").scalar_one() == 1


def test_erasing_what_does_not_exist_is_refused_and_records_nothing(world: World) -> None:
    from ledger.errors import InvalidInput, NotFound

    with pytest.raises(NotFound), world.ledger.db.writing() as c:
        world.ledger.erase(c, "NNOSUCHNOTE00", reason="PIPL art. 47", requested_by="someone")
    with pytest.raises(InvalidInput), world.ledger.db.writing() as c:
        world.ledger.erase(c, world.end_user, reason="  ", requested_by="someone")
    with world.ledger.db.reading() as c:
        assert c.exec_driver_sql("SELECT COUNT(*) FROM erasures").scalar_one() == 0


def test_an_erased_handling_note_shows_as_erased_and_the_rest_of_the_step_stays(world: World) -> None:
    overfill = event_body(world.cylinders[2], data={"net_kg": 16.9})
    created = world.client.post("/v1/events", json=overfill, headers=world.auth("station")).json()
    finding = next(f["id"] for f in created["findings"] if f["kind"] == "overfill")
    step = {"action": "dispatch", "assignee": world.account_id("inspector"), "note": "owner 张三 13800138000 says it was full"}
    url = f"/v1/findings/{finding}/actions"
    assert world.client.post(url, json=step, headers=world.auth("regulator")).status_code == 200
    dispatched = world.client.get(f"/v1/findings/{finding}", headers=world.auth("regulator")).json()["history"][-1]
    with world.ledger.db.writing() as c:
        done = world.ledger.erase(c, f"A{dispatched['id']}", reason="PIPL art. 47", requested_by="case 7")
    assert done.what == "finding_note" and done.done
    shown = world.client.get(f"/v1/findings/{finding}", headers=world.auth("regulator")).json()["history"][-1]
    assert shown["note"] == "" and shown["erased_at"] == done.erased_at
    assert {k: shown[k] for k in ("id", "action", "status", "actor", "assignee", "at")} == \
        {k: dispatched[k] for k in ("id", "action", "status", "actor", "assignee", "at")}
    answer = world.client.get(f"/v1/findings/{finding}", headers=world.auth("regulator")).text
    assert "13800138000" not in answer


def test_a_handling_note_can_be_erased_but_the_step_itself_never_rewritten(world: World) -> None:
    from sqlalchemy.exc import DBAPIError, IntegrityError

    overfill = event_body(world.cylinders[2], data={"net_kg": 16.9})
    world.client.post("/v1/events", json=overfill, headers=world.auth("station"))
    for change in ("SET actor = 'someone else'", "SET note = 'rewritten'", "SET note = '', action = 'close'"):
        with pytest.raises((DBAPIError, IntegrityError)), world.ledger.db.writing() as c:
            c.exec_driver_sql(f"UPDATE finding_actions {change}, erased_at = '2026-01-01T00:00:00.000000Z'")
    with pytest.raises((DBAPIError, IntegrityError)), world.ledger.db.writing() as c:
        c.exec_driver_sql("DELETE FROM finding_actions")
