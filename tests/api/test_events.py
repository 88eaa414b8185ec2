"""Recording through the API: idempotency, batches, pagination, and proofs a client can check alone."""

from __future__ import annotations

import hashlib
import time
import uuid

from cryptography.hazmat.primitives.serialization import load_pem_public_key

from ledger.bundle import load_bundle, verify_bundle
from ledger.proofs import leaf_hash, verify_consistency, verify_inclusion
from ledger.signednote import NoteVerifier, open_checkpoint
from ledger.wire import hash_of_json
from scanners.payload import parse_scan

from .conftest import World, event_body


def _post(world: World, body: dict, account: str = "station"):
    return world.client.post("/v1/events", json=body, headers=world.auth(account))


def test_an_event_is_recorded_once_201_then_200_then_409(world: World) -> None:
    before = world.counts()["events"]
    body = event_body(world.cylinders[0], data={"net_kg": 14})
    first = _post(world, body)
    assert first.status_code == 201
    event = first.json()["event"]
    assert (event["seq"], event["kind"], event["party"]) == (1, "fill", world.parties["station"])
    assert event["data"] == {"net_kg": 14} and hash_of_json(event).hex() == event["hash"]
    again = _post(world, body)
    assert again.status_code == 200 and again.json()["event"] == event
    other = _post(world, {**body, "data": {"net_kg": 13.9}})
    assert other.status_code == 409
    assert other.json()["type"] == "urn:cylinder-ledger:problem:idempotency-conflict"
    assert world.counts()["events"] == before + 1


def test_a_registration_is_recorded_once(world: World) -> None:
    body = {"owner": world.parties["company"], "serial": "SN-77", "manufacturer": "Zhejiang Steel",
            "manufactured_on": "2023-01-05", "model": "YSP-15", "tare_kg": 15.0, "design_life_years": 8,
            "last_inspected_on": "2024-01-05", "next_inspection_due": "2028-01-05",
            "idempotency_key": f"reg-{uuid.uuid4()}"}
    first = world.client.post("/v1/cylinders", json=body, headers=world.auth("company"))
    assert first.status_code == 201
    again = world.client.post("/v1/cylinders", json=body, headers=world.auth("company"))
    assert again.status_code == 200 and again.json() == first.json()
    changed = world.client.post("/v1/cylinders", json={**body, "serial": "SN-78"}, headers=world.auth("company"))
    assert changed.status_code == 409
    same_serial = world.client.post("/v1/cylinders", json={**body, "idempotency_key": f"reg-{uuid.uuid4()}"},
                                    headers=world.auth("company"))
    assert same_serial.status_code == 409  # one stamped serial, one trace code


def test_registration_answers_a_label_that_verifies(world: World) -> None:
    body = {"owner": world.parties["company"], "serial": "SN-LBL", "manufacturer": "Zhejiang Steel",
            "manufactured_on": "2023-01-05", "model": "YSP-15", "tare_kg": 15.0, "design_life_years": 8,
            "last_inspected_on": "2024-01-05", "next_inspection_due": "2028-01-05"}
    answer = world.client.post("/v1/cylinders", json=body, headers=world.auth("company")).json()
    key = load_pem_public_key(world.client.get("/v1/labels/public-key").text.encode())
    scan = parse_scan(answer["qr_payload"], key)
    assert scan.verified and scan.code == answer["id"] and scan.base == "https://trace.example"
    assert answer["label_url"] == f"https://trace.example/v1/cylinders/{answer['id']}/label.svg"
    svg = world.client.get(f"/v1/cylinders/{answer['id']}/label.svg", headers=world.auth("company"))
    assert svg.headers["content-type"] == "image/svg+xml" and scan.printed in svg.text
    png = world.client.get(f"/v1/cylinders/{answer['id']}/label.png?dpi=300", headers=world.auth("company"))
    assert png.headers["content-type"] == "image/png" and png.content.startswith(b"\x89PNG")


def test_a_batch_answers_each_item_and_writes_only_the_good_ones(world: World) -> None:
    recorded = event_body(world.cylinders[0])
    assert _post(world, recorded).status_code == 201
    before = world.counts()["events"]
    good = event_body(world.cylinders[1])
    twin = dict(good)
    items = [
        good,                                                         # 0 created
        event_body(world.cylinders[1], data={"net_kg": -1}),          # 1 schema
        recorded,                                                     # 2 duplicate of a stored event
        twin,                                                         # 3 repeated within the batch
        {**good, "data": {"net_kg": 10}},                             # 4 same key, other content
        event_body("AAAAAAAAAAA"),                                    # 5 unregistered code
        42,                                                           # 6 not an object
        event_body(world.cylinders[2], kind="deliver", to="U1"),      # 7 a station does not deliver
        {**event_body(world.cylinders[2]), "party": "X"},             # 8 unknown field
        event_body(world.cylinders[2]),                               # 9 created
    ]
    response = world.client.post("/v1/events/batch", json={"events": items}, headers=world.auth("station"))
    assert response.status_code == 200
    results = response.json()["results"]
    assert [r["index"] for r in results] == list(range(len(items)))
    assert [r["status"] for r in results] == [
        "created", "rejected", "duplicate", "duplicate", "rejected", "rejected", "rejected", "rejected",
        "rejected", "created"]
    assert [r["error"]["status"] for r in results if r["status"] == "rejected"] == [422, 409, 404, 422, 403, 422]
    assert results[1]["error"]["errors"] == [{"field": "data.net_kg", "message": "Input should be greater than or "
                                                                                  "equal to 0"}]
    assert results[8]["error"]["errors"][0]["field"] == "party"
    assert results[3]["event"] == results[0]["event"]
    assert results[2]["event"]["idempotency_key"] == recorded["idempotency_key"]
    assert world.counts()["events"] == before + 2


def test_a_batch_is_reviewed_by_the_rules_a_moment_after_it_is_answered(world: World) -> None:
    jumped = world.cylinders[0]  # the shop scans a receipt nobody dispatched to it: a custody jump
    items = [event_body(jumped, kind="receive", data={}), event_body(world.cylinders[1], kind="receive", data={})]
    response = world.client.post("/v1/events/batch", json={"events": items}, headers=world.auth("shop"))
    assert [r["status"] for r in response.json()["results"]] == ["created", "created"]
    deadline, kinds = time.monotonic() + 20, []
    while time.monotonic() < deadline and not kinds:  # the server's reviewer runs in the background
        page = world.client.get("/v1/findings", params={"cylinder": jumped}, headers=world.auth("regulator")).json()
        kinds = [finding["kind"] for finding in page["items"]]
        time.sleep(0.05)
    assert kinds == ["custody_jump"]
    deadline = time.monotonic() + 20
    while _backlog(world) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _backlog(world) == 0


def _backlog(world: World) -> int:
    with world.ledger.db.reading() as connection:
        return world.ledger.review_backlog(connection)[0]


def test_a_truckload_of_1000_is_one_request(world: World) -> None:
    items = [event_body(world.cylinders[n % 3]) for n in range(1000)]
    response = world.client.post("/v1/events/batch", json={"events": items}, headers=world.auth("station"))
    assert response.status_code == 200
    assert {r["status"] for r in response.json()["results"]} == {"created"}
    for cylinder in world.cylinders:
        seqs = [e["seq"] for e in _all_events(world, cylinder)]
        assert seqs == list(range(len(seqs)))
    assert sum(len(_all_events(world, c)) for c in world.cylinders) == 1003


def _all_events(world: World, cylinder: str, limit: int = 1000) -> list[dict]:
    events, cursor = [], None
    while True:
        params = {"limit": limit} | ({"cursor": cursor} if cursor else {})
        page = world.client.get(f"/v1/cylinders/{cylinder}/events", params=params, headers=world.auth("inspector"))
        assert page.status_code == 200
        events += page.json()["items"]
        cursor = page.json()["next_cursor"]
        if cursor is None:
            return events


def test_events_page_by_cursor_and_after_seq(world: World) -> None:
    cylinder = world.cylinders[0]
    for _ in range(6):
        assert _post(world, event_body(cylinder)).status_code == 201
    assert [e["seq"] for e in _all_events(world, cylinder, limit=3)] == list(range(7))
    after = world.client.get(f"/v1/cylinders/{cylinder}/events?after_seq=4", headers=world.auth("shop")).json()
    assert [e["seq"] for e in after["items"]] == [5, 6] and after["next_cursor"] is None
    spelled = cylinder.lower()[:4] + "-" + cylinder.lower()[4:]
    assert world.client.get(f"/v1/cylinders/{spelled}", headers=world.auth("shop")).json()["id"] == cylinder


def test_parties_page_by_cursor_and_filter(world: World) -> None:
    for n in range(5):
        body = {"kind": "shop", "name": f"Shop {n}", "region": "330106" if n % 2 else "330110"}
        assert world.client.post("/v1/parties", json=body, headers=world.auth("regulator")).status_code == 201
    seen, cursor = [], None
    while True:
        params = {"kind": "shop", "limit": 2} | ({"cursor": cursor} if cursor else {})
        page = world.client.get("/v1/parties", params=params, headers=world.auth("shop")).json()
        seen += page["items"]
        if (cursor := page["next_cursor"]) is None:
            break
    assert len(seen) == 7 and len({p["id"] for p in seen}) == 7 and all(p["kind"] == "shop" for p in seen)
    assert [p["id"] for p in seen] == sorted(p["id"] for p in seen)
    region = world.client.get("/v1/parties?region=330106", headers=world.auth("shop")).json()["items"]
    assert len(region) == 2 and {p["region"] for p in region} == {"330106"}


def test_proofs_check_out_with_nothing_but_the_public_key(world: World) -> None:
    events = [_post(world, event_body(world.cylinders[n % 3])).json()["event"] for n in range(5)]
    verifier = NoteVerifier.from_vkey(world.client.get("/v1/log/public-key").text.strip())
    checkpoint = open_checkpoint(verifier, world.client.get("/v1/log/checkpoint").text)
    assert checkpoint.size == 9  # four registrations, five fills
    for event in events:
        proof = world.client.get(f"/v1/events/{event['id']}/proof", headers=world.auth("shop")).json()
        assert proof["tree_size"] == checkpoint.size and proof["entry_hash"] == event["hash"]
        verify_inclusion(leaf_hash(bytes.fromhex(event["hash"])), event["log_index"], checkpoint.size,
                         [bytes.fromhex(node) for node in proof["audit_path"]], checkpoint.root)
    _post(world, event_body(world.cylinders[0]))
    newer = open_checkpoint(verifier, world.client.get("/v1/log/checkpoint").text)
    proof = world.client.get(f"/v1/log/consistency?old={checkpoint.size}&new={newer.size}").json()
    verify_consistency(checkpoint.size, newer.size, checkpoint.root, newer.root,
                       [bytes.fromhex(node) for node in proof["proof"]])
    bundle = world.client.get(f"/v1/cylinders/{world.cylinders[0]}/bundle", headers=world.auth("shop"))
    result = verify_bundle(load_bundle(bundle.content), verifier)
    assert result.cylinder == world.cylinders[0] and result.events == 4


def test_a_proof_answer_names_the_rfc9162_leaf_hash_not_the_entry(world: World) -> None:
    # A record checker (Go's tlog.CheckRecord, CT verifiers) starts the audit path from the leaf hash
    # it is given; handing it the event's hash instead makes an honest proof fail.
    event = _post(world, event_body(world.cylinders[1])).json()["event"]
    checkpoint = open_checkpoint(NoteVerifier.from_vkey(world.client.get("/v1/log/public-key").text.strip()),
                                 world.client.get("/v1/log/checkpoint").text)
    proof = world.client.get(f"/v1/events/{event['id']}/proof?size={checkpoint.size}", headers=world.auth("shop")).json()
    assert set(proof) == {"log_index", "tree_size", "entry_hash", "leaf_hash", "audit_path"}
    assert proof["entry_hash"] == event["hash"]
    assert proof["leaf_hash"] == hashlib.sha256(b"\x00" + bytes.fromhex(event["hash"])).hexdigest()
    verify_inclusion(bytes.fromhex(proof["leaf_hash"]), proof["log_index"], proof["tree_size"],
                     [bytes.fromhex(node) for node in proof["audit_path"]], checkpoint.root)


def test_an_end_user_is_an_opaque_reference(world: World) -> None:
    person = {"kind": "household", "name": "Chen Jie", "phone": "+86 138 0000 1234", "address": "8 Wensan Road"}
    ref = world.client.post("/v1/end-users", json=person, headers=world.auth("shop")).json()["ref"]
    assert "Chen" not in ref and "1234" not in ref
    delivery = event_body(world.cylinders[0], kind="deliver", to=ref, data={"net_kg": 14.4})
    event = _post(world, delivery, account="shop").json()["event"]
    assert event["to"] == ref and "Chen" not in str(event)
    shown = world.client.get(f"/v1/end-users/{ref}?reason=case+2026-0042", headers=world.auth("inspector")).json()
    assert (shown["name"], shown["phone"], shown["shop"]) == ("Chen Jie", "13800001234", world.parties["shop"])
    for account in ("admin", "company", "transporter", "shop", "inspection"):
        assert world.client.get(f"/v1/end-users/{ref}?reason=case+2026-0042", headers=world.auth(account)).status_code == 403
