"""The three questions, the closed loop of findings and risk lists, through HTTP."""

from __future__ import annotations

import csv
import io
import re
import zipfile

from sqlalchemy import text

from ledger import sessions
from ledger.domain import Role

from .conftest import World, event_body, now


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
    assert trace["chain"] == {"status": "intact", "length": 3, "head": trace["chain"]["head"], "breaks": [],
                              "events": trace["chain"]["events"]}
    assert [(e["seq"], e["log"]) for e in trace["chain"]["events"]] == [(seq, "test.cylinder-ledger/log") for seq in range(3)]
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
    steps = [("regulator", {"action": "dispatch", "assignee": world.account_id("inspector"),
                            "note": "weigh the next fills"}, 200),
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


def _dispatch(world: World, finding: int, assignee) -> object:
    return world.client.post(f"/v1/findings/{finding}/actions", headers=world.auth("regulator"),
                              json={"action": "dispatch", "assignee": assignee, "note": "go and look"})


def _refused_and_unchanged(world: World, finding: int, answer, reason: str) -> None:
    assert answer.status_code == 422 and answer.headers["content-type"] == "application/problem+json", answer.text
    assert reason in answer.text
    after = world.client.get(f"/v1/findings/{finding}", headers=world.auth("regulator")).json()
    assert after["status"] == "open" and after["assignee"] is None and len(after["history"]) == 1


def _account(world: World, role: Role, party: str, name: str) -> int:
    with world.ledger.db.writing() as connection:
        token = world.ledger.create_account(connection, role=role, party=world.parties[party], name=name)
        return world.ledger.authenticate(connection, token).account


def _legacy_account(world: World, role: Role, party: str, name: str) -> int:
    """An account row of a role for a party of another kind, as stored before `create_account` refused them."""
    from ledger.service.types import token_hash
    from ledger.storage import registry as reg

    with world.ledger.db.writing() as connection:
        return reg.insert_account(connection, token_hash(f"legacy-{name}"), role.value, world.parties[party], name,
                                  "2026-01-01T00:00:00Z")


def test_an_assignee_that_is_a_delivery_worker_of_the_findings_shop_is_refused(world: World) -> None:
    cylinder = world.cylinders[0]
    received = world.client.post("/v1/events", json=event_body(cylinder, "receive"), headers=world.auth("shop"))
    finding = next(f["id"] for f in received.json()["findings"] if f["party"] == world.parties["shop"])
    worker = world.client.post(f"/v1/parties/{world.parties['shop']}/people", headers=world.auth("shop"),
                               json={"name": "Zhao Liu", "role": "delivery_worker", "certificate": None}).json()["id"]
    _refused_and_unchanged(world, finding, _dispatch(world, finding, worker), "assignee")
    # nor the shop's own account, nor an inspector account the shop itself holds
    _refused_and_unchanged(world, finding, _dispatch(world, finding, world.account_id("shop")), "not an inspector")
    own = _legacy_account(world, Role.INSPECTOR, "shop", "shop's own inspector")
    _refused_and_unchanged(world, finding, _dispatch(world, finding, own), "does not belong to a regulator")


def test_an_assignee_of_nobody_at_all_is_refused(world: World) -> None:
    finding = _overfill(world, world.cylinders[0])
    for nobody in ("nobody at all", "", 999_999, 0, -1, None, 1.5, True):
        _refused_and_unchanged(world, finding, _dispatch(world, finding, nobody), "assignee")


def test_a_disabled_inspector_cannot_be_assigned(world: World) -> None:
    finding = _overfill(world, world.cylinders[0])
    inspector = _account(world, Role.INSPECTOR, "regulator", "Inspector Sun")
    with world.ledger.db.writing() as connection:
        sessions.disable_account(connection, inspector, now())
    _refused_and_unchanged(world, finding, _dispatch(world, finding, inspector), f"no active account {inspector}")


def test_an_inspector_of_a_regulator_the_finding_is_about_cannot_be_assigned(world: World) -> None:
    finding = _overfill(world, world.cylinders[0])
    with world.ledger.db.writing() as connection:  # the regulator appears as the party the finding is about
        connection.execute(text("UPDATE findings SET party = :p WHERE id = :f"),
                           {"p": world.parties["regulator"], "f": finding})
    answer = _dispatch(world, finding, world.account_id("inspector"))
    _refused_and_unchanged(world, finding, answer, "a party this finding is about")


def test_a_shop_account_handling_a_finding_is_refused(world: World) -> None:
    finding = _overfill(world, world.cylinders[0])
    assert _dispatch(world, finding, world.account_id("inspector")).status_code == 200
    for account in ("shop", "station"):  # a stranger, and the very party the finding is about
        answer = world.client.post(f"/v1/findings/{finding}/actions", headers=world.auth(account),
                                   json={"action": "handle", "note": "all fine here"})
        assert answer.status_code == 403, account
    assert world.client.get(f"/v1/findings/{finding}", headers=world.auth("regulator")).json()["status"] == "dispatched"


def test_an_inspector_the_finding_was_not_dispatched_to_cannot_handle_it(world: World) -> None:
    finding = _overfill(world, world.cylinders[0])
    other = _account(world, Role.INSPECTOR, "regulator", "Inspector Sun")
    assert _dispatch(world, finding, other).status_code == 200
    answer = world.client.post(f"/v1/findings/{finding}/actions", headers=world.auth("inspector"),
                               json={"action": "handle", "note": "handled it myself"})
    assert answer.status_code == 403 and "dispatched to" in answer.json()["detail"]
    assert world.client.get(f"/v1/findings/{finding}", headers=world.auth("regulator")).json()["status"] == "dispatched"


def test_the_assigned_inspector_handles_the_finding(world: World) -> None:
    finding = _overfill(world, world.cylinders[0])
    inspector = world.account_id("inspector")
    dispatched = _dispatch(world, finding, inspector).json()
    assert dispatched["assignee"] == str(inspector) and dispatched["history"][-1]["assignee"] == str(inspector)
    answer = world.client.post(f"/v1/findings/{finding}/actions", headers=world.auth("inspector"),
                               json={"action": "handle", "note": "scale recalibrated"})
    assert answer.status_code == 200 and answer.json()["status"] == "handled"


def test_risk_lists_export_to_spreadsheets_without_formulas(world: World) -> None:
    _overfill(world, world.cylinders[2])
    listed = world.client.get("/v1/risk/cylinders?reason=open_findings", headers=world.auth("regulator")).json()
    assert [item["cylinder"] for item in listed["items"]] == [world.cylinders[2]]
    exported = world.client.get("/v1/risk/cylinders?reason=open_findings&format=csv", headers=world.auth("inspector"))
    assert re.fullmatch(r'attachment; filename="risk-open_findings-\d{8}-\d{4}\.csv"',
                        exported.headers["content-disposition"])
    rows = list(csv.DictReader(io.StringIO(exported.content.decode("utf-8-sig"))))
    assert [row["气瓶编码"] for row in rows] == [world.cylinders[2]] and rows[0]["风险类别"] == "有未关闭问题"
    xlsx = world.client.get("/v1/risk/cylinders?reason=open_findings&format=xlsx", headers=world.auth("regulator"))
    assert world.cylinders[2] in zipfile.ZipFile(io.BytesIO(xlsx.content)).read("xl/sharedStrings.xml").decode()
    from api.export import Column, to_csv

    assert to_csv([{"cylinder": "=HYPERLINK(\"x\")"}], [Column("cylinder", "气瓶编码", "Cylinder", 15)]
                  ).decode("utf-8-sig").splitlines()[1] == "\"'=HYPERLINK(\"\"x\"\")\""
    colours = world.client.get("/v1/risk/enterprises", headers=world.auth("regulator")).json()
    station = next(c for c in colours if c["party"]["id"] == world.parties["station"])
    assert station["colour"] in ("yellow", "red") and station["reasons"]


def _tally(items: list[dict]) -> dict:
    """What ``GET /v1/findings/counts`` should answer for a list of findings."""
    from ledger.domain import FindingKind, Severity

    by = {"by_status": dict.fromkeys(("open", "dispatched", "handled", "closed", "resolved"), 0),
          "by_kind": dict.fromkeys((k.value for k in FindingKind), 0),
          "by_severity": dict.fromkeys((s.value for s in Severity), 0)}
    for item in items:
        for name, key in (("by_status", "status"), ("by_kind", "kind"), ("by_severity", "severity")):
            by[name][item[key]] += 1
    return {"total": len(items), **by}


def test_finding_counts_are_the_lists_length_under_every_filter(world: World) -> None:
    first, second = _overfill(world, world.cylinders[0]), _overfill(world, world.cylinders[1])
    assert world.client.post(f"/v1/findings/{second}/actions", headers=world.auth("regulator"),
                             json={"action": "close", "note": "station warned"}).status_code == 200
    foreign = world.client.post("/v1/events", json=event_body(world.foreign_cylinder), headers=world.auth("station"))
    assert foreign.status_code == 201
    kinds = {f["kind"] for f in world.client.get("/v1/findings", headers=world.auth("admin")).json()["items"]}
    assert len(kinds) >= 2  # the filters below select different rows
    station, cylinder = world.parties["station"], world.cylinders[0]
    for account, filters in [
            ("admin", {}), ("regulator", {"status": "open"}), ("regulator", {"status": "closed"}),
            ("inspector", {"kind": "overfill"}), ("inspector", {"kind": "overfill", "status": "open"}),
            ("regulator", {"party": station}), ("regulator", {"region": "330110"}),
            ("regulator", {"region": "330111"}), ("regulator", {"cylinder": cylinder.lower()}),
            *(("regulator", {"kind": kind}) for kind in kinds),
            ("station", {}), ("station", {"status": "open"}), ("shop", {})]:
        listed = world.client.get("/v1/findings", params={**filters, "limit": 1000}, headers=world.auth(account))
        counted = world.client.get("/v1/findings/counts", params=filters, headers=world.auth(account))
        assert listed.status_code == counted.status_code == 200, (account, filters, counted.text)
        assert counted.json() == _tally(listed.json()["items"]), (account, filters)
    assert world.client.get("/v1/findings/counts", headers=world.auth("admin")).json()["total"] >= 3
    assert world.client.get("/v1/findings/counts", params={"status": "open"},
                            headers=world.auth("station")).json()["by_kind"]["overfill"] == 1
    assert world.client.get("/v1/findings/counts", headers=world.auth("shop")).json()["total"] == 0
    # A party counts its own findings only, as it lists them; one finding is still read by its id.
    assert world.client.get("/v1/findings/counts", params={"party": station},
                            headers=world.auth("shop")).status_code == 403
    assert world.client.get("/v1/findings/counts").status_code == 401
    assert world.client.get(f"/v1/findings/{first}", headers=world.auth("admin")).json()["id"] == first
    # Bad filters: the list's own 422, naming the same field; nothing is written by asking.
    before = world.counts()
    for wrong in ({"kind": "nonsense"}, {"status": "shut"}, {"region": "33"}, {"party": "a\x00b"},
                  {"cylinder": "x" * 65}):
        refused = world.client.get("/v1/findings/counts", params=wrong, headers=world.auth("admin"))
        listed = world.client.get("/v1/findings", params=wrong, headers=world.auth("admin"))
        assert refused.status_code == listed.status_code == 422, (wrong, refused.text)
        assert refused.headers["content-type"] == "application/problem+json"
        assert refused.json()["errors"] == listed.json()["errors"], wrong
    assert world.counts() == before
    schema = world.client.get("/openapi.json").json()
    answer = schema["paths"]["/v1/findings/counts"]["get"]["responses"]["200"]["content"]["application/json"]
    assert answer["schema"]["$ref"].endswith("/FindingCounts")
    assert {"total", "by_status", "by_kind", "by_severity"} == \
        set(schema["components"]["schemas"]["FindingCounts"]["properties"])
