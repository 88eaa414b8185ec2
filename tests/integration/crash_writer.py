"""Writes batches of 500 events forever; the crash test kills it with SIGKILL."""

import sys
import uuid
from datetime import timedelta

from ledger.config import Settings
from ledger.domain import EventKind, NewEvent
from ledger.domain import Role
from ledger.service import Actor, Ledger
from tests.conftest import NOW

url, key_file, station, *codes = sys.argv[1:]
ledger = Ledger(Settings(database_url=url, key_file=key_file))
n = 0
while True:
    items = [NewEvent(codes[i % len(codes)], EventKind.FILL, NOW + timedelta(seconds=n + i), station,
                      str(uuid.uuid4()), data={"net_kg": 14.5}) for i in range(500)]
    with ledger.db.writing() as c:
        ledger.record_batch(c, Actor(Role.COMPANY, station, "station"), items, now=NOW + timedelta(days=1))
    n += 500
    print(n, flush=True)
