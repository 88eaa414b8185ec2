"""A story exported as EPCIS 2.0 and captured again tells the same story, with the same findings and answers.

Cylinders X live a whole round (fill, dispatch, receive, onward, deliver, collect, return, receive) through
``POST /v1/events``; their events are exported by ``GET /v1/cylinders/{id}/epcis``; the
same document, its EPCs turned to cylinders Y registered alike (and so its eventIDs computed anew), is
captured by each acting party's account in the order things happened. Y's histories, traces and
findings must be X's.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

from ledger.epcis import mapping
from tests.api.epcis_docs import wait_for

LD = {"Content-Type": "application/ld+json"}
TRIP = {"vehicle": "ZJ-A12345"}


def _story(world, code: str, start: datetime, delivered_kg: float) -> None:
    p = world.parties
    trip = {**TRIP, "driver": world.driver, "escort": world.escort}
    steps = [("station", "fill", None, {"net_kg": 14.6}), ("station", "dispatch", p["transporter"], trip),
             ("transporter", "receive", None, {}), ("transporter", "dispatch", p["shop"], trip),
             ("shop", "receive", None, {}), ("shop", "deliver", world.end_user, {"net_kg": delivered_kg}),
             ("shop", "collect", None, {}), ("shop", "return", p["transporter"], trip),
             ("transporter", "receive", None, {})]
    for n, (account, kind, to, data) in enumerate(steps):
        body = {"cylinder": code, "kind": kind, "occurred_at": (start + timedelta(minutes=30 * n)).isoformat(),
                "idempotency_key": f"story-{code}-{n}", "data": data, **({"to": to} if to else {})}
        answer = world.client.post("/v1/events", json=body, headers=world.auth(account))
        assert answer.status_code == 201, (kind, answer.text)


def _exported(world, codes: list[str]) -> list[dict]:
    """Every event of ``codes`` but their registration, from ``GET /v1/cylinders/{id}/epcis``, in the order
    they happened."""
    events = []
    for code in codes:
        answer = world.client.get(f"/v1/cylinders/{code}/epcis", headers=world.auth("admin"))
        assert answer.status_code == 200 and answer.headers["content-type"].startswith("application/ld+json")
        events += [e for e in answer.json()["epcisBody"]["eventList"] if e["bizStep"] != "commissioning"]
    return sorted(events, key=lambda event: (event["eventTime"], event["epcList"][0]))


def _capture_as_each_party(world, events: list[dict]) -> list[dict]:
    """Runs of consecutive events of one party, each captured by that party's account; the jobs."""
    accounts = {world.parties[name]: name for name in ("station", "transporter", "shop")}
    runs: list[tuple[str, list[dict]]] = []
    for event in events:
        party = event[f"{mapping.EXT_PREFIX}:party"]
        if runs and runs[-1][0] == party:
            runs[-1][1].append(event)
        else:
            runs.append((party, [event]))
    done = []
    for party, run in runs:
        body = {"@context": mapping.CONTEXT, "type": "EPCISDocument", "schemaVersion": "2.0",
                "creationDate": datetime.now(timezone.utc).isoformat(), "epcisBody": {"eventList": run}}
        account = accounts[party]
        answer = world.client.post("/v1/epcis/capture", content=json.dumps(body), headers={**world.auth(account), **LD})
        assert answer.status_code == 202, answer.text
        done.append(wait_for(world.client.get, answer.headers["location"], world.auth(account)))
    return done


def _story_of(world, code: str) -> list[tuple]:
    items = world.client.get(f"/v1/cylinders/{code}/events", headers=world.auth("admin")).json()["items"]
    return [(e["seq"], e["kind"], e["occurred_at"], e["party"], e["to"], e["person"], e["data"]) for e in items[1:]]


def _trace_of(world, code: str) -> dict:
    trace = world.client.get(f"/v1/cylinders/{code}/trace", headers=world.auth("admin")).json()
    last_fill = trace["origin"]["last_fill"]
    return {
        "owner": trace["origin"]["owner"],
        "last_fill": {k: v for k, v in last_fill.items() if k != "event"} if last_fill else None,
        # The first holding began at registration, which is not part of the captured story.
        "custody": [(c["holder"], c["from"] if n else None, c["until"], len(c["events"]))
                    for n, c in enumerate(trace["custody"])],
        "current": trace["current"], "responsible": trace["responsible"],
        "chain": (trace["chain"]["status"], trace["chain"]["length"]),
        "findings": sorted((f["kind"], f["severity"], f["party"], f["status"]) for f in trace["findings"]),
    }


def test_exported_stories_captured_into_other_cylinders_read_the_same(world):
    start = datetime.now(timezone.utc) - timedelta(hours=12)
    xs = [world.register(occurred_at=start - timedelta(days=2)) for _ in range(2)]
    ys = [world.register(occurred_at=start - timedelta(days=1)) for _ in xs]
    _story(world, xs[0], start, 14.5)
    _story(world, xs[1], start + timedelta(minutes=7), 11.0)  # short weight at the door: a finding
    exported = _exported(world, xs)
    assert len(exported) == 18
    renamed = json.loads(json.dumps(exported))
    for event in renamed:
        event.pop("eventID")  # its hash ID covers the EPC: computed again for the new one
        (epc,) = event["epcList"]
        event["epcList"] = [epc.replace(xs[0], ys[0]).replace(xs[1], ys[1])]
    jobs = _capture_as_each_party(world, renamed)
    assert all(job["success"] for job in jobs), [job["errors"] for job in jobs if not job["success"]]
    assert sum(job["eventCount"] for job in jobs) == 18
    for x, y in zip(xs, ys):
        assert _story_of(world, y) == _story_of(world, x)
        assert _trace_of(world, y) == _trace_of(world, x)
    assert any(f[0] == "short_weight" for f in _trace_of(world, ys[1])["findings"])
    # Captured again: every event a duplicate, nothing new.
    again = _capture_as_each_party(world, renamed)
    assert {event["status"] for job in again for event in job["events"]} == {"duplicate"}
