"""What the demo-city benchmarks share: a city to measure on, timers, and the report lines.

Every benchmark here runs on a demo city (``tools.demo``), because a city has
what synthetic fill loops lack: chains of realistic length and kind, findings,
late arrivals, parties with papers. A city is built once into ``--keep DIR``
and reused while its parameters match, since a ten-million-event city takes
hours to build with the custody rules on.

Each measurement is printed as ``name: rate unit; ceiling: rate; ratio``, the
ceiling being the least the machine must do for the same answer, measured in
the same run on the same data (the style of bench/ingest.py and verify.py).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ledger.config import Settings  # noqa: E402
from tools.demo import SIZES, CityConfig, build_city, write_truth  # noqa: E402
from ledger.keys import ensure_key  # noqa: E402
from ledger.service import Ledger  # noqa: E402

__all__ = ["City", "add_city_arguments", "open_city", "Timing", "measure", "raw_cursor", "mark", "line", "percentile"]

POSTGRES = os.environ.get("LEDGER_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/postgres")
# --backend citus: a schema of its own on this coordinator (.ci/citus-cluster prints one)
CITUS = os.environ.get("LEDGER_TEST_CITUS", "postgresql://postgres@127.0.0.1:9700/postgres")
_CITUS_SCHEMA = "?options=-csearch_path%3D"


@dataclass
class City:
    """A built (or reopened) demo city and what a benchmark needs to know of it."""

    ledger: Ledger
    url: str
    codes: list[str]  # trace codes, in fleet order
    folder: Path  # where the city, its keys and its planted truth (truth.json) live
    events: int
    built_in: float | None  # seconds, None when reopened
    temporary: bool

    def close(self) -> None:
        self.ledger.db.dispose()
        if self.temporary:
            if _CITUS_SCHEMA in self.url:
                _drop_citus(self.url)
            elif self.url.startswith("postgresql"):
                _drop_postgres(self.url)
            shutil.rmtree(self.folder, ignore_errors=True)


def add_city_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--size", choices=sorted(SIZES), default="small", help="a named demo size")
    parser.add_argument("--events", type=int, help="instead of --size: a city of about this many events")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--backend", choices=("sqlite", "postgresql", "citus"), default="sqlite")
    parser.add_argument("--keep", type=Path, help="build the city into this folder once and reuse it")


def _config(args: argparse.Namespace) -> CityConfig:
    return CityConfig.for_events(args.events) if args.events else SIZES[args.size]


def _drop_postgres(url: str) -> None:
    import psycopg

    with psycopg.connect(POSTGRES, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{url.rsplit("/", 1)[1]}" WITH (FORCE)')


def _drop_citus(url: str) -> None:
    import psycopg

    with psycopg.connect(CITUS, autocommit=True) as admin:
        admin.execute(f'DROP SCHEMA IF EXISTS "{url.rsplit("%3D", 1)[1]}" CASCADE')


def _database(args: argparse.Namespace, folder: Path, name: str) -> str:
    if args.backend == "sqlite":
        return f"sqlite:///{folder / 'city.db'}"
    import psycopg

    if args.backend == "citus":
        with psycopg.connect(CITUS, autocommit=True) as admin:
            admin.execute(f'CREATE SCHEMA IF NOT EXISTS "{name}"')
        return f"{CITUS}{_CITUS_SCHEMA}{name}"

    with psycopg.connect(POSTGRES, autocommit=True) as admin:
        exists = admin.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
        if not exists:
            admin.execute(f'CREATE DATABASE "{name}"')
    return POSTGRES.rsplit("/", 1)[0] + "/" + name


def open_city(args: argparse.Namespace, progress: Callable[[str], None] = print) -> City:
    """The city ``args`` describe: reopened from ``--keep`` when it matches, built otherwise."""
    config = _config(args)
    wanted = {"config": repr(config), "seed": args.seed, "backend": args.backend}
    temporary = args.keep is None
    folder = Path(tempfile.mkdtemp(prefix="cl-city-")) if temporary else args.keep
    folder.mkdir(parents=True, exist_ok=True)
    manifest = folder / "city.json"
    name = f"cl_city_{uuid.uuid4().hex[:8]}" if temporary else f"cl_city_{args.seed}_{config.estimated_events()}"
    settings = Settings(database_url=_database(args, folder, name), key_file=folder / "log.key",
                        label_key_file=folder / "label.key", personal_key_file=folder / "personal.key",
                        log_origin="bench.cylinder-ledger/log")
    if manifest.exists() and json.loads(manifest.read_text())["wanted"] == wanted:
        stored = json.loads(manifest.read_text())
        progress(f"reusing the city in {folder} ({stored['events']:,} events)")
        return City(Ledger(settings), settings.database_url, stored["codes"], folder, stored["events"], None, temporary)
    ensure_key(settings.key_file)
    ensure_key(settings.label_key_file)
    ensure_personal_keys(settings.personal_key_file)
    ledger = Ledger(settings)
    ledger.db.migrate()
    progress(f"building a city of about {config.estimated_events():,} events on {args.backend} "
             f"({config.users:,} end users, {config.days} days)")
    done, shown = [0], [time.perf_counter()]

    def tick(n: int) -> None:
        done[0] += n
        if time.perf_counter() - shown[0] > 10:
            shown[0] = time.perf_counter()
            progress(f"  {done[0]:,} events written")

    built = build_city(ledger, config, args.seed, progress=tick)
    with ledger.db.writing() as connection:
        ledger.sweep(connection, config.now)
    codes = [c.code for c in built.fleet if c.code]
    write_truth(folder / "truth.json", built.truth, built.meta())
    manifest.write_text(json.dumps({"wanted": wanted, "events": built.events, "codes": codes}))
    progress(f"built {built.events:,} events, {len(codes):,} cylinders in {built.seconds:.0f} s "
             f"({built.events / built.seconds:,.0f} events/s, custody rules on)")
    if built.rejections or built.missed:
        progress(f"  the city is not as planned: {len(built.rejections)} scans refused (first: "
                 f"{built.rejections[:1]}), plants without an opportunity: {built.missed}")
    return City(ledger, settings.database_url, codes, folder, built.events, built.seconds, temporary)


@dataclass
class Timing:
    count: int
    seconds: float
    samples: list[float]

    @property
    def rate(self) -> float:
        return self.count / self.seconds if self.seconds else float("inf")


def percentile(samples: list[float], share: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def measure(items: list, work: Callable[[object], object]) -> Timing:
    """Run ``work`` on each item, timing each call."""
    samples = []
    for item in items:
        start = time.perf_counter()
        work(item)
        samples.append(time.perf_counter() - start)
    return Timing(len(items), sum(samples), samples)


@contextmanager
def raw_cursor(ledger: Ledger) -> Iterator[object]:
    """A bare DB-API cursor on the ledger's database: the ceiling's way in."""
    raw = ledger.db.reader.raw_connection()
    try:
        yield raw.cursor()
    finally:
        raw.close()


def mark(ledger: Ledger) -> str:
    """The bare driver's parameter mark."""
    return "?" if ledger.db.is_sqlite else "%s"


def line(name: str, timing: Timing, unit: str, ceiling: Timing, how: str) -> str:
    p50, p95 = percentile(timing.samples, 0.5) * 1000, percentile(timing.samples, 0.95) * 1000
    return (f"{name}: {timing.rate:,.0f} {unit}/s (p50 {p50:.2f} ms, p95 {p95:.2f} ms); "
            f"ceiling ({how}): {ceiling.rate:,.0f}/s; ratio {timing.rate / ceiling.rate:.0%}")


def standalone(doc: str, run: Callable[[City, int], list[str]], count: int, option: str = "--samples") -> None:
    """The command line of a single benchmark over a demo city: build or reopen it, run, print."""
    parser = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_city_arguments(parser)
    parser.add_argument(option, dest="count", type=int, default=count)
    args = parser.parse_args()
    city = open_city(args)
    try:
        for text in run(city, args.count):
            print(text)
    finally:
        city.close()
