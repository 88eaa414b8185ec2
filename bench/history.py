"""What one event costs to record as a cylinder's chain grows, with the custody rules on.

    python bench/history.py [--lengths 10,100,1000,3000] [--cylinders 20] [--samples 40]
                            [--backend sqlite|postgresql] [--json FILE]

At about eight events every three weeks (the pace docs/performance.md
assumes), a cylinder's chain holds about a thousand events after seven years
and about two thousand at the end of a service life of up to 15 years
(DOMAIN.md "The life of a cylinder"). The rules judge only the events recorded
since they last judged a cylinder, from what they carried forward (docs/custody.md
"Judging a story in pieces"), so what a single event costs should not grow with
its chain; this measures whether it does.

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
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from ingest import T0, bench_company, drop, open_ledger, register_cylinders  # noqa: E402

from ledger.domain import EventKind, NewEvent  # noqa: E402
from ledger.service import Actor, Ledger  # noqa: E402


class Fills:
    """Fills of the given cylinders in turn, five minutes apart, so every chain stays in time order.

    (Five minutes keep 60,000 fills within the cylinders' inspection dates: no finding is due.)
    """

    def __init__(self, station: Actor, codes: list[str]) -> None:
        self.station, self.codes, self.n = station, codes, 0

    def next(self) -> NewEvent:
        self.n += 1
        return NewEvent(self.codes[self.n % len(self.codes)], EventKind.FILL, T0 + timedelta(minutes=5 * self.n),
                        self.station.party, f"h-{uuid.uuid4()}", data={"net_kg": 14.5})

    @property
    def now(self):
        return T0 + timedelta(minutes=5 * self.n + 1)

    @property
    def chain_length(self) -> int:
        """Events in each chain: the register and this many fills each, round robin."""
        return 1 + self.n // len(self.codes)


def grow(ledger: Ledger, fills: Fills, to_length: int) -> None:
    """Append to every chain until each holds ``to_length`` events, then run the rules as the reviewer would."""
    missing = (to_length - fills.chain_length) * len(fills.codes)
    while missing > 0:
        size = min(missing, 1000)
        with ledger.db.writing() as c:
            ledger.record_batch(c, fills.station, [fills.next() for _ in range(size)], now=fills.now,
                                defer_review=True)
        missing -= size
    with ledger.db.writing() as c:
        while ledger.review(c, now=fills.now, limit=100):
            pass


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
            company, station = bench_company(ledger)
            fills = Fills(station, register_cylinders(ledger, company, 0, args.cylinders, 1000))
            for target in args.lengths:
                grow(ledger, fills, target)
                with ledger.db.reading() as c:  # as the rules' projection has it: grown and reviewed
                    shortest = min(ledger.cylinder(c, code).chain_length for code in fills.codes)
                with_rules = singles(ledger, fills, args.samples)
                ceiling = singles(bare, fills, args.samples)
                stage = {"length": target, "shortest_chain": shortest, "rules_ms": with_rules, "bare_ms": ceiling}
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
