"""EPCIS capture in `ledger serve` as it runs: SIGKILL mid-capture, a new process resumes, nothing twice."""

from __future__ import annotations

import json
import signal
import time

import httpx
import pytest
from sqlalchemy import text

from .epcis_docs import document, fills, wait_for
from .served import Server

pytestmark = pytest.mark.slow

EVENTS = 2000


def _fill_count(world) -> int:
    with world.ledger.db.reading() as connection:
        return connection.execute(text("SELECT COUNT(*) FROM events WHERE kind = 'fill'")).scalar_one()


def test_sigkill_mid_capture_then_a_new_process_finishes_the_job_recording_each_event_once(offline_world, tmp_path):
    world, url = offline_world
    cylinders = world.cylinders + [world.register() for _ in range(37)]
    body = json.dumps(document(fills(cylinders, world.parties["station"], EVENTS))).encode()
    headers = {**world.auth("station"), "Content-Type": "application/ld+json"}
    before = _fill_count(world)

    first = Server(url, tmp_path, workers=1)
    first.env["LEDGER_EPCIS_CAPTURE_LEASE"] = "2"  # a dead process's job is taken up 2 s after its last chunk
    with first:
        answer = httpx.post(f"{first.base}/v1/epcis/capture", content=body, headers=headers, timeout=60)
        assert answer.status_code == 202, answer.text
        location = answer.headers["location"]
        deadline = time.monotonic() + 120
        while True:  # kill once some chunks are in, while the rest are being captured
            job = httpx.get(first.base + location, headers=world.auth("station"), timeout=10).json()
            assert job["running"], "the job finished before the kill; make the document larger"
            if job["processed"] >= 500:
                break
            assert time.monotonic() < deadline
            time.sleep(0.05)
        first.process.send_signal(signal.SIGKILL)
        first.process.wait()
    in_between = _fill_count(world)
    assert before + 500 <= in_between < before + EVENTS

    with Server(url, tmp_path, workers=1) as second:
        second.env["LEDGER_EPCIS_CAPTURE_LEASE"] = "2"
        job = wait_for(lambda path, headers: httpx.get(second.base + path, headers=headers, timeout=10),
                       location, world.auth("station"), timeout=300)
        assert job["success"] is True and job["processed"] == job["eventCount"] == EVENTS
        assert job["attempts"] >= 2
        statuses = [event["status"] for event in job["events"]]
        assert set(statuses) <= {"created", "duplicate"} and len(statuses) == EVENTS
        assert _fill_count(world) == before + EVENTS  # each event exactly once
        recorded = [r["event"] for event in job["events"] for r in event["recorded"]]
        assert len(set(recorded)) == EVENTS
        # The same document sent again after the crash: nothing new.
        again = httpx.post(f"{second.base}/v1/epcis/capture", content=body, headers=headers, timeout=60)
        job = wait_for(lambda path, headers: httpx.get(second.base + path, headers=headers, timeout=10),
                       again.headers["location"], world.auth("station"), timeout=300)
        assert {event["status"] for event in job["events"]} == {"duplicate"}
        assert _fill_count(world) == before + EVENTS
    verified = second.verify()
    assert verified.returncode == 0, verified.stdout + verified.stderr
