"""bench/history.py runs end to end (at a tiny size) and reports a stage per chain length."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_the_history_benchmark_reports_each_chain_length(tmp_path):
    out = tmp_path / "history.json"
    done = subprocess.run([sys.executable, str(ROOT / "bench" / "history.py"), "--lengths", "4,12", "--cylinders", "3",
                           "--samples", "6", "--json", str(out)], capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert done.returncode == 0, done.stderr[-2000:]
    stages = json.loads(out.read_text())["stages"]
    assert [stage["length"] for stage in stages] == [4, 12]
    assert all(stage["shortest_chain"] >= stage["length"] for stage in stages)  # grown, and the rules caught up
    assert all(stage["rules_ms"] > 0 and stage["bare_ms"] > 0 for stage in stages)
    assert "chains of     12 events:" in done.stdout


def test_the_history_benchmark_refuses_a_chain_shorter_than_its_register_event(tmp_path):
    done = subprocess.run([sys.executable, str(ROOT / "bench" / "history.py"), "--lengths", "1"],
                          capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert done.returncode == 2 and "--lengths" in done.stderr
