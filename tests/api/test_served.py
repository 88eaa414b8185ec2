"""`ledger serve` as it runs in production: many clients at once, several workers, a SIGTERM mid-write."""

from __future__ import annotations

import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone

import httpx
import pytest
from sqlalchemy import bindparam, text

from ledger.storage import findings as finding_rows

from .conftest import World, event_body
from .served import Server

pytestmark = pytest.mark.slow

CLIENTS = 50
EVENTS_PER_CLIENT = 10
COUNT_KEYS = text("SELECT idempotency_key, COUNT(*) FROM events WHERE idempotency_key IN :keys"
                  " GROUP BY idempotency_key").bindparams(bindparam("keys", expanding=True))


def _stored_keys(world: World, keys: list[str]) -> dict[str, int]:
    """How many times each key is stored."""
    found: dict[str, int] = {}
    with world.ledger.db.reading() as connection:
        for start in range(0, len(keys), 500):
            rows = connection.execute(COUNT_KEYS, {"keys": keys[start:start + 500]})
            found.update({key: count for key, count in rows})
    return found


def test_fifty_clients_on_two_workers_record_every_event_exactly_once(offline_world, tmp_path) -> None:
    world, url = offline_world
    cylinders = world.cylinders + [world.register() for _ in range(2)]  # five chains, all contended
    accepted: dict[str, int] = {}
    lock = threading.Lock()

    def client(number: int) -> list[int]:
        # Every fifth client is a shop receiving cylinders nobody dispatched to it: custody jumps, which
        # the station's next fill of that cylinder is another of, judged by whichever worker gets there.
        account, kind = ("shop", "receive") if number % 5 == 0 else ("station", "fill")
        statuses = []
        headers = {"Authorization": f"Bearer {world.tokens[account]}"}
        with httpx.Client(base_url=server.base, headers=headers, timeout=60) as http:
            for n in range(EVENTS_PER_CLIENT):
                body = event_body(cylinders[(number + n) % len(cylinders)], kind)
                response = http.post("/v1/events", json=body)
                statuses.append(response.status_code)
                if response.status_code == 201:
                    with lock:
                        accepted[body["idempotency_key"]] = response.json()["event"]["id"]
                if n == 0:  # a driver's app resends after a lost answer: same event, not a second one
                    retry = http.post("/v1/events", json=body)
                    statuses.append(retry.status_code)
                    assert retry.json()["event"]["id"] == response.json()["event"]["id"]
        return statuses

    with Server(url, tmp_path, workers=2) as server:
        with ThreadPoolExecutor(CLIENTS) as pool:
            statuses = [s for batch in pool.map(client, range(CLIENTS)) for s in batch]
    assert statuses.count(201) == CLIENTS * EVENTS_PER_CLIENT and statuses.count(200) == CLIENTS
    assert len(accepted) == CLIENTS * EVENTS_PER_CLIENT and len(set(accepted.values())) == len(accepted)
    assert _stored_keys(world, list(accepted)) == {key: 1 for key in accepted}
    assert world.counts()["events"] == len(cylinders) + 1 + len(accepted)  # + the other company's cylinder
    audit = server.verify()
    assert audit.returncode == 0, audit.stdout + audit.stderr
    assert f"intact: {len(cylinders) + 1 + len(accepted)} events checked" in audit.stdout
    # Two workers judged the same chains in pieces, racing: what they stored is what judging each whole gives.
    with world.ledger.db.reading() as connection:
        whole = world.ledger.supervisor._assess_whole(connection, cylinders, datetime.now(timezone.utc))
        stored = finding_rows.stored_for(connection, cylinders)
        for cylinder in cylinders:
            expected = whole[cylinder].judgement
            assert {key for key, status, _ in stored[cylinder] if status == "open"} == {
                finding.key for finding in expected.findings}
            row = world.ledger.cylinder(connection, cylinder)
            assert (row.holder, row.state, row.chain_length) == (
                expected.trace.current.holder, expected.trace.current.state.value, expected.length)
    assert sum(len(rows) for rows in stored.values()) > 0  # the story did raise findings


def test_sigterm_mid_batch_writes_each_batch_wholly_or_not_at_all(offline_world, tmp_path) -> None:
    world, url = offline_world
    token = world.tokens["station"]
    batches = [[event_body(world.cylinders[n % 3], idempotency_key=f"b{b}-{n}-{uuid.uuid4().hex[:8]}")
                for n in range(1000)] for b in range(8)]
    answers: dict[int, tuple[int | None, float]] = {}

    def send(index: int) -> None:
        try:
            response = httpx.post(f"{server.base}/v1/events/batch", json={"events": batches[index]},
                                  headers={"Authorization": f"Bearer {token}"}, timeout=60)
            answers[index] = (response.status_code, time.monotonic())
        except httpx.TransportError:
            answers[index] = (None, time.monotonic())

    with Server(url, tmp_path, workers=2) as server:
        threads = [threading.Thread(target=send, args=(index,)) for index in range(len(batches))]
        for thread in threads:
            thread.start()
        # The writers take turns, so once the first batch is answered the others are still being written:
        # the signal lands mid-write whatever the machine's speed.
        deadline = time.monotonic() + 60
        while not answers and time.monotonic() < deadline:
            time.sleep(0.005)
        signalled = time.monotonic()
        server.terminate()
        for thread in threads:
            thread.join(60)
        assert server.stop() == 0
    assert any(at > signalled and status == 200 for status, at in answers.values()), answers  # drained, not cut
    for index, batch in enumerate(batches):
        stored = _stored_keys(world, [item["idempotency_key"] for item in batch])
        assert len(stored) in (0, 1000) and set(stored.values()) <= {1}
        if answers[index][0] == 200:
            assert len(stored) == 1000
    assert server.verify().returncode == 0
