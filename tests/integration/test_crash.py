"""A writer killed with SIGKILL in the middle of a large batch leaves a ledger that verifies."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from ledger.verify import audit
from tests.conftest import build_town, register

ROOT = Path(__file__).resolve().parents[2]


def test_sigkill_mid_batch_leaves_whole_batches_and_an_intact_ledger(ledger):
    town = build_town(ledger)
    codes = register(ledger, town, 20)
    ledger.checkpoint()
    writer = subprocess.Popen(
        [sys.executable, str(ROOT / "tests" / "integration" / "crash_writer.py"), ledger.settings.database_url,
         str(ledger.settings.key_file), town.station, *codes],
        stdout=subprocess.PIPE, text=True, env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    committed = 0
    try:
        # Wait until a few batches are in, then kill at a random point inside the next one.
        while committed < 1500:
            line = writer.stdout.readline()
            assert line, "the writer died on its own"
            committed = int(line)
        time.sleep(0.05 + (time.monotonic_ns() % 100) / 1000)
    finally:
        writer.send_signal(signal.SIGKILL)
        writer.wait()
    with ledger.db.reading() as c:
        fills = c.exec_driver_sql("SELECT COUNT(*) FROM events WHERE kind = 'fill'").scalar_one()
        assert fills % 500 == 0 and fills >= committed
        assert list(audit(c, ledger.verifier)) == []
    # The ledger goes on: a new checkpoint extends the old one.
    assert ledger.checkpoint().size == 20 + fills
