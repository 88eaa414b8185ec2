"""bench/ingest.py --phases runs end to end (at a tiny size) and sets the 30 % budget beside the rules' own cost."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_the_ingest_benchmark_prints_each_step_and_what_the_rules_alone_cost(tmp_path):
    done = subprocess.run([sys.executable, str(ROOT / "bench" / "ingest.py"), "--backend", "sqlite", "--events", "600",
                           "--cylinders", "60", "--batch", "100", "--phases"],
                          capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    said = done.stdout
    assert "the rules' assessment (read snapshot)" in said
    allowed = float(re.search(r"budget for 30% of the ceiling on \d+ cores: ([\d,]+) µs", said)[1].replace(",", ""))
    judged, alone = re.search(r"the rules alone, in memory \(([\d,]+) events\): ([\d,]+) µs per event", said).groups()
    spent = float(re.search(r"measured, this process: ([\d,]+) µs per event", said)[1].replace(",", ""))
    # every event but each cylinder's registration is judged again, resumed from the one before
    assert int(judged.replace(",", "")) == 600 - 60
    assert allowed > 0 and 0 < float(alone.replace(",", "")) < spent
