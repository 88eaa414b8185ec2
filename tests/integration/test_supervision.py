"""Custody rules wired into the ledger: findings stored and resolved, trace, closed loop, risk lists."""

from __future__ import annotations

import uuid
from datetime import date, timedelta

import pytest

from ledger.domain import EventKind, NewEvent, PartyKind, Role
from ledger.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from ledger.service import Actor
from tests.conftest import NOW, build_town, fill, register

REGULATOR = Actor(Role.REGULATOR, None, "Officer Zhao")


def event(cylinder, kind, party, at, **extra):
    return NewEvent(cylinder, kind, at, party, str(uuid.uuid4()), **extra)


def trip(town, cylinder, start):
    """A legal run: fill, hand to the transporter, it confirms."""
    return [
        fill(cylinder, town, start),
        event(cylinder, EventKind.DISPATCH, town.station, start + timedelta(minutes=30), to=town.transporter,
              data={"vehicle": "浙A12345", "driver": town.driver, "escort": town.escort}),
        event(cylinder, EventKind.RECEIVE, town.transporter, start + timedelta(minutes=35)),
    ]


def record(ledger, town, items, now):
    by_party = {town.station: town.at_station, town.transporter: Actor(Role.TRANSPORTER, town.transporter, "driver"),
                town.shop: Actor(Role.SHOP, town.shop, "shop")}
    outcomes = []
    for item in items:
        with ledger.db.writing() as c:
            outcomes += ledger.record_batch(c, by_party[item.party], [item], now=now)
    return outcomes


def test_a_clean_trip_raises_nothing_and_the_trace_answers_the_three_questions(ledger):
    town = build_town(ledger)
    (a,) = register(ledger, town)
    outcomes = record(ledger, town, trip(town, a, NOW + timedelta(hours=1)), NOW + timedelta(hours=2))
    assert [o.status for o in outcomes] == ["created"] * 3 and all(not o.findings for o in outcomes)
    with ledger.db.reading() as c:
        answer = ledger.trace(c, a)
        who = ledger.responsible_at(c, a, NOW + timedelta(hours=1, minutes=10))
        row = ledger.cylinder(c, a)
    assert answer["origin"]["owner"]["id"] == town.company
    assert answer["origin"]["last_fill"]["net_kg"] == 14.5 and answer["origin"]["last_fill"]["station"]["id"] == town.station
    assert answer["current"]["holder"]["id"] == town.transporter and answer["current"]["state"] == "in_transit"
    assert answer["responsible"]["first_responsible"]["id"] == town.company
    assert answer["chain"] == {"status": "intact", "length": 4, "head": answer["chain"]["head"], "breaks": [],
                               "events": answer["chain"]["events"]}
    assert [e["seq"] for e in answer["chain"]["events"]] == [0, 1, 2, 3]
    assert answer["findings"] == []
    assert who["party"]["id"] in (town.company, town.station)
    assert row.holder == town.transporter and row.chain_length == 4


def test_a_receipt_nobody_dispatched_is_a_custody_jump_stored_once(ledger):
    town = build_town(ledger)
    (a,) = register(ledger, town)
    jump = event(a, EventKind.RECEIVE, town.shop, NOW + timedelta(hours=1))
    (outcome,) = record(ledger, town, [jump], NOW + timedelta(hours=2))
    assert [f["kind"] for f in outcome.findings] == ["custody_jump"]
    # the shop, now the holder, hands it on legally: the jump is judged again, not stored twice
    record(ledger, town, [event(a, EventKind.RETURN, town.shop, NOW + timedelta(hours=3), to=town.transporter)],
           NOW + timedelta(hours=4))
    with ledger.db.reading() as c:
        page = ledger.findings(c, cylinder=a)
    assert [(f["kind"], f["status"], f["party"]) for f in page["items"]] == [("custody_jump", "open", town.shop)]
    assert page["items"][0]["history"][0]["action"] == "detect"


def unconfirmed_handover(ledger, town, cylinder, start):
    """A trip whose receipt has not arrived, swept a day later: (the trip's events, the one finding)."""
    items = trip(town, cylinder, start)
    record(ledger, town, items[:2], start + timedelta(hours=1))
    with ledger.db.writing() as c:
        ledger.sweep(c, now=start + timedelta(hours=30))
        (finding,) = ledger.findings(c, cylinder=cylinder)["items"]
    return items, finding


def test_a_late_receipt_resolves_the_unconfirmed_handover_with_a_note(ledger):
    town = build_town(ledger)
    (a,) = register(ledger, town)
    start = NOW + timedelta(hours=1)
    items, finding = unconfirmed_handover(ledger, town, a, start)
    assert finding["kind"] == "handover_unconfirmed" and finding["status"] == "open"
    (late,) = record(ledger, town, items[2:], start + timedelta(hours=31))  # the driver synced at last
    with ledger.db.reading() as c:
        resolved = ledger.finding(c, finding["id"])
    assert resolved["status"] == "resolved" and resolved["resolved_by"] == late.event.id
    assert "explained by receive" in resolved["history"][-1]["note"] and "recorded late" in resolved["history"][-1]["note"]


def test_an_unregistered_code_is_refused_and_becomes_a_finding(ledger):
    from ledger import tracecode
    town = build_town(ledger)
    code = tracecode.generate()
    (outcome,) = record(ledger, town, [fill(code, town, NOW + timedelta(hours=1))], NOW + timedelta(hours=2))
    assert outcome.status == "rejected" and isinstance(outcome.error, NotFound)
    with ledger.db.reading() as c:
        page = ledger.risk_cylinders(c, reason="unregistered")
        assert c.exec_driver_sql("SELECT COUNT(*) FROM events").scalar_one() == 0
    assert [item["cylinder"] for item in page["items"]] == [code]


def test_the_closed_loop_keeps_every_step(ledger):
    town = build_town(ledger)
    (a,) = register(ledger, town)
    record(ledger, town, [event(a, EventKind.RECEIVE, town.shop, NOW + timedelta(hours=1))], NOW + timedelta(hours=2))
    with ledger.db.reading() as c:
        (finding,) = ledger.findings(c, cylinder=a)["items"]
    with ledger.db.writing() as c:
        regulator = ledger.create_party(c, kind=PartyKind.REGULATOR, name="City Bureau", region="330110", now=NOW)
        token = ledger.create_account(c, role=Role.INSPECTOR, party=regulator.id, name="Inspector Qian", now=NOW)
        inspector = ledger.authenticate(c, token)
    steps = [(REGULATOR, "dispatch", inspector.account), (REGULATOR, "supervise", None), (inspector, "handle", None),
             (REGULATOR, "close", None), (REGULATOR, "reopen", None)]
    for actor, action, assignee in steps:
        with ledger.db.writing() as c:
            result = ledger.finding_action(c, actor, finding["id"], action=action, note=f"{action} done",
                                           assignee=assignee, now=NOW + timedelta(days=1))
    assert [h["action"] for h in result["history"]] == ["detect", "dispatch", "supervise", "handle", "close", "reopen"]
    assert [h["status"] for h in result["history"]] == ["open", "dispatched", "dispatched", "handled", "closed", "open"]
    assert result["history"][2]["actor"] == "Officer Zhao" and result["assignee"] == str(inspector.account)
    with pytest.raises(Conflict):
        with ledger.db.writing() as c:
            ledger.finding_action(c, inspector, finding["id"], action="handle", note="x", now=NOW)
    with pytest.raises(PermissionDenied):
        with ledger.db.writing() as c:
            ledger.finding_action(c, Actor(Role.SHOP, town.shop, "shop"), finding["id"], action="close", note="x", now=NOW)
    with pytest.raises(InvalidInput):
        with ledger.db.writing() as c:
            ledger.finding_action(c, REGULATOR, finding["id"], action="dispatch", note="x", now=NOW)


def test_risk_lists_and_enterprise_colours(ledger):
    town = build_town(ledger)
    a, b = register(ledger, town, 2)
    record(ledger, town, [event(b, EventKind.RECEIVE, town.shop, NOW + timedelta(hours=1))], NOW + timedelta(hours=2))
    with ledger.db.reading() as c:
        overdue = ledger.risk_cylinders(c, reason="overdue_inspection", today=date(2028, 6, 1))
        soon = ledger.risk_cylinders(c, reason="inspection_due_soon", today=date(2028, 2, 20))
        clean = ledger.risk_cylinders(c, reason="overdue_inspection", today=date(2027, 1, 1))
        flagged = ledger.risk_cylinders(c, reason="open_findings")
        first = ledger.risk_cylinders(c, reason="overdue_inspection", today=date(2028, 6, 1), limit=1)
        second = ledger.risk_cylinders(c, reason="overdue_inspection", today=date(2028, 6, 1), limit=1,
                                       cursor=first["next_cursor"])
        colours = {e["party"]["id"]: e for e in ledger.risk_enterprises(c, today=date(2027, 1, 1))}
    assert {i["cylinder"] for i in overdue["items"]} == {a, b} and len(soon["items"]) == 2 and clean["items"] == []
    assert [i["cylinder"] for i in flagged["items"]] == [b]
    assert first["next_cursor"] and second["next_cursor"] is None
    assert {first["items"][0]["cylinder"], second["items"][0]["cylinder"]} == {a, b}
    assert colours[town.shop]["colour"] in ("yellow", "red") and colours[town.transporter]["colour"] == "green"
    with pytest.raises(InvalidInput):
        with ledger.db.reading() as c:
            ledger.risk_cylinders(c, reason="overdue_inspection", cursor="not-a-cursor")


def test_a_sweep_locks_its_cylinders_before_reading_them(ledger, monkeypatch):
    """PostgreSQL reads each statement's own snapshot: unlocked, a reviewer could store a newer judgement
    between the sweep's reading and its storing, and the sweep would write its older one over it."""
    if ledger.db.is_sqlite:
        pytest.skip("SQLite lets one writer in at a time: a sweep's transaction already excludes the reviewers")
    town = build_town(ledger)
    (a,) = register(ledger, town)
    start = NOW + timedelta(hours=1)
    record(ledger, town, trip(town, a, start)[:2], start + timedelta(hours=1))
    supervisor, seen = ledger.supervisor, []
    real = supervisor._assess

    def assess_while_another_tries(connection, cylinders, now):
        with ledger.db.writer.connect() as other:  # a reviewer's write transaction, not willing to wait
            other.exec_driver_sql("SET lock_timeout = '100ms'")
            try:
                other.exec_driver_sql("SELECT id FROM cylinders WHERE id = %s FOR UPDATE", (a,)).fetchall()
                seen.append("free")
            except Exception:  # noqa: BLE001 - the lock timeout is what is looked for
                seen.append("locked")
            other.rollback()
        return real(connection, cylinders, now)

    monkeypatch.setattr(supervisor, "_assess", assess_while_another_tries)
    with ledger.db.writing() as c:
        assert ledger.sweep(c, now=start + timedelta(hours=30)) == 1
    assert seen == ["locked"]
