"""`ledger demo --province` as a user runs it: three city ledgers and a hub start, say where they are, answer
there, and all stop on Ctrl-C."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.api.served import free_port

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]


def test_the_province_demo_starts_four_processes_prints_their_urls_and_stops_on_ctrl_c(tmp_path):
    port = free_port()
    output = tmp_path / "out.txt"
    with output.open("wb") as out:
        demo = subprocess.Popen([sys.executable, "-m", "tools.cli", "demo", "--province", "--port", str(port)],
                                cwd=tmp_path, stdout=out, stderr=subprocess.STDOUT,
                                env={**os.environ, "PYTHONPATH": str(ROOT), "COLUMNS": "200"})
    try:
        deadline = time.monotonic() + 600
        while "Ctrl-C stops all" not in output.read_text(encoding="utf-8") and time.monotonic() < deadline:
            assert demo.poll() is None, output.read_text(encoding="utf-8")
            time.sleep(1)
        said = output.read_text(encoding="utf-8")
        assert "Ctrl-C stops all" in said, said
        hub = f"http://127.0.0.1:{port}"
        token = re.search(r"provincial hub: \S+\s+token (\S+)", said)[1]
        cities = re.findall(r"(杭州|绍兴|宁波) \((\d{6})\): (http://\S+)", said)
        assert [(name, region) for name, region, _ in cities] == [("杭州", "330100"), ("绍兴", "330600"),
                                                                  ("宁波", "330200")]
        for _, _, url in cities:
            assert httpx.get(f"{url}/healthz", timeout=10).status_code == 200
        listed = httpx.get(f"{hub}/v1/province/cities", headers={"Authorization": f"Bearer {token}"}, timeout=30)
        assert sorted(c["name"] for c in listed.json()) == ["宁波", "杭州", "绍兴"]
    finally:
        if demo.poll() is None:
            demo.send_signal(signal.SIGINT)
        demo.wait(60)
    assert "stopped" in output.read_text(encoding="utf-8")
    for _, _, url in cities:
        with pytest.raises(httpx.TransportError):
            httpx.get(f"{url}/healthz", timeout=2)
    with pytest.raises(httpx.TransportError):
        httpx.get(f"{hub}/healthz", timeout=2)
