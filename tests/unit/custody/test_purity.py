"""The brain stays pure and fast: no database or web framework, well under a millisecond or two."""

from __future__ import annotations

import subprocess
import sys
import time
from datetime import timedelta

from ledger.rules import RulesConfig, evaluate

from .story import REGISTRY, Story, at


def test_custody_and_rules_import_neither_sqlalchemy_nor_fastapi():
    probe = (
        "import sys, ledger.custody, ledger.rules; "
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('sqlalchemy', 'fastapi', 'starlette')); "
        "print(','.join(bad)); sys.exit(1 if bad else 0)"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, f"imported: {done.stdout.strip()} {done.stderr[-500:]}"
    assert "ledger.custody" not in done.stderr


def test_evaluating_a_fifty_event_history_takes_well_under_two_milliseconds():
    story = Story()
    start = at(1)
    while len(story.events) < 50:
        start = story.round_trip(start) + timedelta(days=1)
    history, config, now = story.events[:50], RulesConfig(), start
    assert evaluate(history, REGISTRY, config, now) == []
    best = float("inf")
    for _ in range(5):
        began = time.perf_counter()
        for _ in range(20):
            evaluate(history, REGISTRY, config, now)
        best = min(best, (time.perf_counter() - began) / 20)
    assert best < 0.002, f"{best * 1000:.2f} ms per evaluation"
