"""Two server processes publishing at once on one database: one checkpoint per interval, never two of a size."""

from __future__ import annotations

import subprocess
import sys
import time
from datetime import timedelta

import pytest
from sqlalchemy import text

from ledger.domain import parse_time
from ledger.log import LogTree
from ledger.signednote import open_checkpoint
from tests.conftest import NOW, build_town, fill, register

INTERVAL = 0.3
PUBLISHER = """
import sys, time
from dataclasses import replace
from ledger.service import Ledger
from tests.conftest import make_settings
from pathlib import Path
url, folder, stop, interval = sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3]), float(sys.argv[4])
ledger = Ledger(replace(make_settings(url, folder), checkpoint_interval=interval))
ledger.publisher.publish_due()
print("ready", flush=True)
signed = 0
while not stop.exists():
    signed += ledger.publisher.publish_due() is not None
    time.sleep(0.01)
ledger.db.dispose()
print(signed)
"""


@pytest.mark.slow
def test_two_processes_publishing_store_one_checkpoint_an_interval_and_never_two_of_one_size(ledger, tmp_path) -> None:
    town = build_town(ledger)
    codes = register(ledger, town, 4)
    folder = ledger.settings.key_file.parent
    stop = tmp_path / "stop"
    racers = [subprocess.Popen([sys.executable, "-c", PUBLISHER, ledger.settings.database_url, str(folder), str(stop),
                                str(INTERVAL)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
              for _ in range(2)]
    for racer in racers:
        assert racer.stdout.readline() == "ready\n", racer.stderr.read()
    end, n = time.monotonic() + 4, 0
    while time.monotonic() < end:  # the log keeps growing under both
        with ledger.db.writing() as c:
            ledger.record(c, town.at_station, fill(codes[n % 4], town, NOW + timedelta(minutes=n)))
        n += 1
        time.sleep(0.02)
    time.sleep(INTERVAL * 2)
    stop.touch()
    signed = []
    for racer in racers:
        out, err = racer.communicate(timeout=60)
        assert racer.returncode == 0, err
        signed.append(int(out))
    with ledger.db.reading() as c:
        rows = c.execute(text("SELECT size, root, note, signed_at FROM checkpoints ORDER BY size")).all()
        tree = LogTree(c, ledger.cache)
        for size, root, note, _ in rows:  # every one signed by the log, of the tree the log holds at that size
            checkpoint = open_checkpoint(ledger.verifier, note)
            assert checkpoint.size == size and bytes(root) == checkpoint.root == tree.get_root(size)
    assert sum(signed) + 1 == len(rows) >= 6  # one more: signed before the race began
    assert rows[-1][0] == 4 + n  # the last covers the whole log
    times = [parse_time(signed_at) for *_, signed_at in rows]
    assert all(later - earlier >= timedelta(seconds=INTERVAL) for earlier, later in zip(times, times[1:]))
    assert [size for size, *_ in rows] == sorted({size for size, *_ in rows})
