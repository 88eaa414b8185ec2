"""bench/growth.py runs end to end (at a tiny size) and reports sane figures."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_the_growth_benchmark_grows_verifies_and_reports_each_stage(tmp_path):
    out = tmp_path / "growth.json"
    done = subprocess.run([sys.executable, str(ROOT / "bench" / "growth.py"), "--to", "4000", "--samples", "20",
                           "--json", str(out)], capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert done.returncode == 0, done.stderr[-2000:]
    (stage,) = json.loads(out.read_text())["stages"]
    assert stage["events"] == 4000
    for key in ("ingest", "ingest_ceiling", "verify", "verify_ceiling"):
        assert stage[key] > 0, key
    assert stage["verify_peak_mib"] > 0 and stage["trace"]["p50_ms"] > 0 and stage["inclusion"]["p95_ms"] > 0
    assert "4,000 events: ingest" in done.stdout
