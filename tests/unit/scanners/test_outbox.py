"""The outbox: a truckload is stored whole or not at all, durably, and edits follow the rules."""

from __future__ import annotations

import sqlite3
import uuid
from datetime import datetime, timedelta, timezone

import pytest

from ledger import tracecode
from ledger.domain import Location
from ledger.errors import InvalidInput
from scanners.errors import ScanNotEditable, ScanNotFound
from scanners.outbox import Outbox, Outcome
from scanners.payload import Scan, ScanSource

CODES = [tracecode.generate() for _ in range(5)]
BEIJING = timezone(timedelta(hours=8))


@pytest.fixture
def outbox(tmp_path):
    with Outbox(tmp_path / "outbox.db") as box:
        yield box


def test_a_truckload_is_stored_with_device_time_location_and_fresh_keys(outbox):
    moment = datetime(2026, 5, 1, 8, 30, 15, 250000, tzinfo=BEIJING)
    scans = [Scan(CODES[0], ScanSource.LABEL, True, "https://gas.example"), tracecode.printed(CODES[1]).lower()]
    stored = outbox.add(
        scans, "dispatch", to="SHOP-7", person="DRV-1", location=Location(30.25, 120.16),
        data={"vehicle": "浙A12345"}, occurred_at=moment,
    )
    assert [s.cylinder for s in stored] == CODES[:2]
    assert [s.source for s in stored] == ["label", "typed"] and [s.verified for s in stored] == [True, False]
    first = stored[0]
    assert first.occurred_at == "2026-05-01T08:30:15.250+08:00"
    assert first.status == "pending" and first.sends == 0
    assert len({s.idempotency_key for s in stored}) == 2
    assert str(uuid.UUID(first.idempotency_key)) == first.idempotency_key
    assert first.as_event() == {
        "cylinder": CODES[0], "kind": "dispatch", "occurred_at": "2026-05-01T08:30:15.250+08:00",
        "idempotency_key": first.idempotency_key, "to": "SHOP-7", "person": "DRV-1",
        "location": {"lat": 30.25, "lon": 120.16}, "data": {"vehicle": "浙A12345"},
    }


def test_the_default_time_is_now_with_the_device_offset(outbox):
    stored = outbox.add([CODES[0]], "receive")[0]
    moment = datetime.fromisoformat(stored.occurred_at)
    assert moment.utcoffset() is not None
    assert abs(moment - datetime.now(timezone.utc)) < timedelta(seconds=5)
    assert "to" not in stored.as_event() and "data" not in stored.as_event()


def test_one_bad_code_stores_none_of_the_truckload(outbox):
    bad = CODES[2][:-1] + ("0" if CODES[2][-1] != "0" else "1")
    with pytest.raises(tracecode.CheckCharacterMismatch):
        outbox.add([CODES[0], CODES[1], bad], "dispatch", to="SHOP-7")
    assert outbox.list() == []


def test_a_failure_inside_the_transaction_leaves_nothing(outbox, monkeypatch):
    # Two scans with the same key: the second insert fails after the first one ran.
    monkeypatch.setattr("scanners.outbox.uuid.uuid4", lambda: "same-key-for-both")
    with pytest.raises(sqlite3.IntegrityError):
        outbox.add(CODES[:2], "dispatch", to="SHOP-7")
    assert outbox.list() == []


def test_a_cylinder_scanned_twice_in_one_go_is_stored_once(outbox):
    stored = outbox.add([CODES[0], CODES[1], tracecode.printed(CODES[0])], "collect")
    assert [s.cylinder for s in stored] == CODES[:2]


@pytest.mark.parametrize(
    ("kwargs", "says"),
    [
        ({"kind": "register"}, "kind must be one of"),
        ({"kind": "teleport"}, "kind must be one of"),
        ({"kind": "dispatch", "to": "shop 7"}, "to must be"),
        ({"kind": "dispatch", "person": ""}, "person must be"),
        ({"kind": "fill", "data": {"x": float("nan")}}, "only text, numbers"),
        ({"kind": "fill", "data": {"note": "x" * 5000}}, "larger than 4096"),
        ({"kind": "fill", "occurred_at": datetime(2026, 5, 1, 8, 0)}, "UTC offset"),
    ],
)
def test_bad_intent_is_refused_and_stores_nothing(outbox, kwargs, says):
    with pytest.raises(InvalidInput, match=says):
        outbox.add([CODES[0]], **kwargs)
    assert outbox.list() == []


def test_an_empty_truckload_is_refused(outbox):
    with pytest.raises(InvalidInput, match="no cylinders"):
        outbox.add([], "dispatch")


def test_the_file_is_durable_wal_with_full_sync(outbox, tmp_path):
    assert outbox._db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert outbox._db.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
    outbox.add([CODES[0]], "receive")
    with Outbox(tmp_path / "outbox.db") as again:
        assert [s.cylinder for s in again.list()] == [CODES[0]]


def _answer(outbox, scan, status, reason=None, findings=()):
    outbox.record_outcomes([Outcome(scan.id, scan.idempotency_key, status, reason, list(findings))])
    return outbox.get(scan.id)


def test_outcomes_are_stored_and_listed_by_status(outbox):
    a, b, c = outbox.add(CODES[:3], "deliver", to="USER-9")
    _answer(outbox, a, "recorded", findings=[{"kind": "short_weight"}])
    _answer(outbox, b, "rejected", reason="cylinder is scrapped")
    assert outbox.get(a.id).findings == [{"kind": "short_weight"}]
    assert [s.id for s in outbox.list("rejected")] == [b.id]
    assert [s.id for s in outbox.list("pending")] == [c.id]
    assert outbox.get(b.id).reason == "cylinder is scrapped"
    with pytest.raises(InvalidInput):
        outbox.list("lost")


def test_an_answer_never_overwrites_another_answer_or_a_new_key(outbox):
    scan = outbox.add([CODES[0]], "receive")[0]
    assert _answer(outbox, scan, "recorded").status == "recorded"
    assert _answer(outbox, scan, "rejected", reason="late").status == "recorded"
    other = outbox.add([CODES[1]], "receive")[0]
    _answer(outbox, other, "rejected", reason="unknown party")
    fixed = outbox.fix(other.id, kind="collect")
    # A late answer for the old key must not touch the re-queued scan.
    outbox.record_outcomes([Outcome(other.id, other.idempotency_key, "recorded")])
    assert outbox.get(other.id).status == "pending" and fixed.idempotency_key != other.idempotency_key


def test_a_rejected_scan_is_fixed_with_a_new_key(outbox):
    scan = outbox.add([CODES[0]], "dispatch", to="SHOP-1", data={"vehicle": "A1"})[0]
    _answer(outbox, scan, "rejected", reason="unlicensed shop")
    fixed = outbox.fix(scan.id, to="SHOP-2", cylinder=tracecode.printed(CODES[3]))
    assert fixed.status == "pending" and fixed.reason is None and fixed.sends == 0
    assert fixed.idempotency_key != scan.idempotency_key
    assert (fixed.cylinder, fixed.to, fixed.data, fixed.kind) == (CODES[3], "SHOP-2", {"vehicle": "A1"}, "dispatch")
    with pytest.raises(tracecode.TraceCodeError):
        outbox.fix(scan.id, cylinder="BAD")


def test_a_sent_unanswered_or_recorded_scan_cannot_be_fixed_or_dropped(outbox):
    sent, recorded = outbox.add(CODES[:2], "receive")
    assert [s.id for s in outbox.claim(1)] == [sent.id]
    _answer(outbox, recorded, "recorded")
    for scan_id, says in ((sent.id, "run sync first"), (recorded.id, "already recorded")):
        with pytest.raises(ScanNotEditable, match=says):
            outbox.fix(scan_id, kind="collect")
        with pytest.raises(ScanNotEditable, match=says):
            outbox.drop(scan_id)
    assert len(outbox.list()) == 2


def test_a_never_sent_or_rejected_scan_can_be_dropped(outbox):
    fresh, rejected = outbox.add(CODES[:2], "receive")
    _answer(outbox, rejected, "rejected", reason="not yours")
    assert outbox.drop(fresh.id).cylinder == CODES[0]
    assert outbox.drop(rejected.id).cylinder == CODES[1]
    assert outbox.list() == []
    with pytest.raises(ScanNotFound, match="no scan"):
        outbox.drop(fresh.id)


def test_claim_marks_the_batch_sent_in_the_same_step(outbox):
    first, second, third = outbox.add(CODES[:3], "receive")
    claimed = outbox.claim(2)
    assert [s.id for s in claimed] == [first.id, second.id] and {s.sends for s in claimed} == {1}
    # A fix can no longer slip in between choosing a batch and sending it.
    with pytest.raises(ScanNotEditable):
        outbox.fix(first.id, kind="collect")
    assert [s.id for s in outbox.claim(5, after=second.id)] == [third.id]
    assert outbox.get(third.id).sends == 1
