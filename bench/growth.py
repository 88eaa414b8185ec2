"""How each cost grows with the ledger: one database grown from 10^5 to 10^7 events.

    python bench/growth.py [--to 10000000] [--per-cylinder 10] [--batch 1000] [--plot docs/growth.svg]
    python bench/growth.py --replot --json bench/results/growth.json --plot docs/growth.svg

The ledger grows in stages (10^5, 3·10^5, 10^6, 3·10^6, 10^7 events, up to
``--to``) through the bare core's append path, ``Ledger.record_batch`` without
the custody rules, as bench/ingest.py does: each stage registers its share of
new cylinders (one per ``--per-cylinder`` events) and appends fills spread over
every cylinder so far. After each stage, on the database as it then stands:

* ingest: the stage's append rate, next to the ceiling of writing the same rows
  with plain ``sqlite3`` ``executemany`` into a twin table that grows alongside
  (same columns, indexes, pragmas, transaction size);
* verify: ``ledger verify`` run as the operator runs it (a subprocess), next to
  a plain re-hash of the same rows (bench/verify.py's ceiling), and the
  subprocess's own peak memory;
* checkpoint: signing a checkpoint over the stage's new events;
* trace: ``Ledger.trace`` of random cylinders, p50 and p95, next to reading the
  cylinder's rows bare;
* inclusion proof: p50 and p95 for random events against the new checkpoint;
* risk list: the first page of ``overdue_inspection``.

Memory: the peak resident set of this process during the stage's ingest
(Linux's VmHWM, reset before each stage) and of each ``ledger verify``.
Results are printed per stage, written as JSON, and with ``--plot`` drawn as an
SVG (needs matplotlib: ``pip install -e '.[bench]'``). SQLite only: the
PostgreSQL figures are bench/ingest.py's.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sqlite3
import subprocess
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from common import Timing, measure, percentile, raw_cursor  # noqa: E402
from ingest import T0, Twin, bench_company, open_ledger, register_cylinders  # noqa: E402
from verify import plain_rehash  # noqa: E402

from ledger.domain import EventKind, NewEvent  # noqa: E402
from ledger.service import Ledger  # noqa: E402

STAGES = (100_000, 300_000, 1_000_000, 3_000_000, 10_000_000)


def peak_rss_mib() -> float:
    """This process's peak resident set since the last reset (Linux VmHWM), in MiB."""
    for row in Path("/proc/self/status").read_text().splitlines():
        if row.startswith("VmHWM:"):
            return int(row.split()[1]) / 1024
    return float("nan")


def reset_peak_rss() -> None:
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        pass


def percentiles(timing: Timing) -> dict[str, float]:
    return {"p50_ms": 1000 * percentile(timing.samples, 0.5), "p95_ms": 1000 * percentile(timing.samples, 0.95)}


class Grower:
    """Grows one bare-core ledger stage by stage."""

    def __init__(self, ledger: Ledger, per_cylinder: int, batch: int) -> None:
        self.ledger, self.per_cylinder, self.batch = ledger, per_cylinder, batch
        self.company, self.station = bench_company(ledger)
        self.codes: list[str] = []
        self.size = 0
        self.fills = 0

    def grow_to(self, size: int) -> float:
        """Register this stage's cylinders and append fills up to ``size`` events; returns append events/s."""
        ledger = self.ledger
        wanted = size // self.per_cylinder - len(self.codes)
        self.codes += register_cylinders(ledger, self.company, len(self.codes), wanted, self.batch, prefix="G")
        self.size += wanted
        remaining = size - self.size
        now = T0 + timedelta(days=4000)
        spent, count = 0.0, len(self.codes)
        for first in range(0, remaining, self.batch):
            items = [
                NewEvent(self.codes[(n * 7919) % count], EventKind.FILL, T0 + timedelta(days=1, seconds=n),
                         self.station.party, f"fill-{n:012d}", data={"net_kg": 14.5})
                for n in range(self.fills, self.fills + min(self.batch, remaining - first))
            ]
            tick = time.perf_counter()
            with ledger.db.writing() as c:
                outcomes = ledger.record_batch(c, self.station, items, now=now)
            spent += time.perf_counter() - tick
            assert all(o.status == "created" for o in outcomes), "every event must be created exactly once"
            self.fills += len(items)
        self.size = size
        return remaining / spent


def run_verify(url: str, folder: Path) -> tuple[float, float, bool]:
    """``ledger verify`` as a subprocess: (seconds, its peak memory in MiB, intact)."""
    env = {**os.environ, "LEDGER_KEY_FILE": str(folder / "log.key"),
           "LEDGER_LABEL_KEY_FILE": str(folder / "label.key")}
    start = time.perf_counter()
    process = subprocess.Popen([str(Path(sys.executable).parent / "ledger"), "verify", "--json", "--db", url],
                               env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    output = process.stdout.read()
    _, status, usage = os.wait4(process.pid, 0)
    seconds = time.perf_counter() - start
    process.returncode = os.waitstatus_to_exitcode(status)
    *breaks, summary = [json.loads(line) for line in output.decode().strip().splitlines()]
    # The bare core judges nothing, so it never derives the projections verify re-derives: those
    # differences are expected here; any other break is not.
    intact = summary["status"] == "intact" or all(b["kind"] == "projection_edited" for b in breaks)
    return seconds, usage.ru_maxrss / 1024, intact and process.returncode in (0, 1)


def read_side(reader: Ledger, grower: Grower, samples: int, rng: random.Random) -> dict:
    codes = rng.sample(grower.codes, min(samples, len(grower.codes)))
    result: dict = {}
    with reader.db.reading() as connection:
        result["trace"] = percentiles(measure(codes, lambda code: reader.trace(connection, code)))
    with raw_cursor(reader) as cursor:
        sql = "SELECT * FROM events WHERE cylinder = ? ORDER BY seq"
        result["trace_ceiling"] = percentiles(measure(codes, lambda code: cursor.execute(sql, (code,)).fetchall()))
    start = time.perf_counter()
    checkpoint = reader.checkpoint()
    result["checkpoint_s"] = time.perf_counter() - start
    with reader.db.reading() as connection:
        ids = [rng.randrange(checkpoint.size) for _ in range(samples)]
        result["inclusion"] = percentiles(measure(ids, lambda i: reader.inclusion(connection, i, checkpoint.size)))
        result["risk_first_page"] = percentiles(measure(range(20), lambda _: reader.risk_cylinders(
            connection, reason="overdue_inspection", limit=100, today=date(2030, 1, 1))))
    return result


def stage_line(stage: dict) -> str:
    return (f"{stage['events']:>11,} events: ingest {stage['ingest']:,.0f}/s ({stage['ingest_ratio']:.0%} of "
            f"{stage['ingest_ceiling']:,.0f} rows/s), peak {stage['ingest_peak_mib']:,.0f} MiB | verify "
            f"{stage['verify']:,.0f}/s ({stage['verify_ratio']:.0%} of {stage['verify_ceiling']:,.0f}), "
            f"{stage['verify_s']:.1f} s, peak {stage['verify_peak_mib']:,.0f} MiB | trace p50 "
            f"{stage['trace']['p50_ms']:.2f} ms | inclusion p50 {stage['inclusion']['p50_ms']:.2f} ms | risk p95 "
            f"{stage['risk_first_page']['p95_ms']:.2f} ms")


def plot(stages: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("svg")
    import matplotlib.pyplot as plt

    sizes = [s["events"] for s in stages]
    figure, (left, right) = plt.subplots(1, 2, figsize=(11, 4.2))
    for name, key, colour in (("ingest (ledger)", "ingest", "C0"), ("ingest ceiling", "ingest_ceiling", "C0"),
                              ("verify (ledger)", "verify", "C2"), ("verify ceiling", "verify_ceiling", "C2")):
        left.plot(sizes, [s[key] for s in stages], marker="o", label=name, color=colour,
                  linestyle="--" if "ceiling" in name else "-")
    left.set(xscale="log", yscale="log", xlabel="events in the ledger", ylabel="events per second",
             title="Throughput as the ledger grows")
    left.legend(fontsize=8)
    for name, value in (("trace p50", lambda s: s["trace"]["p50_ms"]),
                        ("inclusion proof p50", lambda s: s["inclusion"]["p50_ms"]),
                        ("risk list first page p95", lambda s: s["risk_first_page"]["p95_ms"]),
                        ("verify, whole ledger", lambda s: 1000 * s["verify_s"])):
        right.plot(sizes, [value(s) for s in stages], marker="o", label=name)
    right.set(xscale="log", yscale="log", xlabel="events in the ledger", ylabel="milliseconds",
              title="Latency as the ledger grows")
    right.legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(path, metadata={"Date": None})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--to", type=int, default=10_000_000, help="the last stage's size in events")
    parser.add_argument("--per-cylinder", type=int, default=10, help="events per cylinder")
    parser.add_argument("--batch", type=int, default=1000)
    parser.add_argument("--samples", type=int, default=200)
    parser.add_argument("--json", type=Path, default=Path("bench/results/growth.json"))
    parser.add_argument("--plot", type=Path, help="draw the figures into this SVG file")
    parser.add_argument("--replot", action="store_true", help="only draw --plot from the figures in --json")
    args = parser.parse_args()
    if args.replot:
        plot(json.loads(args.json.read_text())["stages"], args.plot)
        return
    stages = [size for size in STAGES if size <= args.to] or [args.to]
    rng = random.Random(11)
    results: list[dict] = []
    print(f"growth on sqlite: stages {', '.join(f'{s:,}' for s in stages)}; {args.per_cylinder} events per cylinder")
    with tempfile.TemporaryDirectory(prefix="cl-bench-growth-") as tmp:
        folder = Path(tmp)
        ledger, url = open_ledger("sqlite", folder, rules=False)
        reader = Ledger(ledger.settings)
        grower, twin = Grower(ledger, args.per_cylinder, args.batch), None
        try:
            for size in stages:
                first_id = grower.size
                reset_peak_rss()
                ingest = grower.grow_to(size)
                stage = {"events": size, "ingest": ingest, "ingest_peak_mib": peak_rss_mib()}
                twin = twin or Twin(folder / "bench.db", args.batch)
                rows, seconds = twin.copy(first_id)
                stage["ingest_ceiling"] = rows / seconds
                stage["ingest_ratio"] = ingest / stage["ingest_ceiling"]
                stage.update(read_side(reader, grower, args.samples, rng))
                verify_s, verify_peak, intact = run_verify(url, folder)
                assert intact, "ledger verify must pass on an untouched ledger"
                rows, rehash_s = plain_rehash(ledger)
                stage.update({"verify_s": verify_s, "verify": size / verify_s, "verify_peak_mib": verify_peak,
                              "verify_ceiling": rows / rehash_s, "verify_ratio": rehash_s / verify_s,
                              "database_mib": (folder / "bench.db").stat().st_size / 2**20})
                results.append(stage)
                print(stage_line(stage), flush=True)
        finally:
            ledger.db.dispose()
            reader.db.dispose()
            if twin is not None:
                twin.close()
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps({"machine": {"cpus": os.cpu_count(), "python": sys.version.split()[0],
                                                 "sqlite": sqlite3.sqlite_version}, "stages": results}, indent=1))
    print(f"figures written to {args.json}")
    if args.plot:
        plot(results, args.plot)
        print(f"plot written to {args.plot}")


if __name__ == "__main__":
    main()
