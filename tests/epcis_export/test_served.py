"""The export as a user reaches it: `ledger serve` in its own process, a regulator's token, real HTTP;
then the downloaded document checked by the schema and GS1's reference hash generator."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from epcis_event_hash_generator.hash_generator import epcis_hashes_from_events
from epcis_event_hash_generator.json_to_py import event_list_from_epcis_document_json

from tests.api.served import free_port

from .conftest import schema_errors

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_a_served_ledger_exports_over_http(village):
    port = free_port()
    env = {**os.environ, **village.env(), "PYTHONPATH": str(ROOT), "LEDGER_LOG_ORIGIN": "test.cylinder-ledger/log"}
    log = village.folder / f"serve-{port}.log"
    with log.open("wb") as out:
        server = subprocess.Popen([sys.executable, "-m", "tools.cli", "serve", "--db", village.url,
                                   "--host", "127.0.0.1", "--port", str(port), "--workers", "1"],
                                  cwd=village.folder, env=env, stdout=out, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            assert server.poll() is None, log.read_text()[-2000:]
            try:
                if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                assert time.monotonic() < deadline, log.read_text()[-2000:]
                time.sleep(0.2)
        headers = village.auth("regulator")
        code = village.events()[-1].cylinder
        answer = httpx.get(f"{base}/v1/cylinders/{code}/epcis", headers=headers, timeout=30)
        assert answer.status_code == 200 and answer.headers["content-type"] == "application/ld+json"
        document = answer.json()
        assert schema_errors(document) == []
        events = document["epcisBody"]["eventList"]
        assert epcis_hashes_from_events(event_list_from_epcis_document_json(document)) == [e["eventID"] for e in events]
        page = httpx.get(f"{base}/v1/epcis/events", params={"MATCH_anyEPC": f"urn:x-cylinder-ledger:cyl:{code}",
                                                            "perPage": 2}, headers=headers, timeout=30)
        assert page.status_code == 200 and 'rel="next"' in page.headers["link"]
        follow = httpx.get(page.headers["link"].split(">")[0][1:], headers=headers, timeout=30)
        got = [e["eventID"] for p in (page, follow) for e in p.json()["epcisBody"]["queryResults"]["resultsBody"]["eventList"]]
        assert got == [e["eventID"] for e in events][:len(got)] and len(got) == min(4, len(events))
        assert httpx.get(f"{base}/v1/cylinders/{code}/epcis", timeout=30).status_code == 401
    finally:
        server.terminate()
        server.wait(30)
