"""The provincial hub following three city ledgers at full ingest, and its lists and trace at size.

    python bench/hub.py [--events 200000] [--cylinders 20000] [--batch 1000] [--drive 30]
                        [--samples 100] [--backend sqlite|postgresql]
    python bench/hub.py --build hangzhou|ningbo|wenzhou --keep DIR --events 10000000 --cylinders 1000000
    python bench/hub.py --bare --keep DIR [--drive 30] [--samples 100] [--hub-interval 1]

At size (``--bare``, SQLite): each city is built through the bare core's append
path (``Ledger.record_batch`` without the custody rules, as bench/growth.py
does; ``--build`` builds one city in ``--keep``, so three can run side by side;
a build that was stopped is measured at the size it reached), a tenth of its
cylinders overdue. The hub's mirrors are bulk-copied from the cities'
databases (SQLite's online backup, claimed as mirrors of the cities' logs) and
``ledger hub serve`` opens them: its follower re-reads every leaf against the
city's signed root and verifies what the cities write after. Printed: the
follower's start, the follow lag while the three cities write, and over the
hub's HTTP API the risk list's first page (next to the cities' own first pages
fetched directly), the ``/risk`` page, and the cross-city trace (next to the
bare rows in each mirror and the hub's ``/healthz``), p50/p99 and ratios.

The default run, at a smaller size:

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
    bench_company,
    drop,
    populate,
    register_cylinders,
)
from ledger.config import Settings  # noqa: E402
from ledger.domain import EventKind, NewEvent, Role  # noqa: E402
from ledger.keys import ensure_key  # noqa: E402
from ledger.service import Actor, Ledger, Registration  # noqa: E402
from ledger.service import hub  # noqa: E402
from ledger.signednote import NoteVerifier  # noqa: E402
from ledger.storage import Database  # noqa: E402
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
    def __init__(self, backend: str, root: Path, name: str, slug: str, region: str, rules: bool = True) -> None:
        self.name, self.slug, self.region = name, slug, region
        self.folder = root / slug
        self.folder.mkdir(exist_ok=True)
        self.url = (f"sqlite:///{self.folder / 'city.db'}" if (self.folder / "city.db").exists()
                    else _database(backend, self.folder, "city"))
        self.origin = f"{slug}.bench/log"
        self.settings = Settings(database_url=self.url, key_file=self.folder / "log.key",
                                 label_key_file=self.folder / "label.key", log_origin=self.origin)
        ensure_key(self.settings.key_file)
        ensure_key(self.settings.label_key_file)
        self.ledger = Ledger(self.settings, rules=rules)
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

    def fill_bare(self, events: int, cylinders: int, batch: int, progress=print) -> float:
        """``events`` through the bare core's append path (``Ledger.record_batch``, no custody rules), as
        bench/growth.py grows its ledger: ``cylinders`` registered, a tenth of them past their inspection
        date, and fills spread over all of them. Events/s of the appends."""
        company, station = bench_company(self.ledger)
        overdue = cylinders // 10
        codes = register_cylinders(self.ledger, company, 0, cylinders - overdue, batch, prefix="G")
        late = [Registration(company, f"OVERDUE{n:07d}", "Bench Steel", date(2016, 3, 1), "YSP-15", 15.0, 15,
                             date(2019, 3, 1), date(2022, 3, 1), occurred_at=T0, idempotency_key=f"overdue-{n:08d}")
                for n in range(overdue)]
        for first in range(0, overdue, batch):
            with self.ledger.db.writing() as c:
                codes += [o.event.cylinder for o in self.ledger.register_batch(
                    c, ADMIN, late[first:first + batch], now=T0 + timedelta(seconds=1))]
        remaining, count, spent = events - cylinders, len(codes), 0.0
        now = T0 + timedelta(days=4000)
        for first in range(0, remaining, batch):
            items = [NewEvent(codes[(n * 7919) % count], EventKind.FILL, T0 + timedelta(days=1, seconds=n),
                              station.party, f"fill-{n:012d}", data={"net_kg": 14.5})
                     for n in range(first, min(first + batch, remaining))]
            tick = time.perf_counter()
            with self.ledger.db.writing() as c:
                outcomes = self.ledger.record_batch(c, station, items, now=now)
            spent += time.perf_counter() - tick
            if any(o.status != "created" for o in outcomes):
                raise SystemExit(f"{self.name}: a fill was not created exactly once")
            if (first // batch) % 200 == 0:
                progress(f"  {self.name}: {cylinders + first + len(items):,} events, {(first + len(items)) / spent:,.0f}/s")
        self.finish()
        return remaining / spent

    def finish(self) -> None:
        """The hub's account in the city and a checkpoint over everything written (also after an interrupted
        build, at the size it reached)."""
        with self.ledger.db.writing() as w:
            self.token = self.ledger.create_account(w, role=Role.REGULATOR, party=None, name="provincial hub")
        (self.folder / "token").write_text(self.token)
        self.ledger.checkpoint()

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


def bulk_mirror(city: City, mirror_url: str) -> int:
    """The city's database copied page by page (SQLite's online backup, one consistent snapshot) over its mirror's,
    and claimed as a mirror of the city's log: the bulk path that stands in for following from empty. The copy
    keeps the city's signed checkpoints; its leaves are checked against the latest one's root when the follower
    opens the mirror (``mirror.held_state``), their content against their hashes by ``ledger verify --mirror``.
    (It also keeps the city's registry rows, which a mirror does not hold; the hub reads only the events.)
    Returns the size copied."""
    import sqlite3

    target = Path(mirror_url.removeprefix("sqlite:///"))
    for leftover in (target, Path(f"{target}-wal"), Path(f"{target}-shm")):
        leftover.unlink(missing_ok=True)
    source = sqlite3.connect(str(city.folder / "city.db"))
    copy = sqlite3.connect(str(target), isolation_level=None)
    try:
        source.backup(copy, pages=65536)
        size, signed_at = copy.execute("SELECT size, signed_at FROM checkpoints ORDER BY size DESC LIMIT 1").fetchone()
        held = copy.execute("SELECT count(*) FROM events WHERE id >= ?", (size,)).fetchone()[0]
        if held:
            raise SystemExit(f"{city.name}: {held} events past its latest checkpoint; copy it before it writes")
        copy.execute("INSERT INTO mirrored_log (origin, vkey, url, since) VALUES (?, ?, ?, ?)",
                     (city.origin, city.ledger.verifier.vkey(), city.base, signed_at))
    finally:
        copy.close()
        source.close()
    return size


def drive(city: City, stop: threading.Event, batch: int) -> None:
    """Fills on the city's cylinders, a batch a transaction, as fast as the city takes them."""
    with city.ledger.db.reading() as c:
        station = next(p for p in city.ledger.parties(c, limit=1000) if p.name == "Bench Station")
    actor = Actor(Role.COMPANY, station.id, "bench station")
    codes = city.fills
    run = int(time.time())  # a database kept between runs gets new keys each run
    n = 0
    while not stop.is_set():
        items = [NewEvent(codes[(n + k) % len(codes)], EventKind.FILL, T0 + timedelta(days=2, seconds=n + k),
                          station.id, f"drive-{run}-{n + k:012d}", data={"net_kg": 14.5}) for k in range(batch)]
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
    parser.add_argument("--bare", action="store_true",
                        help="fill the cities through the bare core (no custody rules) and build the hub's mirrors "
                             "by copying each city's signed rows, the follower verifying them and the tail")
    parser.add_argument("--hub-interval", type=float, default=1.0,
                        help="with --bare: seconds between the served hub's follow rounds")
    parser.add_argument("--keep", type=Path, help="a folder to build the cities in and reuse (SQLite, with --bare)")
    parser.add_argument("--build", choices=[c[1] for c in CITIES],
                        help="only build this city in --keep (one process per city) and exit")
    args = parser.parse_args()
    if args.build:
        name, slug, region = next(c for c in CITIES if c[1] == args.build)
        city = City("sqlite", args.keep, name, slug, region, rules=False)
        if (city.folder / "token").exists():
            raise SystemExit(f"{city.folder} is built already")
        start = time.perf_counter()
        rate = city.fill_bare(args.events // 3, args.cylinders // 3, args.batch)
        print(f"{name}: built in {time.perf_counter() - start:.0f} s, appends {rate:,.0f} events/s")
        city.ledger.db.dispose()
        return

    if args.bare:
        bare(args)
        return

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

            verified = _print_follow(cities, store, follower, args)
            print(f"raw insert ceiling (same rows and indexes, one database): {ceiling:,.0f} rows/s; "
                  f"the hub's rate is {verified / ceiling:.2f} of it")

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


def _print_follow(cities: list[City], store: HubStore, follower: Follower, args) -> float:
    """Follow while every city writes for ``--drive`` seconds; prints the rates and the lag; the hub's rate."""
    lags, seconds, checked = _follow_under_load(cities, store, follower, args)
    ingest = sum(city.written for city in cities) / args.drive
    verified = checked / args.drive
    print(f"three cities' ingest while followed: {ingest:,.0f} events/s "
          f"({', '.join(f'{c.written / args.drive:,.0f}' for c in cities)})")
    print(f"hub verified while they wrote: {verified:,.0f} events/s; ratio to the cities' ingest {verified / ingest:.2f}")
    print(f"lag (city checkpoint size - hub verified size), events: p50 {percentile(lags, 0.5):,.0f}, "
          f"p99 {percentile(lags, 0.99):,.0f}, max {max(lags):,.0f}")
    if seconds:
        print(f"lag, seconds from a city's checkpoint to the hub verifying it: p50 {percentile(seconds, 0.5):.2f}, "
              f"p99 {percentile(seconds, 0.99):.2f} ({len(seconds)} checkpoints)")
    return verified


def _caught_up(store: HubStore, cities: list[City]) -> bool:
    return all(c.size >= cc.checkpoint_size(httpx) for c, cc in zip(store.cities(), _ordered(store, cities)))


def bare(args) -> None:
    """The cities built through the bare core in ``--keep`` (``--build``, one process per city, or here one after
    another), the hub's mirrors bulk-copied from them, then the follower verifying them and following the cities
    while they write, and the hub served by ``ledger hub serve`` answering over HTTP."""
    root: Path = args.keep or Path(tempfile.mkdtemp(prefix="cl-bench-hub-"))
    root.mkdir(parents=True, exist_ok=True)
    cities = [City("sqlite", root, *c, rules=False) for c in CITIES]
    for city in cities:
        if not (city.folder / "token").exists() and (city.folder / "city.db").stat().st_size > 10**8:
            print(f"{city.name}: its build was stopped; the hub is measured at the size it reached")
            city.finish()
        if not (city.folder / "token").exists():
            start = time.perf_counter()
            rate = city.fill_bare(args.events // 3, args.cylinders // 3, args.batch)
            print(f"{city.name}: built in {time.perf_counter() - start:.0f} s, appends {rate:,.0f} events/s")
        city.token = (city.folder / "token").read_text().strip()
        with city.ledger.db.reading() as c:
            city.fills = [r[0] for r in c.execute(text(
                "SELECT id FROM cylinders WHERE serial NOT LIKE 'OVERDUE%' ORDER BY id LIMIT 100000"))]
            city.codes = [r[0] for r in c.execute(text(
                "SELECT id FROM cylinders WHERE serial LIKE 'OVERDUE%' ORDER BY id LIMIT 2000"))]
            city.overdue = c.execute(text("SELECT count(*) FROM cylinders WHERE serial LIKE 'OVERDUE%'")).scalar()
    run = root / f"hub-{int(time.time())}"
    run.mkdir()
    hub_url = f"sqlite:///{run / 'hub.db'}"
    store, witness = HubStore(hub_url), WitnessStore(hub_url)
    store.create()
    witness.create()
    served: subprocess.Popen | None = None
    try:
        sizes = []
        for city in cities:
            city.serve()
            with city.ledger.db.reading() as c:
                sizes.append(c.execute(text("SELECT max(size) FROM checkpoints")).scalar())
        load = os.getloadavg()
        print(f"hub over three cities on sqlite, built through the bare core: {sum(sizes):,} events "
              f"({', '.join(f'{s:,}' for s in sizes)}), overdue {', '.join(f'{c.overdue:,}' for c in cities)}; "
              f"load average {load[0]:.1f}")
        start = time.perf_counter()
        for city in cities:
            mirror = f"sqlite:///{run / ('mirror_' + city.slug + '.db')}"
            follow_city(store, witness, hub_url, city.name, city.base, city.ledger.verifier, city.token,
                        city.region, mirror)
            bulk_mirror(city, mirror)
        print(f"  mirrors bulk-copied from the cities' databases in {time.perf_counter() - start:.0f} s")
        served, base, token = _serve_hub(run, hub_url, store, witness, args.hub_interval)
        while not _caught_up(store, cities):
            time.sleep(0.2)
        _print_follow(cities, store, None, args)
        start = time.perf_counter()
        while not _caught_up(store, cities):
            time.sleep(0.2)
        print(f"  caught up {time.perf_counter() - start:.1f} s after the writers stopped")
        _http_queries(cities, store, base, token, args.samples)
    finally:
        if served is not None:
            served.terminate()
            served.wait(30)
        for city in cities:
            city.stop()
        store.dispose()
        witness.dispose()
        for path in run.glob("*"):
            path.unlink()
        run.rmdir()


def _serve_hub(run: Path, hub_url: str, store: HubStore, witness: WitnessStore,
               interval: float) -> tuple[subprocess.Popen, str, str]:
    """``ledger hub serve`` on the hub's database, its follower every ``interval`` seconds; returns once
    that follower has opened every mirror (every leaf re-read against the signed root) and verified the tail."""
    from tools.hub import setup_witness

    setup_witness(witness, "hub.bench/witness", run / "hub-witness.key")
    token = store.create_account("bench regulator")
    port = _port()
    since = int(time.time())
    process = subprocess.Popen(
        [sys.executable, "-m", "tools.cli", "hub", "serve", "--db", hub_url, "--port", str(port), "--interval", str(interval)],
        env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}, cwd=run,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    start = time.perf_counter()
    while time.perf_counter() - start < 900:
        try:
            if httpx.get(f"{base}/healthz", timeout=1).status_code == 200 and all(
                    (c.checked_at or 0) > since and c.status == "ok" for c in store.cities()):
                print(f"  ledger hub serve up, its follower through a first round (every mirror's leaves re-read "
                      f"against the signed root, the tail verified) in {time.perf_counter() - start:.1f} s")
                return process, base, token
        except httpx.TransportError:
            pass
        time.sleep(0.5)
    process.terminate()
    raise SystemExit("ledger hub serve did not come up")


def _http_queries(cities: list[City], store: HubStore, base: str, token: str, samples: int) -> None:
    size = sum(c.size for c in store.cities())
    print(f"queries through the hub's API over HTTP at {size:,} events held by the hub:")
    auth = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=base, headers=auth, timeout=60) as client, httpx.Client(timeout=60) as direct:
        def first_page(_: object) -> None:
            answer = client.get("/v1/province/risk/cylinders", params={"reason": "overdue_inspection", "limit": 200})
            assert answer.status_code == 200 and len(answer.json()["items"]) == 200, answer.text[:300]

        def own_pages(_: object) -> None:
            for city in cities:
                answer = direct.get(f"{city.base}/v1/risk/cylinders", params={
                    "reason": "overdue_inspection", "limit": 200}, headers={"Authorization": f"Bearer {city.token}"})
                assert answer.status_code == 200, answer.text[:300]

        def page(_: object) -> None:
            answer = client.get("/risk", params={"reason": "overdue_inspection"})
            assert answer.status_code == 200 and "next-page" in answer.text, answer.text[:300]

        rounds = list(range(samples))
        own_pages(None)
        risk = measure(rounds, first_page)
        print(_line("provincial risk list, first page (200 rows of "
                    f"{sum(c.overdue for c in cities):,}; GET /v1/province/risk/cylinders)", risk,
                    measure(rounds, own_pages), "the three cities' own first pages of 200, fetched one after another"))
        print(_line("the /risk page (the same first page, rendered)", measure(rounds, page), risk,
                    "the JSON first page above"))
        codes = random.Random(7).sample([code for city in cities for code in city.codes], samples)
        others = random.Random(8).sample([code for city in cities for code in city.fills], samples)
        traced_codes = [code for pair in zip(codes, others) for code in pair]

        def traced(code: object) -> None:
            answer = client.get(f"/v1/province/cylinders/{code}/trace")
            assert answer.status_code == 200 and answer.json()["intact"], answer.text[:300]

        def floor(_: object) -> None:
            assert client.get("/healthz").status_code == 200

        views = [Database(c.mirror_url) for c in store.cities()]
        try:
            def bare_rows(code: object) -> None:
                for view in views:
                    with view.reading() as c:
                        c.execute(text("SELECT * FROM events WHERE cylinder = :c ORDER BY seq"), {"c": code}).fetchall()

            trace = measure(traced_codes, traced)
            print(_line(f"cross-city trace over HTTP ({len(traced_codes)} cylinders, three mirrors)", trace,
                        measure(traced_codes, bare_rows), "the bare SELECT of the cylinder's rows in each mirror"))
            print(_line("  the same, next to the hub's HTTP floor", trace, measure(traced_codes, floor),
                        "GET /healthz on the hub, same client"))
        finally:
            for view in views:
                view.dispose()


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
    if follower is not None:  # else a served hub follows
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
    rounds = list(range(max(5, samples // 10)))
    risk = measure(rounds, lambda _: hub.risk_page(views, "overdue_inspection", limit=200))
    def direct(_: object) -> None:
        for city in cities:
            httpx.get(f"{city.base}/v1/risk/cylinders", params={"reason": "overdue_inspection", "limit": 200},
                      headers={"Authorization": f"Bearer {city.token}"}, timeout=60).raise_for_status()

    print(_line("provincial risk list, first page of 200 (the three cities' overdue lists)", risk,
                measure(rounds, direct), "the three cities' own first pages of 200, fetched directly"))
    codes = random.Random(7).sample([code for city in cities for code in city.codes], samples)
    traced = measure(codes, lambda code: hub.trace(views, code))

    def bare_rows(code: object) -> None:
        for view in views:
            with view.mirror.reading() as c:
                c.execute(text("SELECT * FROM events WHERE cylinder = :c ORDER BY seq"), {"c": code}).fetchall()

    print(_line("trace across the three mirrors (in-process)", traced, measure(codes, bare_rows),
                "the bare SELECT of the cylinder's rows in each mirror"))


def _line(name: str, timing: Timing, ceiling: Timing, how: str) -> str:
    p50, p99 = percentile(timing.samples, 0.5) * 1000, percentile(timing.samples, 0.99) * 1000
    c50, c99 = percentile(ceiling.samples, 0.5) * 1000, percentile(ceiling.samples, 0.99) * 1000
    return (f"{name}: p50 {p50:.1f} ms, p99 {p99:.1f} ms; ceiling ({how}): p50 {c50:.1f} ms, p99 {c99:.1f} ms; "
            f"ratio (ceiling / this) p50 {c50 / p50:.0%}, p99 {c99 / p99:.0%}")


if __name__ == "__main__":
    main()
