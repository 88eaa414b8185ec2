"""The brain stays pure: no database or web framework."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
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


def test_a_fifty_event_history_is_evaluated_from_the_events_alone():
    """Its cost is measured by bench/history.py, not here: timings on a shared machine are not a test."""
    story = Story()
    start = at(1)
    while len(story.events) < 50:
        start = story.round_trip(start) + timedelta(days=1)
    history, config, now = story.events[:50], RulesConfig(), start
    assert evaluate(history, REGISTRY, config, now) == []


def test_authorisation_and_the_replay_machine_live_apart_and_no_custody_module_grows_past_400_lines():
    import importlib

    import ledger.custody as custody

    authorisation = importlib.import_module("ledger.custody.authorize")
    machine = importlib.import_module("ledger.custody.replay")

    root = Path(custody.__file__).parent
    sizes = {path.name: len(path.read_text(encoding="utf-8").splitlines()) for path in root.glob("*.py")}
    assert sizes and all(n <= 400 for n in sizes.values()), sizes
    # authorisation never needs the replay machine: refusing an event never reads the cylinder's state
    assert "replay" not in authorisation.__dict__ and "_Machine" not in authorisation.__dict__
    assert machine.replay is custody.replay and authorisation.authorize is custody.authorize
    assert all(hasattr(custody, name) for name in custody.__all__)
