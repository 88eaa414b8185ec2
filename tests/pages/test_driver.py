"""The driver's page on the server side: its choices, the sync of a queue, the check of one scan."""

from __future__ import annotations

import json
import uuid
from datetime import datetime, timezone

from ledger import tracecode
from ledger.domain import format_time
from scanners.payload import label_url, sign_label

from .city import Town
from .conftest import sign_in


def scan(cylinder: str, kind: str, **extra) -> dict:
    return {"cylinder": cylinder, "kind": kind, "occurred_at": format_time(datetime.now(timezone.utc)),
            "idempotency_key": f"drv-{uuid.uuid4()}", **extra}


def sync(client, csrf: str, events: list[dict]):
    return client.post("/driver/sync", json={"events": events}, headers={"X-CSRF-Token": csrf})


def strings_of(html: str) -> dict:
    block = html.split('id="driver-strings">', 1)[1].split("</script>", 1)[0]
    return json.loads(block)


def test_each_role_is_offered_the_actions_it_may_record(town: Town, client):
    sign_in(client, town.tokens["shop"])
    shop = client.get("/driver").text
    assert {k: f'value="{k}"' in shop for k in ("receive", "dispatch", "deliver", "collect", "return")} == \
        {"receive": True, "dispatch": True, "deliver": True, "collect": True, "return": True}
    assert "赵送气" in shop and strings_of(shop)["kind.deliver"] == "配送入户"
    sign_in(client, town.tokens["transporter"])
    truck = client.get("/driver").text
    assert 'value="deliver"' not in truck and 'value="return"' in truck
    assert "王建国" in truck and "李押运" in truck and "顺达危货运输" not in truck.split('id="to"')[1].split("</select>")[0]


def test_a_queue_is_recorded_once_however_often_it_is_sent(town: Town, client):
    csrf = sign_in(client, town.tokens["transporter"])
    code = town.cylinders["jump"]
    queue = [scan(code, "return", to=town.parties["station"],
                  data={"vehicle": "浙A12345", "driver": town.people["driver"], "escort": town.people["escort"]})]
    first = sync(client, csrf, queue).json()["results"]
    again = sync(client, csrf, queue).json()["results"]  # the answer was lost: the phone sends it again
    assert [r["status"] for r in first] == ["created"] and [r["status"] for r in again] == ["duplicate"]
    assert first[0]["event"]["id"] == again[0]["event"]["id"]
    with town.ledger.db.reading() as c:
        assert sum(e.idempotency_key == queue[0]["idempotency_key"] for e in town.ledger.history(c, code)) == 1


def test_each_scan_is_answered_on_its_own(town: Town, client):
    csrf = sign_in(client, town.tokens["shop"])
    queue = [
        scan(town.cylinders["overdue"], "collect"),  # recorded, but it must not go out to a user
        scan(tracecode.generate(), "collect"),  # a code the platform never issued
        scan(town.cylinders["clean"], "deliver"),  # a delivery must name the user
        scan("NOT A CODE", "collect"),
    ]
    results = sync(client, csrf, queue).json()["results"]
    assert [r["status"] for r in results] == ["created", "rejected", "rejected", "rejected"]
    assert results[0]["cautions"] == ["overdue_inspection"]
    assert any(f["kind"] == "custody_jump" for f in results[0]["findings"])  # it was never handed to the shop
    assert "unregistered" in results[1]["error"]["detail"]
    assert "end user" in results[2]["error"]["detail"]
    assert results[3]["error"]["status"] == 422


def test_sync_needs_the_session_and_its_csrf_token(town: Town, client):
    queue = [scan(town.cylinders["clean"], "collect")]
    assert client.post("/driver/sync", json={"events": queue}).status_code == 303
    csrf = sign_in(client, town.tokens["shop"])
    assert sync(client, "forged", queue).status_code == 403
    assert client.post("/driver/sync", json={"events": queue}, headers={"X-CSRF-Token": csrf,
                       "Origin": "https://evil.example"}).status_code == 403
    sign_in(client, town.tokens["regulator"])
    assert sync(client, csrf, queue).status_code == 403


def test_checking_a_scan_at_once_tells_forged_labels_unregistered_codes_and_cautions(town: Town, client):
    sign_in(client, town.tokens["shop"])
    base = "https://trace.example"

    def check(text):
        return client.get("/driver/check", params={"scan": text}).json()

    genuine = check(label_url(base, town.cylinders["scrapped"], town.ledger.label_key))
    assert genuine["ok"] and genuine["verified"] and genuine["cautions"] == ["scrapped"]
    other = sign_label(town.cylinders["old"], town.ledger.label_key)
    forged = check(f"{base}/c/{town.cylinders['clean']}?s={other}")
    assert not forged["ok"] and forged["forged"]
    assert check(tracecode.generate())["registered"] is False
    typed = check(tracecode.printed(town.cylinders["old"]).lower())
    assert typed["ok"] and not typed["verified"] and typed["cautions"] == ["past_design_life"]
    assert check("7K3Q-9XZ2-ABZ")["ok"] is False


def test_a_sync_holding_nan_or_utf16_is_refused_as_the_api_refuses_it(town: Town, client):
    csrf = sign_in(client, town.tokens["shop"])
    queue = json.dumps({"events": [scan(town.cylinders["clean"], "collect", data={"net_kg": 1})]})
    headers = {"X-CSRF-Token": csrf, "content-type": "application/json"}
    refused = client.post("/driver/sync", content=queue.replace('"net_kg": 1', '"net_kg": NaN').encode(), headers=headers)
    assert refused.status_code == 422 and refused.json()["type"].endswith(":non-finite-number")
    refused = client.post("/driver/sync", content=queue.encode("utf-16"), headers=headers)
    assert refused.status_code == 400 and refused.json()["type"].endswith(":not-utf8")
