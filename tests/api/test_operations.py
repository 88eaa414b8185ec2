"""Operations: the access log holds no secrets or personal data, a bug answers a bare 500, OpenAPI is complete."""

from __future__ import annotations

import gc
import json
import logging
import os
import subprocess
import sys

import pytest

from api.errors import ledger_problem
from ledger.errors import (
    ChainBroken, CheckpointMismatch, Conflict, IdempotencyConflict, InvalidInput, NotFound, PermissionDenied,
    ProofInvalid, Rejected,
)

from .conftest import World, event_body


def test_access_log_has_no_token_body_or_personal_data(world: World, caplog: pytest.LogCaptureFixture) -> None:
    person = {"kind": "household", "name": "Chen Jie", "phone": "+86 138 0000 1234", "address": "8 Wensan Road"}
    with caplog.at_level(logging.INFO, logger="ledger.access"):
        ref = world.client.post("/v1/end-users", json=person, headers=world.auth("shop")).json()["ref"]
        world.client.get(f"/v1/end-users/{ref}?reason=case+2026-0042", headers=world.auth("inspector"))
        world.client.post("/v1/events", json=event_body(world.cylinders[0], kind="deliver", to=ref,
                                                        data={"net_kg": 14.2}), headers=world.auth("shop"))
        world.client.get("/v1/parties", headers={"Authorization": "Bearer cl_wrong-token-value"})
    lines = [record.getMessage() for record in caplog.records if record.name == "ledger.access"]
    assert len(lines) == 4
    records = [json.loads(line) for line in lines]
    assert [r["route"] for r in records] == ["/v1/end-users", "/v1/end-users/{ref}", "/v1/events", "/v1/parties"]
    assert [r["status"] for r in records] == [201, 200, 201, 401]
    assert records[0]["role"] == "shop" and records[1]["role"] == "inspector"
    everything = "\n".join(lines)
    secrets = [*world.tokens.values(), "cl_wrong-token-value", ref, "Chen", "138 0000", "Wensan", "net_kg", "Bearer"]
    assert not [secret for secret in secrets if secret in everything]


def test_a_bug_answers_a_bare_500_and_is_logged(world: World, caplog: pytest.LogCaptureFixture,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*_args, **_kwargs):
        raise RuntimeError("secret internals: /var/lib/ledger")

    monkeypatch.setattr(world.ledger, "party", broken)
    with caplog.at_level(logging.ERROR, logger="ledger.api"):
        response = world.client.get(f"/v1/parties/{world.parties['shop']}", headers=world.auth("shop"))
    assert response.status_code == 500
    assert response.headers["content-type"] == "application/problem+json"
    assert "secret internals" not in response.text
    assert any("secret internals" in (record.exc_text or "") for record in caplog.records)


def test_every_answer_carries_a_request_id(world: World) -> None:
    first = world.client.get("/healthz").headers["x-request-id"]
    second = world.client.get("/nowhere").headers["x-request-id"]
    assert len(first) == 16 and first != second


def test_request_ids_differ_across_many_requests(world: World) -> None:
    ids = {world.client.get("/healthz").headers["x-request-id"] for _ in range(50)}
    assert len(ids) == 50


SERVED = """
import gc
from fastapi.testclient import TestClient
from api.app import served_app
assert gc.get_freeze_count() == 0
with TestClient(served_app()) as client:
    assert client.get("/healthz").status_code == 200
    print(gc.get_freeze_count())
"""


def test_a_served_worker_freezes_its_start_up_heap(tmp_path) -> None:
    """What ledger serve runs in each worker keeps start-up's objects out of full collections."""
    env = {**os.environ, "LEDGER_DATABASE_URL": f"sqlite:///{tmp_path / 'ledger.db'}",
           "LEDGER_KEY_FILE": str(tmp_path / "log.key"), "LEDGER_LABEL_KEY_FILE": str(tmp_path / "label.key")}
    from ledger.keys import ensure_key
    from ledger.storage.db import Database

    ensure_key(tmp_path / "log.key")
    ensure_key(tmp_path / "label.key")
    database = Database(env["LEDGER_DATABASE_URL"])
    database.migrate()
    database.dispose()
    done = subprocess.run([sys.executable, "-c", SERVED], env=env, cwd=tmp_path, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    assert int(done.stdout.split()[-1]) > 10_000


def test_an_app_built_for_tests_freezes_nothing(world: World) -> None:
    assert gc.get_freeze_count() == 0
    assert world.client.get("/healthz").status_code == 200


def test_openapi_documents_every_error_as_a_problem(world: World) -> None:
    schema = world.client.get("/openapi.json").json()
    assert {"Problem", "EventIn", "EventOut", "Recorded", "BatchOut", "Registered", "CylinderOut", "PartyOut",
            "InclusionProof", "ConsistencyProof", "Bundle", "EndUserOut"} <= schema["components"]["schemas"].keys()
    api = {path: operations for path, operations in schema["paths"].items() if path.startswith("/v1/")}
    assert len(api) >= 25
    for path, operations in api.items():
        for method, operation in operations.items():
            answers = operation["responses"]
            errors = {code for code in answers if code[0] in "45"}
            assert "422" in errors or not operation.get("parameters") and method == "get", (method, path)
            for code in errors:
                assert set(answers[code]["content"]) == {"application/problem+json"}, (method, path, code)
            if operation.get("security"):
                assert {"401", "403"} <= errors, (method, path)
            if method == "post":
                assert {"400", "413", "415", "422"} <= errors, (method, path)
    assert schema["components"]["securitySchemes"]["HTTPBearer"]["scheme"] == "bearer"


@pytest.mark.parametrize(("error", "status", "slug"), [
    (InvalidInput("bad", field="x"), 422, "invalid-input"), (Rejected("no"), 422, "rejected"),
    (NotFound("none"), 404, "not-found"), (PermissionDenied("no"), 403, "forbidden"),
    (Conflict("taken"), 409, "conflict"), (IdempotencyConflict("again"), 409, "idempotency-conflict"),
    (ProofInvalid("does not verify"), 422, "proof-invalid"),
    (CheckpointMismatch("rewritten"), 500, "checkpoint-mismatch"),
    (ChainBroken("edited", cylinder="C", seq=3, kind="chain_tampered"), 422, "chain-broken"),
])
def test_each_ledger_error_maps_to_one_status(error, status: int, slug: str) -> None:
    body = ledger_problem(error)
    assert (body["status"], body["type"]) == (status, f"urn:cylinder-ledger:problem:{slug}")
    assert body["detail"].startswith(error.message)
    assert body.get("errors") == ([{"field": "x", "message": "bad"}] if error.field else None)


def test_what_requests_may_hold_at_once_fits_every_pool_the_app_builds(tmp_path) -> None:
    """No request waits on a pool: the bounds in api.deps, plus the process's own users, fit each engine."""
    import contextlib
    from concurrent.futures import ThreadPoolExecutor

    from api import deps
    from api.app import POOL_SIZE
    from ledger.storage.db import Database

    # A batch holds a read connection to check its items, then a write connection; proofs hold two.
    readers = deps.READERS + deps.AUTHENTICATING + 2 * deps.PROVING + deps.WRITERS + deps.BATCHES
    own = 3  # the single-event writer, the reviewer, the log checkpoint
    database = Database(f"sqlite:///{tmp_path / 'pool.db'}", pool_size=POOL_SIZE)
    try:
        for engine in (database.reader, database.writer):
            with contextlib.ExitStack() as held, ThreadPoolExecutor(1) as pool:
                connections = pool.submit(lambda: [held.enter_context(engine.connect()) for _ in range(readers + own)])
                assert len(connections.result(timeout=10)) == readers + own  # would wait 30 s on a smaller pool
    finally:
        database.dispose()


def test_health_names_the_database_that_answered(world: World) -> None:
    expected = "sqlite" if world.ledger.db.is_sqlite else "postgresql"
    answer = world.client.get("/healthz")
    assert answer.status_code == 200 and answer.json() == {"status": "ok", "database": expected}
