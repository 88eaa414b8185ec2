"""`ledger demo` as a user runs it: build, print the URL and tokens, serve, stop on a signal."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest

LEDGER = Path(sys.executable).with_name("ledger")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Demo:
    """A running `ledger demo` whose output is collected line by line."""

    def __init__(self, folder: Path, port: int) -> None:
        self.lines: list[str] = []
        self.process = subprocess.Popen(
            [str(LEDGER), "demo", "--port", str(port), "--db", str(folder / "demo.db"), "--seed", "3"],
            cwd=folder, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
            env={**os.environ, "COLUMNS": "200"},
        )
        threading.Thread(target=self._collect, daemon=True).start()

    def _collect(self) -> None:
        for line in self.process.stdout:
            self.lines.append(line.rstrip("\n"))

    def wait_for(self, text: str, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while not any(text in line for line in self.lines):
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"no {text!r} in the output:\n" + "\n".join(self.lines[-40:]))
            time.sleep(0.2)

    def column(self, label: str, index: int = 1) -> str:
        return next(line.split()[index] for line in self.lines if line.split()[:1] == [label])


@pytest.mark.slow
@pytest.mark.parametrize("stop", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_the_demo_builds_serves_answers_and_stops_cleanly(tmp_path, stop):
    port = free_port()
    demo = Demo(tmp_path, port)
    try:
        demo.wait_for("Serving", seconds=240)
        base = f"http://127.0.0.1:{port}"
        assert any(base in line for line in demo.lines)
        headers = {"Authorization": f"Bearer {demo.column('regulator')}"}
        clean, overfilled = demo.column("clean"), demo.column("overfill")
        with httpx.Client(base_url=base, headers=headers, timeout=30) as client:
            cylinder = client.get(f"/v1/cylinders/{clean}")
            assert cylinder.status_code == 200 and cylinder.json()["id"] == clean
            events = client.get(f"/v1/cylinders/{clean}/events", params={"limit": 5}).json()["items"]
            assert [e["seq"] for e in events] == [0, 1, 2, 3, 4] and events[0]["kind"] == "register"
            paths = client.get("/openapi.json").json()["paths"]
            if "/v1/cylinders/{cylinder_id}/trace" in paths:
                trace = client.get(f"/v1/cylinders/{clean}/trace").json()
                assert trace["chain"]["status"] == "intact" and trace["findings"] == []
                flagged = client.get(f"/v1/cylinders/{overfilled}/trace").json()
                assert "overfill" in {finding["kind"] for finding in flagged["findings"]}
            if "/v1/risk/cylinders" in paths:
                risky = client.get("/v1/risk/cylinders", params={"reason": "open_findings"})
                assert risky.status_code == 200 and risky.json()["items"]
            if "/v1/findings" in paths:
                found = client.get("/v1/findings", params={"kind": "overfill"}).json()["items"]
                assert overfilled in {finding["cylinder"] for finding in found}
        demo.process.send_signal(stop)  # as a user stops it
        assert demo.process.wait(timeout=30) == 0
        assert demo.lines[-1] == "stopped"
        assert (tmp_path / "demo-truth.json").exists() and (tmp_path / "demo-log.key").exists()
    finally:
        if demo.process.poll() is None:
            demo.process.kill()
            demo.process.wait()


def test_the_demo_replaces_only_files_it_made(tmp_path):
    from tools.demo.runner import fresh_settings
    from ledger.errors import InvalidInput

    ledger_db, key = tmp_path / "ledger.db", tmp_path / "ledger-log.key"
    ledger_db.write_bytes(b"a real ledger")
    key.write_bytes(b"a real signing key")
    with pytest.raises(InvalidInput, match="not made by `ledger demo`"):
        fresh_settings(ledger_db, 8000)
    assert ledger_db.read_bytes() == b"a real ledger" and key.read_bytes() == b"a real signing key"

    settings = fresh_settings(tmp_path / "demo.db", 8000)  # nothing there yet: fine, and marked as a demo
    (tmp_path / "demo.db").write_bytes(b"a half-built city")
    Path(settings.key_file).write_bytes(b"its key")
    again = fresh_settings(tmp_path / "demo.db", 8000)
    assert not (tmp_path / "demo.db").exists() and not Path(again.key_file).exists()
