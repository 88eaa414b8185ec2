"""The auditor of a real ``ledger serve`` process: on its interval it finds what was planted in the database."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from ledger.domain import Role
from tests.api.served import Server, free_port
from tests.integration.test_audit import (BANNER, DISPUTED, INTACT, build_city, edit_due_date, ledger_size,
                                          rewrite_consistently)

ROOT = Path(__file__).resolve().parents[2]


def poll(condition, timeout: float = 60.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError("the served auditor never got there")


@pytest.mark.slow
def test_a_served_ledger_audits_on_its_interval_and_says_disputed(ledger, tmp_path):
    town, codes = build_city(ledger)
    with ledger.db.writing() as c:
        token = ledger.create_account(c, role=Role.REGULATOR, party=None, name="auditor test")
    size = ledger_size(ledger)
    settings = ledger.settings
    port = free_port()
    env = {**os.environ, "PYTHONPATH": str(ROOT), "LEDGER_KEY_FILE": str(settings.key_file),
           "LEDGER_LABEL_KEY_FILE": str(settings.label_key_file), "LEDGER_LOG_ORIGIN": settings.log_origin,
           "LEDGER_BASE_URL": settings.base_url, "LEDGER_CHECKPOINT_INTERVAL": "0.5"}
    log = (tmp_path / "serve.log").open("wb")
    server = subprocess.Popen([sys.executable, "-m", "tools.cli", "serve", "--db", settings.database_url,
                               "--host", "127.0.0.1", "--port", str(port)], cwd=tmp_path, env=env, stdout=log,
                              stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        # Nobody asked for a checkpoint: the auditor has one signed, then audits up to it, and finds nothing.
        status = poll(lambda: _status(base, size))
        assert status["status"] == "consistent" and status["disputed_cylinders"] == 0
        assert INTACT in httpx.get(f"{base}/c/{codes[3]}").text
        victim, edited = rewrite_consistently(ledger, codes), edit_due_date(ledger, codes)
        poll(lambda: httpx.get(f"{base}/v1/audit").json()["status"] == "disputed")
        poll(lambda: httpx.get(f"{base}/v1/audit").json()["disputed_cylinders"] >= 2)
        for cylinder in (victim, edited):
            page = httpx.get(f"{base}/c/{cylinder}").text
            assert DISPUTED in page and INTACT not in page
            trace = httpx.get(f"{base}/v1/cylinders/{cylinder}/trace", headers={"Authorization": f"Bearer {token}"})
            assert trace.json()["chain"]["status"] == "broken"
        poll(lambda: BANNER in httpx.get(f"{base}/").text)
    finally:
        server.terminate()
        server.wait(30)
        log.close()
    assert "audit: chain_tampered" in (tmp_path / "serve.log").read_text()


def _status(base: str, size: int):
    try:
        answer = httpx.get(f"{base}/v1/audit", timeout=2).json()
    except httpx.TransportError:
        return None
    return answer if answer["audited_size"] == size else None


def _children(pid: int) -> dict[int, str]:
    """The processes ``pid`` started, with their command lines."""
    found = {}
    for entry in Path("/proc").iterdir():
        try:
            if entry.name.isdigit() and int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1]) == pid:
                found[int(entry.name)] = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
    return found


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads the process table from /proc")
def test_a_served_ledger_audits_in_a_process_of_its_own_that_ends_with_it_even_killed(tmp_path):
    """The rounds run beside the serving process, not in it (a round held the requests up); killing the server
    outright leaves no audit process behind to write to the ledger."""
    server = Server(f"sqlite:///{tmp_path / 'ledger.db'}", tmp_path, workers=1)
    server.env["LEDGER_CHECKPOINT_INTERVAL"] = "0.5"
    with server:
        poll(lambda: (_status(server.base, 0) or {}).get("audited_at"))
        auditing = poll(lambda: [pid for pid, command in _children(server.process.pid).items()
                                 if "spawn_main" in command])
        assert len(auditing) == 1
        server.process.kill()
        server.process.wait(30)
        poll(lambda: not Path(f"/proc/{auditing[0]}").exists() or
             (Path(f"/proc/{auditing[0]}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"), timeout=15)
