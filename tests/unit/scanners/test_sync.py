"""Sync against a real HTTP server on 127.0.0.1: retries, outages and answers, never a scan twice."""

from __future__ import annotations

import pytest

from ledger import tracecode
from scanners.errors import ServerRefusedToken, SyncFailed
from scanners.outbox import Outbox
from scanners.sync import RetryPolicy, sync

FAST = RetryPolicy(attempts=4, base=0.01, cap=0.05, timeout=5)


@pytest.fixture
def outbox(tmp_path):
    with Outbox(tmp_path / "outbox.db") as box:
        yield box


def load(outbox: Outbox, count: int, kind: str = "dispatch") -> list[str]:
    codes = [tracecode.generate() for _ in range(count)]
    outbox.add(codes, kind, to="SHOP-7")
    return codes


def assert_each_once(server, outbox, count):
    assert len(server.stub.events) == count
    assert set(server.stub.created.values()) == {1}
    assert {s.idempotency_key for s in outbox.list()} == set(server.stub.events)
    assert outbox.list("pending") == []


def test_a_truckload_goes_in_batches_and_is_recorded(outbox, ledger_server):
    load(outbox, 450)
    report = sync(outbox, ledger_server.url, ledger_server.token, retry=FAST)
    assert report.complete and len(report.answered) == 450
    assert ledger_server.stub.batches == [200, 200, 50]
    assert {s.status for s in outbox.list()} == {"recorded"}
    assert_each_once(ledger_server, outbox, 450)
    first = outbox.list()[0]
    assert first.event == {"cylinder": first.cylinder, "id": first.idempotency_key}


def test_batch_size_is_bounded_by_the_server_limit(outbox, ledger_server):
    load(outbox, 3)
    with pytest.raises(ValueError):
        sync(outbox, ledger_server.url, ledger_server.token, batch_size=1001)
    sync(outbox, ledger_server.url, ledger_server.token, batch_size=2, retry=FAST)
    assert ledger_server.stub.batches == [2, 1]


def test_an_unreachable_server_keeps_every_scan_then_a_later_sync_sends_them(outbox, unused_port, start_server):
    load(outbox, 30)
    waits: list[float] = []
    report = sync(outbox, f"http://127.0.0.1:{unused_port}", "any-token", retry=FAST, sleep=waits.append)
    assert isinstance(report.stopped, SyncFailed) and "cannot reach the server" in report.stopped.message
    assert report.still_pending == 30 and len(waits) == FAST.attempts - 1
    assert all(0 <= wait <= FAST.cap for wait in waits)
    assert {s.sends for s in outbox.list()} == {1}
    server = start_server(unused_port)
    assert sync(outbox, server.url, server.token, retry=FAST).complete
    assert_each_once(server, outbox, 30)


def test_5xx_and_429_are_retried_with_growing_waits(outbox, ledger_server):
    load(outbox, 5)
    ledger_server.stub.fail_next = [503, 500, 429]
    ledger_server.stub.retry_after = "0.04"
    waits: list[float] = []
    policy = RetryPolicy(attempts=5, base=0.01, cap=1.0)
    assert sync(outbox, ledger_server.url, ledger_server.token, retry=policy, sleep=waits.append).complete
    assert len(ledger_server.stub.batches) == 4
    assert waits[0] <= 0.01 and waits[1] <= 0.02 and waits[2] >= 0.04  # the 429's Retry-After wins
    assert_each_once(ledger_server, outbox, 5)


def test_too_many_failures_stop_the_sync_and_keep_the_scans(outbox, ledger_server):
    load(outbox, 5)
    ledger_server.stub.fail_next = [503] * 10
    report = sync(outbox, ledger_server.url, ledger_server.token, retry=FAST, sleep=lambda _: None)
    assert "HTTP 503" in report.stopped.message and report.still_pending == 5
    assert ledger_server.stub.events == {}


def test_a_connection_dropped_after_the_server_recorded_is_resent_harmlessly(outbox, ledger_server):
    load(outbox, 20)
    ledger_server.stub.drop_after_commit = 1
    report = sync(outbox, ledger_server.url, ledger_server.token, batch_size=10, retry=FAST)
    assert report.complete
    statuses = [s.status for s in outbox.list()]
    assert statuses == ["duplicate"] * 10 + ["recorded"] * 10
    assert_each_once(ledger_server, outbox, 20)


def test_a_connection_dropped_before_the_server_recorded_is_resent(outbox, ledger_server):
    load(outbox, 10)
    ledger_server.stub.drop_before_commit = 2
    assert sync(outbox, ledger_server.url, ledger_server.token, retry=FAST).complete
    assert {s.status for s in outbox.list()} == {"recorded"}
    assert_each_once(ledger_server, outbox, 10)


def test_a_refused_token_stops_at_once(outbox, ledger_server):
    load(outbox, 3)
    report = sync(outbox, ledger_server.url, "stolen", retry=FAST)
    assert isinstance(report.stopped, ServerRefusedToken) and "unknown token" in report.stopped.message
    assert ledger_server.stub.batches == [3] and report.still_pending == 3


def test_rejected_scans_are_kept_with_the_reason_fixed_and_sent_again(outbox, ledger_server):
    good, bad = load(outbox, 2)
    ledger_server.stub.unregistered.add(bad)
    sync(outbox, ledger_server.url, ledger_server.token, retry=FAST)
    rejected = outbox.list("rejected")
    assert [s.cylinder for s in rejected] == [bad]
    assert rejected[0].reason == f"cylinder {bad} is not registered"
    right = tracecode.generate()
    outbox.fix(rejected[0].id, cylinder=right)
    assert sync(outbox, ledger_server.url, ledger_server.token, retry=FAST).complete
    assert sorted(event["cylinder"] for event in ledger_server.stub.events.values()) == sorted([good, right])


def test_findings_are_stored_with_the_outcome(outbox, ledger_server):
    overdue, fine = load(outbox, 2, kind="deliver")
    finding = {"id": 9, "kind": "filled_overdue_inspection", "severity": "high"}
    ledger_server.stub.findings[overdue] = [finding]
    sync(outbox, ledger_server.url, ledger_server.token, retry=FAST)
    by_code = {s.cylinder: s for s in outbox.list()}
    assert by_code[overdue].findings == [finding] and by_code[fine].findings == []


def test_a_malformed_answer_stops_without_recording_outcomes(outbox, ledger_server, monkeypatch):
    load(outbox, 2)
    monkeypatch.setattr(type(ledger_server.stub), "answer", lambda self, body: "nonsense")
    report = sync(outbox, ledger_server.url, ledger_server.token, retry=FAST)
    assert report.answered == [] and report.still_pending == 2


def test_results_with_unknown_indexes_leave_scans_pending(outbox, ledger_server, monkeypatch):
    load(outbox, 3)
    real = type(ledger_server.stub).answer

    def partial(self, body):
        results = real(self, body)
        return [results[0], {"index": 7, "status": "created"}, {"index": 1, "status": "lost"}, "junk"]

    monkeypatch.setattr(type(ledger_server.stub), "answer", partial)
    report = sync(outbox, ledger_server.url, ledger_server.token, retry=FAST)
    assert [s.status for s in outbox.list()] == ["recorded", "pending", "pending"]
    assert report.still_pending == 2 and report.stopped is None and not report.complete
