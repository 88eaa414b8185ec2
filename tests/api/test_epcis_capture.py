"""POST /v1/epcis/capture: GS1's examples, documents of the ledger's own events, retries, refusals, who may poll."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from api.app import create_app
from tests.api.epcis_docs import document, example, fill, fills, wait_for

LD = {"Content-Type": "application/ld+json"}
EXAMPLES = ["Example_9.6.1-ObjectEvent.jsonld", "Example_9.6.1-ObjectEventWithDigitalLink.jsonld",
            "Example_9.6.2-ObjectEvent.jsonld", "ErrorDeclarationAndCorrectiveEvent.jsonld",
            "event_with_identical_hash_id_7.json", "object_event_all_possible_fields.jsonld"]


def capture(world, body, account: str = "station", headers: dict | None = None):
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    return world.client.post("/v1/epcis/capture", content=raw, headers={**world.auth(account), **LD, **(headers or {})})


def captured(world, body, account: str = "station") -> dict:
    answer = capture(world, body, account)
    assert answer.status_code == 202, answer.text
    location = answer.headers["location"]
    assert location.startswith("/v1/epcis/capture/")
    return wait_for(world.client.get, location, world.auth(account))


def jobs(world) -> int:
    with world.ledger.db.reading() as connection:
        return connection.execute(text("SELECT COUNT(*) FROM capture_jobs")).scalar_one()


@pytest.mark.parametrize("name", EXAMPLES)
def test_gs1_examples_are_read_and_each_event_refused_with_its_reason(world, name):
    before = world.counts()
    job = captured(world, example(name))
    assert job["running"] is False and job["success"] is False and job["captureErrorBehaviour"] == "proceed"
    assert len(job["events"]) == job["eventCount"] == len(json.loads(example(name))["epcisBody"]["eventList"])
    for outcome in job["events"]:
        assert outcome["status"] == "rejected"
        assert outcome["error"]["type"] == "epcisException:ValidationException"
        assert outcome["error"]["detail"]  # sgtin/Digital Link trade items, TransformationEvents: each says why
    assert len(job["errors"]) == len(job["events"])
    assert world.counts() == before


def test_mappable_events_go_in_and_the_others_are_refused_each_with_a_reason(world):
    station, code = world.parties["station"], world.cylinders[0]
    now = datetime.now(timezone.utc)
    gs1 = json.loads(example("Example_9.6.1-ObjectEvent.jsonld"))["epcisBody"]["eventList"]
    events = [fill(code, station, now - timedelta(hours=2)), gs1[0], fill(code, station, now - timedelta(hours=1)),
              fill("NOSUCHCODE1", station, now - timedelta(minutes=30))]
    job = captured(world, document(events))
    assert [e["status"] for e in job["events"]] == ["created", "rejected", "created", "rejected"]
    assert "not a cylinder of this ledger" in job["events"][1]["error"]["detail"]
    assert "not a registered cylinder" in job["events"][3]["error"]["detail"]
    assert {e["index"] for e in job["errors"]} == {1, 3}
    history = world.client.get(f"/v1/cylinders/{code}/events", headers=world.auth("admin")).json()["items"]
    fills_ = [e for e in history if e["kind"] == "fill"]
    assert len(fills_) == 2 and all(e["party"] == station and e["data"]["net_kg"] == 14.5 for e in fills_)
    assert [e["event"] for e in job["events"][0]["recorded"]] == [fills_[0]["id"]]


def test_a_retried_document_records_nothing_twice(world):
    body = document(fills(world.cylinders, world.parties["station"], 6))
    first = captured(world, body)
    events = world.counts()["events"]
    again = captured(world, body)
    assert [e["status"] for e in first["events"]] == ["created"] * 6
    assert [e["status"] for e in again["events"]] == ["duplicate"] * 6
    assert [r["event"] for e in again["events"] for r in e["recorded"]] == \
        [r["event"] for e in first["events"] for r in e["recorded"]]
    assert world.counts()["events"] == events
    assert again["documentDigest"] == first["documentDigest"]


def test_events_without_an_event_id_are_deduplicated_by_their_gs1_hash_id(world):
    at = datetime.now(timezone.utc) - timedelta(hours=1)
    body = document([fill(world.cylinders[1], world.parties["station"], at, event_id=False)])
    first = captured(world, body)
    assert first["events"][0]["status"] == "created"
    assert first["events"][0]["eventID"].startswith("ni:///sha-256;")
    assert captured(world, body)["events"][0]["status"] == "duplicate"


def test_custody_rules_apply_as_to_post_v1_events(world):
    """A shop may not record a fill: refused as it would be at POST /v1/events, as an EPCIS SecurityException."""
    at = datetime.now(timezone.utc) - timedelta(hours=1)
    job = captured(world, document([fill(world.cylinders[0], world.parties["station"], at)]), account="shop")
    assert job["events"][0]["status"] == "rejected"
    assert job["events"][0]["error"]["type"] == "epcisException:SecurityException"
    direct = world.client.post("/v1/events", headers=world.auth("shop"), json={
        "cylinder": world.cylinders[0], "kind": "fill", "occurred_at": at.isoformat(),
        "idempotency_key": "direct-fill-by-shop", "data": {"net_kg": 14.5}})
    assert direct.status_code == 403


BAD = {
    "malformed JSON": (b'{"@context": ', 400, "ValidationException"),
    "not UTF-8": ('{"a": "\u00e9"}'.encode("utf-16"), 400, "ValidationException"),
    "no @context": (json.dumps({**document([]), "@context": None} | {"epcisBody": {"eventList": [{}]}})
                    .replace('"@context": null, ', "").encode(), 400, "ValidationException"),
    "another context": (json.dumps(document([{}], context="https://example.com/ctx.jsonld")).encode(), 400,
                        "ValidationException"),
    "not an EPCISDocument": (json.dumps({**document([{}]), "type": "ObjectEvent"}).encode(), 400,
                             "ValidationException"),
    "an array": (b"[]", 400, "ValidationException"),
    "no events": (json.dumps(document([])).encode(), 400, "ValidationException"),
    "unknown bizStep": (json.dumps(document([{"type": "ObjectEvent", "bizStep": "frobbing"}])).encode(), 400,
                        "ValidationException"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_documents_are_refused_with_4xx_and_nothing_written(world, case):
    body, status, exception = BAD[case]
    before = world.counts()
    answer = capture(world, body)
    assert answer.status_code == status, answer.text
    assert answer.headers["content-type"].startswith("application/problem+json")
    assert answer.json()["type"] == f"epcisException:{exception}" and answer.json()["detail"]
    assert world.counts() == before and jobs(world) == 0


def test_a_grai_of_another_companys_prefix_refuses_the_document(world):
    at = datetime.now(timezone.utc) - timedelta(hours=1)
    code = world.cylinders[0]
    ours = fill(code, world.parties["station"], at, epc=f"urn:epc:id:grai:6901234.00000.{code}")
    theirs = fill(code, world.parties["station"], at, epc=f"urn:epc:id:grai:6909999.00000.{code}")
    unknown = fill(code, world.parties["station"], at, epc=f"urn:epc:id:grai:4012345.00000.{code}")
    app = world.client.app
    settings = app.state.capture_settings
    app.state.capture_settings = type(settings)({"6901234": world.parties["company"],
                                                 "6909999": world.parties["company2"]})
    try:
        before = world.counts()
        refused = capture(world, document([ours, theirs]))
        assert refused.status_code == 403 and refused.json()["type"] == "epcisException:SecurityException"
        assert "6909999" in refused.json()["detail"]
        assert capture(world, document([unknown])).status_code == 400
        assert world.counts() == before and jobs(world) == 0
        job = captured(world, document([ours]))
        assert job["events"][0]["status"] == "created"
    finally:
        app.state.capture_settings = settings


def test_a_document_over_the_size_cap_is_refused_413_before_it_is_read(world):
    with TestClient(create_app(ledger=world.ledger, capture_max_bytes=4096), raise_server_exceptions=False) as small:
        body = json.dumps(document(fills(world.cylinders, world.parties["station"], 40))).encode()
        assert len(body) > 4096
        before = world.counts()
        answer = small.post("/v1/epcis/capture", content=body, headers={**world.auth("station"), **LD})
        assert answer.status_code == 413
        assert answer.json()["type"] == "epcisException:CaptureLimitExceededException"

        def chunks():  # no Content-Length: counted as it arrives
            for start in range(0, len(body), 1000):
                yield body[start:start + 1000]

        streamed = small.post("/v1/epcis/capture", content=chunks(), headers={**world.auth("station"), **LD})
        assert streamed.status_code == 413
        assert world.counts() == before and jobs(world) == 0
        # POST /v1/events keeps its own, smaller limit.
        assert small.post("/v1/events", content=b" " * (3 * 1024 * 1024),
                          headers={**world.auth("station"), "Content-Type": "application/json"}).status_code == 413


def test_who_may_capture_and_who_may_poll(world):
    body = document(fills(world.cylinders, world.parties["station"], 1))
    for account in ("admin",):  # a regulator's people capture field reports; admin acts for no party
        refused = capture(world, body, account)
        assert refused.status_code == 403, (account, refused.text)
    assert world.client.post("/v1/epcis/capture", content=json.dumps(body), headers=LD).status_code == 401
    assert capture(world, body, headers={"Content-Type": "text/plain"}).status_code == 415
    assert capture(world, body, headers={"GS1-Capture-Error-Behaviour": "rollback"}).status_code == 400
    answer = capture(world, body)
    location = answer.headers["location"]
    wait_for(world.client.get, location, world.auth("station"))
    assert world.client.get(location, headers=world.auth("admin")).status_code == 200
    for other in ("company", "shop", "regulator", "inspector"):  # the station's own parent company too
        assert world.client.get(location, headers=world.auth(other)).status_code == 404, other
    assert world.client.get(location).status_code == 401
    assert world.client.get("/v1/epcis/capture/CAPNOSUCHJOB00", headers=world.auth("admin")).status_code == 404
