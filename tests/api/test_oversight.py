"""The three questions, the closed loop of findings and risk lists, through HTTP."""

from __future__ import annotations

import csv
import io
import zipfile

from .conftest import World, event_body


def _overfill(world: World, cylinder: str) -> int:
    answer = world.client.post("/v1/events", json=event_body(cylinder, data={"net_kg": 16.9}),
                               headers=world.auth("station"))
    assert answer.status_code == 201
    return next(f["id"] for f in answer.json()["findings"] if f["kind"] == "overfill")


def test_trace_answers_the_three_questions(world: World) -> None:
    cylinder = world.cylinders[0]
    fill = world.client.post("/v1/events", json=event_body(cylinder, data={"net_kg": 14.6}),
                             headers=world.auth("station")).json()["event"]
    dispatch = event_body(cylinder, "dispatch", to=world.parties["transporter"],
                          data={"vehicle": "ZJ-A12345", "driver": world.driver, "escort": world.escort})
    assert world.client.post("/v1/events", json=dispatch, headers=world.auth("station")).status_code == 201
    trace = world.client.get(f"/v1/cylinders/{cylinder}/trace", headers=world.auth("inspector")).json()
    assert trace["origin"]["owner"]["id"] == world.parties["company"]
    assert trace["origin"]["last_fill"]["station"]["id"] == world.parties["station"]
    assert (trace["origin"]["last_fill"]["net_kg"], trace["origin"]["last_fill"]["event"]) == (14.6, fill["id"])
    assert trace["responsible"]["first_responsible"]["id"] == world.parties["company"]
    assert trace["current"]["state"] == "in_transit"  # sent, not yet confirmed: still the station's
    assert trace["responsible"]["now"]["id"] == world.parties["station"]
    assert trace["chain"] == {"status": "intact", "length": 3, "head": trace["chain"]["head"], "breaks": []}
    assert {"from", "until", "holder", "events"} <= trace["custody"][0].keys()
    at = world.client.get(f"/v1/cylinders/{cylinder}/responsible", params={"at": fill["occurred_at"]},
                          headers=world.auth("shop")).json()
    assert at["party"]["id"] == world.parties["station"] and at["event"] == fill["id"]


def test_a_party_sees_only_findings_about_itself(world: World) -> None:
    finding = _overfill(world, world.cylinders[0])
    mine = world.client.get("/v1/findings", headers=world.auth("station")).json()["items"]
    assert [f["id"] for f in mine] == [finding]
    assert world.client.get("/v1/findings", headers=world.auth("shop")).json()["items"] == []
    assert world.client.get(f"/v1/findings/{finding}", headers=world.auth("shop")).status_code == 403
    spying = world.client.get(f"/v1/findings?party={world.parties['station']}", headers=world.auth("shop"))
    assert spying.status_code == 403
    assert world.client.get("/v1/findings?kind=overfill", headers=world.auth("inspector")).json()["items"][0]["id"] \
        == finding


def test_the_closed_loop_through_http(world: World) -> None:
    finding = _overfill(world, world.cylinders[1])
    url = f"/v1/findings/{finding}/actions"
    steps = [("regulator", {"action": "dispatch", "assignee": "Inspector Li", "note": "weigh the next fills"}, 200),
             ("inspector", {"action": "close", "note": "done"}, 403),
             ("inspector", {"action": "handle", "note": "scale recalibrated, station warned"}, 200),
             ("inspector", {"action": "handle", "note": "again"}, 409),
             ("regulator", {"action": "close", "note": "feedback sent to the station"}, 200)]
    for account, body, status in steps:
        assert world.client.post(url, json=body, headers=world.auth(account)).status_code == status, body
    closed = world.client.get(f"/v1/findings/{finding}", headers=world.auth("regulator")).json()
    assert closed["status"] == "closed"
    assert [step["action"] for step in closed["history"]] == ["detect", "dispatch", "handle", "close"]
    no_note = world.client.post(url, json={"action": "reopen", "note": ""}, headers=world.auth("regulator"))
    assert no_note.status_code == 422


def test_risk_lists_export_to_spreadsheets_without_formulas(world: World) -> None:
    _overfill(world, world.cylinders[2])
    listed = world.client.get("/v1/risk/cylinders?reason=open_findings", headers=world.auth("regulator")).json()
    assert [item["cylinder"] for item in listed["items"]] == [world.cylinders[2]]
    exported = world.client.get("/v1/risk/cylinders?reason=open_findings&format=csv", headers=world.auth("inspector"))
    assert exported.headers["content-disposition"] == 'attachment; filename="risk-open_findings.csv"'
    rows = list(csv.DictReader(io.StringIO(exported.content.decode("utf-8-sig"))))
    assert [row["cylinder"] for row in rows] == [world.cylinders[2]] and rows[0]["reason"] == "open_findings"
    xlsx = world.client.get("/v1/risk/cylinders?reason=open_findings&format=xlsx", headers=world.auth("regulator"))
    assert world.cylinders[2] in zipfile.ZipFile(io.BytesIO(xlsx.content)).read("xl/sharedStrings.xml").decode()
    from api.export import to_csv

    assert to_csv([{"cylinder": "=HYPERLINK(\"x\")"}], ["cylinder"]).decode("utf-8-sig").splitlines()[1] \
        == "\"'=HYPERLINK(\"\"x\"\")\""
    colours = world.client.get("/v1/risk/enterprises", headers=world.auth("regulator")).json()
    station = next(c for c in colours if c["party"]["id"] == world.parties["station"])
    assert station["colour"] in ("yellow", "red") and station["reasons"]
