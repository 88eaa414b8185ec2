"""The provincial hub following three city ledgers at full ingest, and its lists and trace at size.

    python bench/hub.py [--events 200000] [--cylinders 20000] [--batch 1000] [--drive 30]
                        [--samples 100] [--backend sqlite|postgresql]

Three city ledgers are filled (``--events`` in all, a third each, through
``Ledger.ingest_one`` as bench/ingest.py does; a tenth of each city's
cylinders registered past their inspection date so the overdue list has rows),
and each is served by its own ``ledger serve`` on a loopback port, with its own
log origin and a checkpoint every half second. The hub (``tools.hub.Follower``,
the round ``ledger hub serve`` runs, here in a thread without pause between
rounds) follows all three into verified mirrors.

Then, for ``--drive`` seconds, one writer per city appends fills as fast as the
city takes them while a sampler reads, twice a second, each city's signed
checkpoint (``GET /v1/log/checkpoint``) and the size the hub has verified of
it. Printed: the cities' combined ingest, the hub's verified rate, the lag in
events (p50/p99/max) and in seconds (how long after a city's checkpoint showed
a size the hub had verified that much: p50/p99), and the ceiling measured in
the same run: the raw insert rate of the same rows into a twin table
(bench/ingest.py), which bounds what the cities and the hub can each write.

Last, with the writers stopped and the hub caught up: the provincial risk list
(``hub.province_risk``: every city's overdue list, fetched page by page over
HTTP, fields filtered) and a trace across the three mirrors
(``hub.trace``), p50/p99 over ``--samples`` runs; each next to its ceiling
measured in the same run (the three cities' own list answers fetched directly;
the bare SELECT of a cylinder's rows in each mirror by its index).
"""

from __future__ import annotations

import argparse
import os
import random
import socket
import subprocess
import sys
import tempfile
import threading
import time
from datetime import date, timedelta
from pathlib import Path

import httpx
from sqlalchemy import text

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import Timing, measure, percentile  # noqa: E402
from bench.ingest import (  # noqa: E402
    POSTGRES,
    T0,
    ceiling_postgres,
    ceiling_sqlite,
    drop,
    populate,
)
from ledger.config import Settings  # noqa: E402
from ledger.domain import EventKind, NewEvent, Role  # noqa: E402
from ledger.keys import ensure_key  # noqa: E402
from ledger.service import Actor, Ledger, Registration  # noqa: E402
from ledger.service import hub  # noqa: E402
from ledger.signednote import NoteVerifier  # noqa: E402
from ledger.storage.hub import HubStore  # noqa: E402
from ledger.storage.witness import WitnessStore  # noqa: E402
from tools.hub import Follower, follow_city  # noqa: E402

CITIES = (("杭州", "hangzhou", "330100"), ("宁波", "ningbo", "330200"), ("温州", "wenzhou", "330300"))
ADMIN = Actor(Role.ADMIN, None, "bench")


def _port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _database(backend: str, folder: Path, name: str) -> str:
    if backend == "sqlite":
        return f"sqlite:///{folder / (name + '.db')}"
    import uuid

    import psycopg

    database = f"cl_bench_{name}_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(POSTGRES, autocommit=True, connect_timeout=3) as admin:
        admin.execute(f'CREATE DATABASE "{database}"')
    return POSTGRES.rsplit("/", 1)[0] + "/" + database


class City:
    def __init__(self, backend: str, root: Path, name: str, slug: str, region: str) -> None:
        self.name, self.slug, self.region = name, slug, region
        self.folder = root / slug
        self.folder.mkdir()
        self.url = _database(backend, self.folder, "city")
        self.origin = f"{slug}.bench/log"
        self.settings = Settings(database_url=self.url, key_file=self.folder / "log.key",
                                 label_key_file=self.folder / "label.key", log_origin=self.origin)
        ensure_key(self.settings.key_file)
        ensure_key(self.settings.label_key_file)
        self.ledger = Ledger(self.settings)
        self.ledger.db.migrate()
        self.process: subprocess.Popen | None = None
        self.base = ""
        self.written = 0
        self.codes: list[str] = []  # on the overdue list
        self.fills: list[str] = []  # the rest, which the writers fill

    def fill(self, events: int, cylinders: int, batch: int) -> float:
        """``events`` in all over ``cylinders``; a tenth more cylinders overdue for inspection. Events/s."""
        timings = populate(self.ledger, events, cylinders, batch, progress=lambda _: None)
        with self.ledger.db.reading() as c:
            company = next(p.id for p in self.ledger.parties(c, limit=1000) if p.name == "Bench Gas")
        overdue = [Registration(company, f"OVERDUE{n:07d}", "Bench Steel", date(2016, 3, 1), "YSP-15", 15.0, 15,
                                date(2019, 3, 1), date(2022, 3, 1), occurred_at=T0, idempotency_key=f"overdue-{n:08d}")
                   for n in range(cylinders // 10)]
        for first in range(0, len(overdue), batch):
            with self.ledger.db.writing() as c:
                refused = [o for o in self.ledger.register_batch(c, ADMIN, overdue[first:first + batch],
                                                                   now=T0 + timedelta(seconds=1)) if o.status != "created"]
            if refused:
                raise SystemExit(f"{self.name}: an overdue cylinder was refused: {refused[0]}")
        with self.ledger.db.reading() as c:
            self.codes = [row["cylinder"] for row in self.ledger.risk_cylinders(
                c, reason="overdue_inspection", region=None, owner=None, cursor=None, limit=1000)["items"]]
            self.fills = [row[0] for row in c.execute(text(
                "SELECT id FROM cylinders WHERE serial NOT LIKE 'OVERDUE%' ORDER BY id LIMIT 100000"))]
            with self.ledger.db.writing() as w:
                self.token = self.ledger.create_account(w, role=Role.REGULATOR, party=None, name="provincial hub")
        self.ledger.checkpoint()
        return timings["appended"] / timings["append_s"]

    def serve(self) -> None:
        port = _port()
        env = {**os.environ, "LEDGER_KEY_FILE": str(self.settings.key_file),
               "LEDGER_LABEL_KEY_FILE": str(self.settings.label_key_file), "LEDGER_LOG_ORIGIN": self.origin,
               "LEDGER_CHECKPOINT_INTERVAL": "0.5", "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
        self.process = subprocess.Popen(
            [sys.executable, "-m", "tools.cli", "serve", "--db", self.url, "--port", str(port)],
            env=env, cwd=self.folder, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.base = f"http://127.0.0.1:{port}"
        for _ in range(600):
            try:
                if httpx.get(f"{self.base}/healthz", timeout=1).status_code == 200:
                    return
            except httpx.TransportError:
                time.sleep(0.1)
        raise SystemExit(f"ledger serve for {self.name} did not come up")

    def checkpoint_size(self, client: httpx.Client) -> int:
        note = client.get(f"{self.base}/v1/log/checkpoint").text
        return int(note.splitlines()[1])

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(30)
        self.ledger.db.dispose()


def drive(city: City, stop: threading.Event, batch: int) -> None:
    """Fills on the city's cylinders, a batch a transaction, as fast as the city takes them."""
    with city.ledger.db.reading() as c:
        station = next(p for p in city.ledger.parties(c, limit=1000) if p.name == "Bench Station")
    actor = Actor(Role.COMPANY, station.id, "bench station")
    codes = city.fills
    n = 0
    while not stop.is_set():
        items = [NewEvent(codes[(n + k) % len(codes)], EventKind.FILL, T0 + timedelta(days=2, seconds=n + k),
                          station.id, f"drive-{n + k:012d}", data={"net_kg": 14.5}) for k in range(batch)]
        outcomes = city.ledger.ingest_one(actor, items, T0 + timedelta(days=400))
        city.written += sum(1 for o in outcomes if o.status == "created")
        n += batch


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=200_000, help="in all, a third per city")
    parser.add_argument("--cylinders", type=int, default=20_000, help="in all, a third per city")
    parser.add_argument("--batch", type=int, default=1000)
    parser.add_argument("--drive", type=float, default=30.0, help="seconds of writes while the hub follows")
    parser.add_argument("--samples", type=int, default=100)
    parser.add_argument("--backend", choices=("sqlite", "postgresql"), default="sqlite")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="cl-bench-hub-") as tmp:
        root = Path(tmp)
        cities = [City(args.backend, root, *c) for c in CITIES]
        hub_url = _database(args.backend, root, "hub")
        store, witness = HubStore(hub_url), WitnessStore(hub_url)
        store.create()
        witness.create()
        follower = Follower(store)
        mirrors: list[str] = []
        try:
            print(f"hub over three cities on {args.backend}: {args.events:,} events over "
                  f"{args.cylinders:,} cylinders (+10% overdue)")
            start = time.perf_counter()
            rates = [city.fill(args.events // 3, args.cylinders // 3, args.batch) for city in cities]
            print(f"  cities filled in {time.perf_counter() - start:.0f} s; ingest per city "
                  f"{', '.join(f'{r:,.0f}' for r in rates)} events/s")
            if args.backend == "sqlite":
                rows, elapsed = ceiling_sqlite(cities[0].folder / "city.db", args.batch)
            else:
                rows, elapsed = ceiling_postgres(cities[0].url, args.batch)
            ceiling = rows / elapsed
            for city in cities:
                city.serve()
                mirror = _database(args.backend, root, f"mirror_{city.slug}")
                mirrors.append(mirror)
                follow_city(store, witness, hub_url, city.name, city.base, city.ledger.verifier, city.token,
                            city.region, mirror)
            start = time.perf_counter()
            while not all(c.size >= cc.checkpoint_size(httpx) for c, cc in zip(store.cities(), _ordered(store, cities))):
                follower.round()
            catch_up = time.perf_counter() - start
            held = sum(c.size for c in store.cities())
            print(f"  hub caught up from empty: {held:,} entries in {catch_up:.1f} s ({held / catch_up:,.0f}/s)")

            lags, seconds, checked = _follow_under_load(cities, store, follower, args)
            total_written = sum(city.written for city in cities)
            ingest = total_written / args.drive
            verified = checked / args.drive
            print(f"three cities' ingest while followed: {ingest:,.0f} events/s "
                  f"({', '.join(f'{c.written / args.drive:,.0f}' for c in cities)})")
            print(f"hub verified while they wrote: {verified:,.0f} events/s; "
                  f"ratio to the cities' ingest {verified / ingest:.2f}")
            print(f"lag (city checkpoint size - hub verified size), events: p50 {percentile(lags, 0.5):,.0f}, "
                  f"p99 {percentile(lags, 0.99):,.0f}, max {max(lags):,.0f}")
            if seconds:
                print(f"lag, seconds from a city's checkpoint to the hub verifying it: "
                      f"p50 {percentile(seconds, 0.5):.2f}, p99 {percentile(seconds, 0.99):.2f} "
                      f"({len(seconds)} checkpoints)")
            print(f"raw insert ceiling (same rows and indexes, one database): {ceiling:,.0f} rows/s; "
                  f"the hub's rate is {verified / ceiling:.2f} of it, the cities' {ingest / ceiling:.2f}")

            while not all(c.size >= cc.checkpoint_size(httpx) for c, cc in zip(store.cities(), _ordered(store, cities))):
                follower.round()
            _queries(cities, follower, args.samples, sum(c.size for c in store.cities()))
        finally:
            for city in cities:
                city.stop()
            follower.close()
            store.dispose()
            witness.dispose()
            for url in [c.url for c in cities] + mirrors + [hub_url]:
                drop(url)


def _ordered(store: HubStore, cities: list[City]) -> list[City]:
    by_name = {c.name: c for c in cities}
    return [by_name[c.name] for c in store.cities()]


def _follow_under_load(cities: list[City], store: HubStore, follower: Follower, args) -> tuple[list, list, int]:
    stop = threading.Event()
    before = sum(c.size for c in store.cities())

    def keep_following() -> None:
        while not stop.is_set():
            follower.round()

    threads = [threading.Thread(target=drive, args=(city, stop, args.batch), daemon=True) for city in cities]
    threads.append(threading.Thread(target=keep_following, daemon=True))
    for thread in threads:
        thread.start()
    lags: list[float] = []
    seconds: list[float] = []
    waiting: dict[str, list[tuple[int, float]]] = {c.name: [] for c in cities}
    end = time.perf_counter() + args.drive
    with httpx.Client(timeout=30) as client:
        while time.perf_counter() < end:
            now = time.perf_counter()
            held = {c.name: c.size for c in store.cities()}
            for city in cities:
                size = city.checkpoint_size(client)
                lags.append(max(0, size - held[city.name]))
                waiting[city.name].append((size, now))
                still = []
                for wanted, since in waiting[city.name]:
                    if held[city.name] >= wanted:
                        seconds.append(now - since)
                    else:
                        still.append((wanted, since))
                waiting[city.name] = still
            time.sleep(0.5)
    stop.set()
    for thread in threads:
        thread.join(120)
    after = sum(c.size for c in store.cities())
    return lags, seconds, after - before


def _queries(cities: list[City], follower: Follower, samples: int, size: int) -> None:
    views = follower.views()
    print(f"queries at {size:,} events held by the hub ({size // 3:,} a city):")
    risk = measure(list(range(max(5, samples // 10))), lambda _: hub.province_risk(views, "overdue_inspection"))
    rows = len(hub.province_risk(views, "overdue_inspection")["items"])

    def direct(_: object) -> None:
        for city in cities:
            cursor = None
            while True:
                answer = httpx.get(f"{city.base}/v1/risk/cylinders", params={
                    "reason": "overdue_inspection", "limit": 1000, **({"cursor": cursor} if cursor else {})},
                    headers={"Authorization": f"Bearer {city.token}"}, timeout=60).json()
                cursor = answer.get("next_cursor")
                if not cursor:
                    break

    own = measure(list(range(max(5, samples // 10))), direct)
    print(_line(f"provincial risk list (overdue, {rows:,} rows from three cities)", risk, own,
                "the three cities' own list answers fetched directly"))
    codes = random.Random(7).sample([code for city in cities for code in city.codes], samples)
    traced = measure(codes, lambda code: hub.trace(views, code))
    def bare(code: object) -> None:
        for view in views:
            with view.mirror.reading() as c:
                c.execute(text("SELECT * FROM events WHERE cylinder = :c ORDER BY seq"), {"c": code}).fetchall()

    print(_line("trace across the three mirrors", traced, measure(codes, bare),
                "the bare SELECT of the cylinder's rows in each mirror"))


def _line(name: str, timing: Timing, ceiling: Timing, how: str) -> str:
    p50, p99 = percentile(timing.samples, 0.5) * 1000, percentile(timing.samples, 0.99) * 1000
    c50 = percentile(ceiling.samples, 0.5) * 1000
    return (f"{name}: p50 {p50:.1f} ms, p99 {p99:.1f} ms; ceiling ({how}): p50 {c50:.1f} ms; "
            f"ratio {c50 / p50:.0%}")


if __name__ == "__main__":
    main()
