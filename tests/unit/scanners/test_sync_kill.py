"""A sync killed with SIGKILL at any moment, then restarted: every scan on the server exactly once."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ledger import tracecode
from scanners.outbox import Outbox

REPO = Path(__file__).resolve().parents[3]


def start_sync(server, outbox_path: Path, batch_size: int = 10) -> subprocess.Popen:
    command = [sys.executable, "-m", "scanners.cli", "sync", "--batch-size", str(batch_size), "--outbox", str(outbox_path)]
    env = {**os.environ, "LEDGER_SERVER": server.url, "LEDGER_TOKEN": server.token}
    return subprocess.Popen(command, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)


def wait_until(condition, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("timed out")
        time.sleep(0.005)


def fill(path: Path, count: int) -> list[str]:
    codes = [tracecode.generate() for _ in range(count)]
    with Outbox(path) as box:
        box.add(codes, "dispatch", to="TRUCK-3")
    return codes


def finish_and_check(server, path: Path, codes: list[str]) -> list[str]:
    server.stub.stall_after_commit = 0.0
    restarted = start_sync(server, path)
    output = restarted.communicate(timeout=60)[0].decode()
    assert restarted.returncode == 0, output
    with Outbox(path) as box:
        scans = box.list()
    assert len(server.stub.events) == len(codes)
    assert set(server.stub.created.values()) == {1}, "a scan was recorded twice"
    assert sorted(e["cylinder"] for e in server.stub.events.values()) == sorted(codes)
    assert {s.idempotency_key for s in scans} == set(server.stub.events)
    return [s.status for s in scans]


def test_killed_after_the_server_recorded_a_batch_then_restarted(tmp_path, ledger_server):
    path = tmp_path / "outbox.db"
    codes = fill(path, 100)
    ledger_server.stub.stall_after_commit = 0.5
    sync = start_sync(ledger_server, path)
    # The third batch is on the server; its answer is still on the way.
    wait_until(lambda: ledger_server.stub.committed >= 3)
    sync.send_signal(signal.SIGKILL)
    sync.wait(timeout=10)
    with Outbox(path) as box:
        assert len(box.list("recorded")) == 20 and len(box.list("pending")) == 80
    statuses = finish_and_check(ledger_server, path, codes)
    assert statuses == ["recorded"] * 20 + ["duplicate"] * 10 + ["recorded"] * 70


@pytest.mark.slow
def test_killed_at_random_moments_many_times(tmp_path, ledger_server):
    path = tmp_path / "outbox.db"
    codes = fill(path, 200)
    stub = ledger_server.stub
    # One kill surely between the server's commit and its answer (it stalls a second there), however
    # slowly a loaded machine starts the sync; then kills at random moments.
    stub.stall_after_commit = 1.0
    committed = stub.committed
    sync = start_sync(ledger_server, path, batch_size=7)
    deadline = time.monotonic() + 30
    while stub.committed == committed and time.monotonic() < deadline:
        time.sleep(0.01)
    sync.send_signal(signal.SIGKILL)
    sync.wait(timeout=10)
    stub.stall_after_commit = 0.05
    rng = random.Random(11)
    for _ in range(6):
        sync = start_sync(ledger_server, path, batch_size=7)
        time.sleep(rng.uniform(0.2, 0.8))
        sync.send_signal(signal.SIGKILL)
        sync.wait(timeout=10)
    statuses = finish_and_check(ledger_server, path, codes)
    assert set(statuses) <= {"recorded", "duplicate"}
    assert statuses.count("duplicate") >= 7, "no kill fell between the server's commit and its answer"
