"""Writers of unrelated cylinders do not wait for each other: 48 writers on distinct cylinders vs. one.

    python bench/writers.py [--writers 48] [--events 40] [--backend postgresql]

Each of ``--writers`` threads records ``--events`` single events through the
ingest use case (``Ledger.ingest_one``, rules on, one event a call, as one
``POST /v1/events`` without the HTTP layer), first each on a cylinder of its
own, then all on the same cylinder. Reported per run: events/s, the median and
99th percentile of a call's latency, and what the waiting writers waited on,
sampled every 5 ms from ``pg_locks`` (PostgreSQL): ``advisory`` is the log lock,
``transactionid``/``tuple`` are a cylinder's row lock. With sequencing after
commit the distinct run shows no write waiting on the log lock (only the
sequencer's own short turns), and the same-cylinder run waits on the row lock,
which is what keeps a chain from forking. The ceiling of the same run is the
events/s of the distinct run with every writer's transaction empty but for its
commit (``SELECT 1`` and commit, same pool): what the machine does at best.
"""

from __future__ import annotations

import argparse
import collections
import statistics
import sys
import tempfile
import threading
import time
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.ingest import T0, bench_company, drop, open_ledger, register_cylinders  # noqa: E402
from ledger.domain import EventKind, NewEvent  # noqa: E402
from ledger.storage.db import Database  # noqa: E402


def _sample_locks(url: str, stop: threading.Event, seen: collections.Counter) -> None:
    """Count, every 5 ms, the lock requests not yet granted, by lock type."""
    probe = Database(url, pool_size=1)
    try:
        while not stop.is_set():
            with probe.reading() as c:
                for locktype, waiting in c.exec_driver_sql(
                        "SELECT locktype, COUNT(*) FROM pg_locks WHERE NOT granted GROUP BY locktype"):
                    seen[locktype] += waiting
                seen["samples"] += 1
            stop.wait(0.005)
    finally:
        probe.dispose()


def run(ledger, url: str, station, codes: list[str], writers: int, events: int, tag: str) -> dict:
    latencies: list[float] = []
    errors: list[BaseException] = []
    barrier = threading.Barrier(writers + 1)
    now = T0 + timedelta(days=400)

    def write(worker: int) -> None:
        cylinder = codes[worker % len(codes)]
        mine = []
        barrier.wait()
        try:
            for n in range(events):
                item = NewEvent(cylinder, EventKind.FILL, T0 + timedelta(days=1, seconds=worker * events + n),
                                station.party, f"bench-{tag}-{worker:04d}-{n:06d}", data={"net_kg": 14.5})
                tick = time.perf_counter()
                (outcome,) = ledger.ingest_one(station, [item], now)
                mine.append(time.perf_counter() - tick)
                assert outcome.status == "created" and outcome.event.log_index is not None, outcome
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        latencies.extend(mine)

    seen: collections.Counter = collections.Counter()
    stop = threading.Event()
    sampler = threading.Thread(target=_sample_locks, args=(url, stop, seen))
    threads = [threading.Thread(target=write, args=(w,)) for w in range(writers)]
    sampling = url.startswith("postgresql")
    for thread in threads:
        thread.start()
    if sampling:
        sampler.start()
    barrier.wait()
    start = time.perf_counter()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - start
    stop.set()
    if sampling:
        sampler.join()
    if errors:
        raise errors[0]
    latencies.sort()
    return {"rate": len(latencies) / elapsed, "p50": statistics.median(latencies) * 1000,
            "p99": latencies[int(len(latencies) * 0.99) - 1] * 1000, "locks": dict(seen)}


def ceiling(db: Database, writers: int, events: int) -> float:
    """Commits/s of ``writers`` threads committing an empty transaction each, ``events`` times."""
    barrier = threading.Barrier(writers + 1)

    def commit() -> None:
        barrier.wait()
        for _ in range(events):
            with db.writing() as c:
                c.exec_driver_sql("SELECT 1")

    threads = [threading.Thread(target=commit) for _ in range(writers)]
    for thread in threads:
        thread.start()
    barrier.wait()
    start = time.perf_counter()
    for thread in threads:
        thread.join()
    return writers * events / (time.perf_counter() - start)


def _waits(locks: dict) -> str:
    samples = max(locks.get("samples", 1), 1)
    kinds = {kind: count for kind, count in locks.items() if kind != "samples"}
    if not kinds:
        return "no writer seen waiting on any lock"
    return ", ".join(f"{kind} {count / samples:.2f}" for kind, count in sorted(kinds.items())) + \
        " writers waiting on average"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--writers", type=int, default=48)
    parser.add_argument("--events", type=int, default=40, help="events per writer")
    parser.add_argument("--backend", choices=("sqlite", "postgresql"), default="postgresql")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="cl-bench-") as tmp:
        ledger, url = open_ledger(args.backend, Path(tmp))
        try:
            # One connection per writer, so the pool is not what they queue on.
            ledger.db.dispose()
            ledger.db = Database(url, pool_size=args.writers + 4)
            company, station = bench_company(ledger)
            codes = register_cylinders(ledger, company, 0, args.writers, args.writers)
            print(f"{args.writers} writers x {args.events} single events on {args.backend}, rules on")
            top = ceiling(ledger.db, args.writers, args.events)
            print(f"ceiling (empty write transactions, same pool): {top:,.0f} commits/s")
            for label, cylinders, tag in (("distinct cylinders", codes, "d"), ("one cylinder", codes[:1], "s")):
                result = run(ledger, url, station, cylinders, args.writers, args.events, tag)
                print(f"{label}: {result['rate']:,.0f} events/s ({result['rate'] / top:.0%} of the ceiling), "
                      f"p50 {result['p50']:.1f} ms, p99 {result['p99']:.1f} ms; "
                      f"{_waits(result['locks']) if args.backend == 'postgresql' else ''}")
        finally:
            ledger.db.dispose()
            drop(url)


if __name__ == "__main__":
    main()
