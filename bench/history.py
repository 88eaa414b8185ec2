"""What one event costs to record as a cylinder's chain grows, with the custody rules on.

    python bench/history.py [--lengths 10,100,1000,3000] [--cylinders 20] [--samples 40]
                            [--backend sqlite|postgresql] [--json FILE]

At about eight events every three weeks (the pace docs/performance.md
assumes), a cylinder's chain holds about a thousand events after seven years
and about two thousand at the end of a service life of up to 15 years
(DOMAIN.md "The life of a cylinder"). The rules judge a chain by replaying all
of it, so what a single event costs grows with the chain.

The chains of ``--cylinders`` cylinders are grown stage by stage to each of
``--lengths`` (batches whose rules run afterwards, as the reviewer runs them),
then ``--samples`` single events are recorded one transaction each, as
``POST /v1/events`` does when nothing else is waiting, first with the rules on
and then, as the ceiling, by the bare core on the same chains (sequencing,
hashing, inserting and committing the same kind of event: what recording it
costs when nothing is judged). Printed per stage: milliseconds per event both
ways and the ratio.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
import uuid
from datetime import date, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from ingest import ADMIN, T0, drop, open_ledger  # noqa: E402

from ledger.domain import EventKind, NewEvent, Paper, PartyKind, Role  # noqa: E402
from ledger.service import Actor, Ledger, Registration  # noqa: E402


def town(ledger: Ledger, cylinders: int) -> tuple[Actor, list[str]]:
    """A gas company with one filling station and its cylinders: (the station's actor, trace codes)."""
    licence = Paper("LIC-BENCH", date(2035, 12, 31))
    with ledger.db.writing() as c:
        company = ledger.create_party(c, kind=PartyKind.GAS_COMPANY, name="Bench Gas", region="330110",
                                      licence=licence, now=T0)
        station = ledger.create_party(c, kind=PartyKind.FILLING_STATION, name="Bench Station", region="330110",
                                      licence=licence, parent=company.id, now=T0)
        codes = [ledger.register(c, ADMIN, Registration(
            company.id, f"SN-{n:07d}", "Bench Steel", date(2023, 1, 1), "YSP-15", 15.0, 8, date(2024, 1, 1),
            date(2028, 1, 1), occurred_at=T0), now=T0).event.cylinder for n in range(cylinders)]
    return Actor(Role.COMPANY, station.id, "bench station"), codes


class Fills:
    """Fills of the given cylinders in turn, five minutes apart, so every chain stays in time order.

    (Five minutes keep 60,000 fills within the cylinders' inspection dates: no finding is due.)
    """

    def __init__(self, station: Actor, codes: list[str]) -> None:
        self.station, self.codes, self.n = station, codes, 0

    def next(self, cylinder: str | None = None) -> NewEvent:
        self.n += 1
        code = cylinder or self.codes[self.n % len(self.codes)]
        return NewEvent(code, EventKind.FILL, T0 + timedelta(minutes=5 * self.n), self.station.party,
                        f"h-{uuid.uuid4()}", data={"net_kg": 14.5})

    @property
    def now(self):
        return T0 + timedelta(minutes=5 * self.n + 1)


def grow(ledger: Ledger, fills: Fills, to_length: int, length: int) -> int:
    """Append to every chain until each holds ``to_length`` events; the rules run after each batch."""
    missing = (to_length - length) * len(fills.codes)
    while missing > 0:
        size = min(missing, 1000)
        with ledger.db.writing() as c:
            ledger.record_batch(c, fills.station, [fills.next() for _ in range(size)], now=fills.now,
                                defer_review=True)
        missing -= size
    with ledger.db.writing() as c:
        while ledger.review(c, now=fills.now, limit=100):
            pass
    return to_length


def singles(ledger: Ledger, fills: Fills, samples: int) -> float:
    """Milliseconds per event, each in its own transaction, over the cylinders in turn."""
    started = time.perf_counter()
    for _ in range(samples):
        with ledger.db.writing() as c:
            (outcome,) = ledger.record_batch(c, fills.station, [fills.next()], now=fills.now)
        assert outcome.status == "created", outcome
    return 1000 * (time.perf_counter() - started) / samples


def run(args: argparse.Namespace) -> list[dict]:
    stages = []
    with tempfile.TemporaryDirectory(prefix="cl-bench-history-") as tmp:
        ledger, url = open_ledger(args.backend, Path(tmp))
        bare = Ledger(ledger.settings, rules=False)  # the same database and keys, no rules
        try:
            station, codes = town(ledger, args.cylinders)
            fills = Fills(station, codes)
            length = 1
            for target in args.lengths:
                length = grow(ledger, fills, target, length)
                with_rules = singles(ledger, fills, args.samples)
                ceiling = singles(bare, fills, args.samples)
                length = target + 2 * args.samples // len(codes)
                stage = {"length": target, "rules_ms": with_rules, "bare_ms": ceiling}
                stages.append(stage)
                print(f"chains of {target:6,} events: {with_rules:8.2f} ms per event with the rules;"
                      f" bare core {ceiling:6.2f} ms; ratio {ceiling / with_rules:.2f}", flush=True)
        finally:
            ledger.db.dispose()
            bare.db.dispose()
            drop(url)
    return stages


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--lengths", default="10,100,1000,3000",
                        type=lambda text: sorted({int(n) for n in text.split(",")}))
    parser.add_argument("--cylinders", type=int, default=20)
    parser.add_argument("--samples", type=int, default=40)
    parser.add_argument("--backend", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()
    if min(args.lengths) < 2:
        parser.error("--lengths: every chain starts with its register event, so 2 at least")
    print(f"cylinder-ledger: one event's cost as chains grow ({args.backend}, {args.cylinders} cylinders,"
          f" {args.samples} single events per stage and way)")
    stages = run(args)
    if args.json:
        args.json.write_text(json.dumps({"backend": args.backend, "stages": stages}, indent=2))


if __name__ == "__main__":
    main()
