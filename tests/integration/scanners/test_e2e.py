"""The driver's client against the real API: labels the platform signs, a truckload synced once."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.serialization import load_pem_public_key

from ledger import tracecode
from scanners.decode import decode_qr
from scanners.errors import ForgedLabel
from scanners.outbox import Outbox
from scanners.payload import ScanSource, parse_scan
from scanners.sync import RetryPolicy, sync
from tests.api.conftest import World, build_world
from tests.conftest import BACKENDS

FAST = RetryPolicy(attempts=2, base=0.01)


@pytest.fixture(params=BACKENDS)
def world(request, tmp_path: Path) -> Iterator[World]:
    yield from build_world(request.param, tmp_path)


def send(world: World, box: Outbox, account: str):
    return sync(box, str(world.client.base_url), world.tokens[account], client=world.client, retry=FAST)


def events_of(world: World, code: str) -> list[dict]:
    answer = world.client.get(f"/v1/cylinders/{code}/events", headers=world.auth("regulator"))
    assert answer.status_code == 200, answer.text
    return answer.json()["items"]


def test_a_printed_label_is_photographed_verified_scanned_and_recorded(world: World, tmp_path: Path) -> None:
    body = {"owner": world.parties["company"], "serial": "SN-E2E-1", "manufacturer": "Zhejiang Steel",
            "manufactured_on": "2023-01-05", "model": "YSP-15", "tare_kg": 15.0, "design_life_years": 8,
            "last_inspected_on": "2024-01-05", "next_inspection_due": "2028-01-05"}
    registered = world.client.post("/v1/cylinders", json=body, headers=world.auth("company")).json()
    code = registered["id"]
    png = world.client.get(f"/v1/cylinders/{code}/label.png", headers=world.auth("company")).content
    key = load_pem_public_key(world.client.get("/v1/labels/public-key").text.encode())
    # What the handheld's camera reads from the printed label.
    texts = decode_qr(png)
    assert texts == [registered["qr_payload"]]
    scan = parse_scan(texts[0], key)
    assert (scan.code, scan.source, scan.verified) == (code, ScanSource.LABEL, True)
    with pytest.raises(ForgedLabel):
        parse_scan(texts[0].replace(code, world.cylinders[0]), key)
    with Outbox(tmp_path / "outbox.db") as box:
        box.add([scan], "fill", data={"net_kg": 14.6})
        assert send(world, box, "station").complete
        assert box.list()[0].event["cylinder"] == code
    assert [e["kind"] for e in events_of(world, code)] == ["register", "fill"]


def test_a_truckload_is_recorded_once_even_when_resent(world: World, tmp_path: Path) -> None:
    path = tmp_path / "station-outbox.db"
    codes = world.cylinders
    filled_at = datetime.now(timezone.utc).astimezone(timezone(timedelta(hours=8))) - timedelta(hours=2)
    with Outbox(path) as box:
        box.add(codes, "fill", data={"net_kg": 14.5}, occurred_at=filled_at)
        report = send(world, box, "station")
        assert report.complete, [(s.cylinder, s.reason) for s in box.list()]
        assert {s.status for s in box.list()} == {"recorded"}
    # A crash after the server answered but before the outbox stored it: the scans look unsent.
    with sqlite3.connect(path) as db:
        db.execute("UPDATE scans SET status = 'pending', event = NULL")
    with Outbox(path) as box:
        assert send(world, box, "station").complete
        assert {s.status for s in box.list()} == {"duplicate"}
    for code in codes:
        fills = [e for e in events_of(world, code) if e["kind"] == "fill"]
        assert len(fills) == 1 and fills[0]["data"] == {"net_kg": 14.5}


def test_an_unregistered_code_is_rejected_then_fixed(world: World, tmp_path: Path) -> None:
    stranger = tracecode.generate()
    with Outbox(tmp_path / "outbox.db") as box:
        box.add([stranger, world.cylinders[0]], "fill", data={"net_kg": 14.4})
        report = send(world, box, "station")
        rejected = box.list("rejected")
        assert [s.cylinder for s in rejected] == [stranger], report
        assert rejected[0].reason
        box.fix(rejected[0].id, cylinder=world.cylinders[1])
        assert send(world, box, "station").complete
        assert {s.status for s in box.list()} == {"recorded"}
    assert [e["kind"] for e in events_of(world, world.cylinders[1])][-1] == "fill"


def test_a_wrong_token_keeps_the_scans(world: World, tmp_path: Path) -> None:
    with Outbox(tmp_path / "outbox.db") as box:
        box.add(world.cylinders[:1], "fill", data={"net_kg": 14.5})
        report = sync(box, str(world.client.base_url), "not-a-token", client=world.client, retry=FAST)
        assert report.stopped is not None and report.still_pending == 1
