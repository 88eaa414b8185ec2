"""Every demo-city benchmark in one run, ending with a table of ratios to the machine's ceilings.

    python bench/run_all.py [--size small|medium|large | --events N] [--backend sqlite|postgresql]
                            [--keep DIR] [--bare] [--samples 300]
                            [--synthetic [--growth-to 10000000] [--plot FILE.svg]]

1. the city: built (or reopened from ``--keep``) with the custody rules on;
   events/s of the generator writing through the whole service. With ``--bare``
   the same city is also built through the bare core (``Ledger(rules=False)``),
   which separates the generator's and the core's cost from the rules'. The
   ceiling is bench/ingest.py's: the same rows written with plain executemany.
2. detection: recall and precision of the ledger's findings against the
   planted truth, the city's own quality report;
3. bench/trace.py, bench/risk.py, bench/proofs.py on that city;
4. the full audit (``ledger verify``) next to bench/verify.py's plain re-hash.

With ``--synthetic`` it then runs, each as its own process printing its own
figures and ceilings, the benchmarks over synthetic chains: bench/ingest.py
(1 million events, bare core and with the custody rules), bench/verify.py
(1 million), bench/http_service.py (on a ledger preloaded with 1 million events),
bench/history.py (one event's cost as a cylinder's chain grows to 3,000 events) and
bench/growth.py (ingest, verification, trace,
proofs and risk list from 10^5 to ``--growth-to`` events, 10^7 by default, with
each stage's memory peak; ``--plot`` draws it).
"""

from __future__ import annotations

import argparse
import re
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import proofs
import risk
import trace
from common import Timing, add_city_arguments, line, open_city

sys.path.insert(0, str(Path(__file__).resolve().parent))
from ingest import ceiling_sqlite  # noqa: E402
from verify import plain_rehash  # noqa: E402

from ledger.config import Settings  # noqa: E402
from tools.demo import ANOMALY_KINDS, SIZES, CityConfig, build_city, quality  # noqa: E402
from ledger.keys import ensure_key  # noqa: E402
from ledger.sealing import ensure_personal_keys  # noqa: E402
from ledger.service import Ledger  # noqa: E402
from ledger.verify import audit  # noqa: E402


def generation(args: argparse.Namespace, city) -> list[str]:
    lines = []
    config = CityConfig.for_events(args.events) if args.events else SIZES[args.size]
    if city.built_in is not None:
        lines.append(f"city generation, custody rules on: {city.events / city.built_in:,.0f} events/s "
                     f"({city.events:,} events in {city.built_in:.0f} s)")
    if not args.bare:
        return lines
    with tempfile.TemporaryDirectory(prefix="cl-bare-") as tmp:
        folder = Path(tmp)
        settings = Settings(database_url=f"sqlite:///{folder / 'bare.db'}", key_file=folder / "log.key",
                            label_key_file=folder / "label.key", personal_key_file=folder / "personal.key")
        ensure_key(settings.key_file)
        ensure_key(settings.label_key_file)
        ensure_personal_keys(settings.personal_key_file)
        bare = Ledger(settings, rules=False)
        bare.db.migrate()
        built = build_city(bare, config, args.seed)
        bare.db.dispose()
        written = Timing(built.events, built.seconds, [built.seconds])
        rows, seconds = ceiling_sqlite(folder / "bare.db", 5000)
        lines.append(line("city generation, bare core (SQLite)", written, "events",
                          Timing(rows, seconds, [seconds]), "the same rows, sqlite3 executemany"))
    return lines


def detection(city) -> list[str]:
    """Recall and precision of the findings against the planted truth (docs/demo.md)."""
    truth = quality.load_truth(city.folder / "truth.json")
    with city.ledger.db.reading() as connection:
        scores = quality.score(truth, quality.from_table(connection), ANOMALY_KINDS)
    lines = [f"detection of {len(truth):,} planted anomalies: recall "
             f"{sum(s.detected + s.prevented for s in scores) / max(1, sum(s.planted for s in scores)):.1%}, "
             f"precision {sum(s.raised - s.false for s in scores) / max(1, sum(s.raised for s in scores)):.1%}"]
    lines += [f"  {s.kind}: recall {s.recall:.0%}, precision {s.precision:.0%}" for s in scores
              if (s.recall, s.precision) != (1.0, 1.0)]
    return lines


def verification(city) -> list[str]:
    rows, plain = plain_rehash(city.ledger)
    start = time.perf_counter()
    with city.ledger.db.reading() as connection:
        breaks = list(audit(connection, city.ledger.verifier))
    spent = time.perf_counter() - start
    assert breaks == [], breaks[:3]
    return [line("full audit (ledger verify)", Timing(rows, spent, [spent]), "events",
                 Timing(rows, plain, [plain]), "plain re-hash of the same rows")]


def synthetic(args: argparse.Namespace) -> None:
    here, python = Path(__file__).resolve().parent, sys.executable
    runs = [
        ["ingest.py", "--events", "1000000", "--no-rules"],
        ["ingest.py", "--events", "1000000"],
        ["verify.py", "--events", "1000000"],
        ["http_service.py", "--backend", args.backend, "--preload", "1000000"],
        ["history.py", "--backend", args.backend],
        ["growth.py", "--to", str(args.growth_to), *(["--plot", str(args.plot)] if args.plot else [])],
    ]
    for script, *options in runs:
        print(f"== {script} {' '.join(options)}", flush=True)
        subprocess.run([python, str(here / script), *options], check=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_city_arguments(parser)
    parser.add_argument("--bare", action="store_true", help="also build the city through the bare core")
    parser.add_argument("--samples", type=int, default=300)
    parser.add_argument("--synthetic", action="store_true", help="then run the synthetic-chain benchmarks too")
    parser.add_argument("--growth-to", type=int, default=10_000_000, help="bench/growth.py's last stage")
    parser.add_argument("--plot", type=Path, help="bench/growth.py draws its figures into this SVG")
    args = parser.parse_args()
    city = open_city(args)
    results: list[str] = []
    try:
        for title, step in (("generation", lambda: generation(args, city)),
                            ("detection", lambda: detection(city)),
                            ("trace", lambda: trace.run(city, args.samples)),
                            ("risk", lambda: risk.run(city, 30)),
                            ("proofs", lambda: proofs.run(city, args.samples)),
                            ("verification", lambda: verification(city))):
            print(f"== {title}", flush=True)
            for text in step():
                print(text, flush=True)
                results.append(text)
    finally:
        city.close()
    print(f"\n== summary: {city.events:,} events on {args.backend}")
    for text in results:
        name = re.sub(r" \(.*", "", text.split(":", 1)[0])
        rate = re.search(r": ([\d,]+ [a-z]+/s)", text)
        ratio = re.search(r"ratio (\d+%)", text)
        print(f"  {name:<40} {rate.group(1) if rate else '':>20} {ratio.group(1) if ratio else '':>6}")
    print(f"  peak memory of this suite's process: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:,.0f} MiB")
    if args.synthetic:
        synthetic(args)


if __name__ == "__main__":
    main()
