"""The ledger on a Citus cluster: no write waits on a global lock, and what each node pays for ingest.

    python bench/cluster.py writers [--writers 48] [--events 20]
    python bench/cluster.py ingest [--events 20000] [--cylinders 2000] [--batch 500] [--no-rules]
    python bench/cluster.py reads [--events 1000000] [--cylinders 20000]

The coordinator's URL is ``LEDGER_BENCH_CITUS`` (else ``LEDGER_TEST_CITUS``); each run works in a
schema of its own on the coordinator's database and drops it at the end.

With ``LEDGER_BENCH_LOCK`` naming a lock file, only the schema's creation and removal take it
(Citus deadlocks when two sessions distribute schemas at once); the rest runs beside others.

``writers``: ``bench/writers.py`` on the cluster. Each of ``--writers`` threads records single events
through the ingest use case (``Ledger.ingest_one``, rules on), first each on a cylinder of its own,
then all on one cylinder. Every 5 ms the lock requests not yet granted are counted on each node
(``pg_locks``, one connection per node): ``advisory`` on the coordinator is the log lock (only the
sequencer takes it on the ingest path), ``transactionid``/``tuple`` on a worker are a cylinder's row
lock. Run it alone on the cluster: the sampler sees every database user's locks.

``ingest``: ``bench/ingest.py``'s workload (``--events`` over ``--cylinders``, ``--batch`` events a
call) on a single PostgreSQL node (``LEDGER_TEST_POSTGRES``), then on the cluster with every shard of
the run's schema moved to one worker (coordinator + 1 worker), then spread over both workers as
``ledger init`` leaves them (coordinator + 2 workers). Each run is put next to ``COPY`` of the same
rows into an identical table in the same place (a distributed table co-located with the events on
the cluster), in transactions of the same size. On the cluster it also reports the CPU time each
server spent per event (its postmaster and backends, from ``/proc``, read before and after; the
servers must run on this machine, as ``.ci/citus-cluster`` starts them) and the client's own.

``reads``: trace p50/p99 and the risk lists' first page on a cluster holding ``--events``. The
cylinders are registered through the ledger; the other events are fills appended with ``COPY`` of
valid rows (``bulk_fills``: each the next link of its chain, hashed as the append path hashes it,
with its position and ``log_index`` row), since the append path on this machine would take hours
for millions. The rules and projections are not run for them.
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import fcntl
import os
import sys
import tempfile
import threading
import time
import uuid
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import psycopg  # noqa: E402

from bench.ingest import T0, ceiling_postgres, copy_into_ceiling, drop, open_ledger, populate  # noqa: E402
from bench.writers import run as run_writers  # noqa: E402
from ledger.config import Settings  # noqa: E402
from ledger.keys import ensure_key  # noqa: E402
from ledger.service import Ledger  # noqa: E402
from ledger.storage.db import Database  # noqa: E402
from ledger.storage.events import COLUMNS  # noqa: E402

COORDINATOR = os.environ.get("LEDGER_BENCH_CITUS") or os.environ.get("LEDGER_TEST_CITUS", "")
_TICKS = os.sysconf("SC_CLK_TCK")


def _admin() -> psycopg.Connection:
    if not COORDINATOR:
        raise SystemExit("set LEDGER_BENCH_CITUS (or LEDGER_TEST_CITUS) to a Citus coordinator's URL")
    return psycopg.connect(COORDINATOR.replace("postgresql+psycopg://", "postgresql://"), autocommit=True)


@contextlib.contextmanager
def _ddl_turn():
    """Citus deadlocks when two sessions distribute schemas at once: with ``LEDGER_BENCH_LOCK`` set, the
    schema's creation and removal take that file's lock (the rest of the run does not)."""
    path = os.environ.get("LEDGER_BENCH_LOCK")
    if not path:
        yield
        return
    with open(path, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def open_cluster_ledger(folder: Path, rules: bool = True) -> tuple[Ledger, str, str]:
    """A ledger in a fresh schema on the coordinator, migrated and distributed: (ledger, url, schema)."""
    schema = f"cl_bench_{uuid.uuid4().hex[:8]}"
    url = f"{COORDINATOR}?options=-csearch_path%3D{schema}"
    settings = Settings(database_url=url, key_file=folder / "log.key", label_key_file=folder / "label.key")
    ensure_key(settings.key_file)
    ensure_key(settings.label_key_file)
    ledger = Ledger(settings, rules=rules)
    with _ddl_turn():
        with _admin() as admin:
            admin.execute(f'CREATE SCHEMA "{schema}"')
        ledger.db.migrate()
    return ledger, url, schema


def drop_schema(schema: str) -> None:
    with _ddl_turn(), _admin() as admin:
        admin.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


def workers() -> list[tuple[str, int]]:
    with _admin() as admin:
        return [(h, int(p)) for h, p in admin.execute(
            "SELECT nodename, nodeport FROM pg_dist_node WHERE noderole = 'primary' AND shouldhaveshards "
            "AND groupid <> 0 ORDER BY nodeport")]


def gather_on_one_worker(schema: str) -> int:
    """Move every shard of ``schema``'s co-location group to the first worker; returns how many moved."""
    (host, port), *_ = workers()
    moved = 0
    with _admin() as admin:
        shards = admin.execute(
            "SELECT s.shardid, n.nodename, n.nodeport FROM pg_dist_shard s JOIN pg_dist_placement p USING (shardid) "
            "JOIN pg_dist_node n USING (groupid) WHERE s.logicalrelid = %s::regclass AND n.nodeport <> %s",
            (f'"{schema}".cylinders', port)).fetchall()
        for shard, source_host, source_port in shards:
            admin.execute("SELECT citus_move_shard_placement(%s, %s, %s, %s, %s, shard_transfer_mode => 'block_writes')",
                          (shard, source_host, source_port, host, port))
            moved += 1
    return moved


# -- per-server CPU time -------------------------------------------------------------------------


def _postmasters() -> dict[int, int]:
    """port -> postmaster pid of the cluster's servers on this machine (from their data directories)."""
    with _admin() as admin:
        ports = [int(p) for (p,) in admin.execute("SELECT nodeport FROM pg_dist_node WHERE noderole = 'primary'")]
        data = Path(admin.execute("SHOW data_directory").fetchone()[0]).parent
    found = {}
    for port in ports:
        pidfile = data / str(port) / "postmaster.pid"
        if pidfile.exists():
            found[port] = int(pidfile.read_text().split()[0])
    return found


def _cpu_of(postmaster: int) -> float:
    """CPU seconds of a server: its postmaster (with the reaped backends' time) and its live backends."""
    total = 0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        pid, parent = int(entry.name), int(fields[1])
        if pid == postmaster:
            total += sum(int(f) for f in fields[11:15])  # utime, stime, cutime, cstime
        elif parent == postmaster:
            total += int(fields[11]) + int(fields[12])
    return total / _TICKS


def cpu_snapshot(postmasters: dict[int, int]) -> dict[str, float]:
    snapshot = {str(port): _cpu_of(pid) for port, pid in postmasters.items()}
    usage = os.times()
    snapshot["client"] = usage.user + usage.system
    return snapshot


# -- writers -------------------------------------------------------------------------------------


def _sample_nodes(stop: threading.Event, seen: collections.Counter) -> None:
    with _admin() as admin:
        nodes = [(int(p), f"host={h} port={p} dbname={admin.info.dbname} user={admin.info.user}")
                 for h, p in admin.execute("SELECT nodename, nodeport FROM pg_dist_node WHERE noderole = 'primary'")]
    connections = [(port, psycopg.connect(dsn, autocommit=True)) for port, dsn in nodes]
    try:
        while not stop.is_set():
            for port, connection in connections:
                for locktype, waiting in connection.execute(
                        "SELECT locktype, COUNT(*) FROM pg_locks WHERE NOT granted GROUP BY locktype"):
                    seen[(port, locktype)] += waiting
            seen["samples"] += 1
            stop.wait(0.005)
    finally:
        for _, connection in connections:
            connection.close()


def bench_writers(args) -> None:
    from bench.ingest import bench_company, register_cylinders

    with tempfile.TemporaryDirectory(prefix="cl-bench-") as tmp:
        ledger, url, schema = open_cluster_ledger(Path(tmp))
        try:
            ledger.db.dispose()
            ledger.db = Database(url, pool_size=args.writers + 4)
            company, station = bench_company(ledger)
            codes = register_cylinders(ledger, company, 0, args.writers, args.writers)
            print(f"{args.writers} writers x {args.events} single events on the cluster "
                  f"(coordinator + {len(workers())} workers), rules on")
            for label, cylinders, tag in (("distinct cylinders", codes, "d"), ("one cylinder", codes[:1], "s")):
                seen: collections.Counter = collections.Counter()
                stop = threading.Event()
                sampler = threading.Thread(target=_sample_nodes, args=(stop, seen))
                sampler.start()
                try:
                    # bench/writers.py's run, its own single-node sampler off (the url is not a plain postgresql one)
                    result = run_writers(ledger, "citus:" + url, station, cylinders, args.writers, args.events, tag)
                finally:
                    stop.set()
                    sampler.join()
                samples = max(seen.pop("samples", 1), 1)
                waits = ", ".join(f"{locktype} on :{port} {count / samples:.2f}"
                                  for (port, locktype), count in sorted(seen.items())) or "none"
                print(f"{label}: {result['rate']:,.0f} events/s, p50 {result['p50']:.1f} ms, p99 {result['p99']:.1f} ms; "
                      f"lock requests waiting, on average per 5 ms sample: {waits}")
        finally:
            ledger.db.dispose()
            drop_schema(schema)


# -- ingest --------------------------------------------------------------------------------------


def cluster_ceiling(url: str, batch: int) -> tuple[int, float]:
    """COPY of the stored rows into a distributed twin of ``events``, co-located with it."""
    with psycopg.connect(url.replace("postgresql+psycopg", "postgresql")) as conn:
        conn.execute("CREATE TABLE ceiling (LIKE events INCLUDING INDEXES)")
        conn.execute("SELECT create_distributed_table('ceiling', 'cylinder', colocate_with => 'events')")
        conn.commit()
        return copy_into_ceiling(conn, batch)


def _quiet(_message: str) -> None:
    pass


def bench_ingest(args) -> None:
    rules = not args.no_rules
    print(f"ingest of {args.events:,} events over {args.cylinders:,} cylinders, batches of {args.batch}, "
          f"custody rules {'on' if rules else 'off'}")
    with tempfile.TemporaryDirectory(prefix="cl-bench-") as tmp:
        if not args.skip_single:
            ledger, url = open_ledger("postgresql", Path(tmp), rules=rules)
            try:
                timings = populate(ledger, args.events, args.cylinders, args.batch, progress=_quiet)
                ledger.db.dispose()
                rows, elapsed = ceiling_postgres(url, args.batch)
                rate = timings["appended"] / timings["append_s"]
                print(f"one node: {rate:,.0f} events/s, COPY {rows / elapsed:,.0f} rows/s, "
                      f"ratio {rate / (rows / elapsed):.1%}")
            finally:
                drop(url)
        postmasters = _postmasters()
        with _admin() as admin:
            coordinator = str(admin.execute("SELECT nodeport FROM pg_dist_node WHERE groupid = 0").fetchone()[0])
        for gathered in (True, False):
            folder = Path(tmp) / ("one" if gathered else "two")
            folder.mkdir()
            ledger, url, schema = open_cluster_ledger(folder, rules=rules)
            try:
                if gathered:
                    gather_on_one_worker(schema)
                before = cpu_snapshot(postmasters)
                timings = populate(ledger, args.events, args.cylinders, args.batch, progress=_quiet)
                after = cpu_snapshot(postmasters)
                ledger.db.dispose()
                rows, elapsed = cluster_ceiling(url, args.batch)
                rate = timings["appended"] / timings["append_s"]
                total = args.events  # registrations included: the CPU was read around the whole load
                costs = ", ".join(f"{'coordinator' if port == coordinator else 'worker :' + port} "
                                  f"{(after[port] - before[port]) / total * 1e6:,.0f} µs"
                                  for port in sorted(after) if port != "client")
                print(f"coordinator + {1 if gathered else len(workers())} worker(s): {rate:,.0f} events/s, "
                      f"COPY {rows / elapsed:,.0f} rows/s, ratio {rate / (rows / elapsed):.1%}; CPU per event: "
                      f"{costs}, client {(after['client'] - before['client']) / total * 1e6:,.0f} µs")
            finally:
                ledger.db.dispose()
                drop_schema(schema)


# -- reads at size -------------------------------------------------------------------------------


def bulk_fills(url: str, station: str, events: int, chunk: int = 20_000) -> tuple[int, float]:
    """Append ``events`` fills to the registered chains with ``COPY``: rows as the append path would
    store them (the next seq, the previous event's hash, the hash of the canonical bytes, the next log
    position and its ``log_index`` row), round-robin over the cylinders, ``chunk`` rows a
    transaction. The custody rules and projections are skipped: the cylinders' rows stay as their
    registration left them. Returns (rows, seconds)."""
    from ledger.canonical import canonical_json, event_bytes, event_hash
    from ledger.domain import format_time

    data = canonical_json({"net_kg": 14.5})
    recorded = format_time(T0 + timedelta(days=400))
    started = time.perf_counter()
    with psycopg.connect(url.replace("postgresql+psycopg", "postgresql")) as conn:
        heads = {c: (seq, bytes(h)) for c, seq, h in conn.execute(
            "SELECT DISTINCT ON (cylinder) cylinder, seq, hash FROM events ORDER BY cylinder, seq DESC")}
        codes = sorted(heads)
        position = conn.execute("SELECT COALESCE(MAX(id) + 1, 0) FROM log_index").fetchone()[0]
        written = 0
        while written < events:
            rows, claims = [], []
            for n in range(written, min(written + chunk, events)):
                cylinder = codes[n % len(codes)]
                seq, prev = heads[cylinder]
                occurred = format_time(T0 + timedelta(days=2, seconds=n))
                key = f"bulk-{n:012d}"
                digest = event_hash(event_bytes(
                    cylinder=cylinder, seq=seq + 1, kind="fill", occurred_at=occurred, recorded_at=recorded,
                    party=station, person=None, to=None, location_json="null", data_json=data,
                    idempotency_key=key, prev_hash_hex=prev.hex()))
                heads[cylinder] = (seq + 1, digest)
                rows.append((position, cylinder, seq + 1, "fill", occurred, recorded, station, None, None, "null",
                             data, key, prev, digest))
                claims.append((position, cylinder, key))
                position += 1
            with conn.cursor().copy(f"COPY events ({COLUMNS}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
            with conn.cursor().copy("COPY log_index (id, cylinder, idempotency_key) FROM STDIN") as copy:
                for row in claims:
                    copy.write_row(row)
            conn.commit()
            written += len(rows)
            print(f"  loaded {written:,} fills, {written / (time.perf_counter() - started):,.0f} rows/s", flush=True)
    return written, time.perf_counter() - started


def _percentiles(samples: list[float]) -> str:
    samples = sorted(samples)
    return (f"p50 {samples[len(samples) // 2] * 1000:.1f} ms, "
            f"p99 {samples[max(int(len(samples) * 0.99) - 1, 0)] * 1000:.1f} ms")


def bench_reads(args) -> None:
    import random

    from bench.ingest import bench_company, register_cylinders
    from ledger.oversight import REASONS

    with tempfile.TemporaryDirectory(prefix="cl-bench-") as tmp:
        ledger, url, schema = open_cluster_ledger(Path(tmp))
        try:
            company, station = bench_company(ledger)
            start = time.perf_counter()
            codes = register_cylinders(ledger, company, 0, args.cylinders, 1000)
            print(f"registered {len(codes):,} cylinders through the ledger in {time.perf_counter() - start:.0f} s")
            rows, spent = bulk_fills(url, station.party, args.events - len(codes))
            print(f"COPY of {rows:,} valid fills (and their log_index rows) in {spent:.0f} s")
            with ledger.db.reading() as c:
                size = c.exec_driver_sql("SELECT COALESCE(MAX(id) + 1, 0) FROM log_index").scalar_one()
            print(f"log size {size:,} events over {len(codes):,} cylinders")
            rng = random.Random(1)
            sample = rng.sample(codes, min(args.samples, len(codes)))
            bare, traced = [], []
            with ledger.db.reading() as c:
                raw = c.connection.dbapi_connection.cursor()
                for code in sample:
                    tick = time.perf_counter()
                    raw.execute("SELECT * FROM events WHERE cylinder = %s ORDER BY seq", (code,)).fetchall()
                    bare.append(time.perf_counter() - tick)
                for code in sample:
                    tick = time.perf_counter()
                    ledger.trace(c, code)
                    traced.append(time.perf_counter() - tick)
                print(f"trace of a cylinder ({args.events // len(codes)} events), {len(sample)} cylinders, in process: "
                      f"{_percentiles(traced)}; its chain read bare: {_percentiles(bare)}")
                for reason in REASONS:
                    pages = []
                    for _ in range(args.rounds):
                        tick = time.perf_counter()
                        ledger.risk_cylinders(c, reason=reason, limit=100)
                        pages.append(time.perf_counter() - tick)
                    print(f"risk list {reason}, first page of 100: {_percentiles(pages)}")
        finally:
            ledger.db.dispose()
            drop_schema(schema)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="what", required=True)
    w = sub.add_parser("writers")
    w.add_argument("--writers", type=int, default=48)
    w.add_argument("--events", type=int, default=20, help="events per writer")
    i = sub.add_parser("ingest")
    i.add_argument("--events", type=int, default=20_000)
    i.add_argument("--cylinders", type=int, default=2_000)
    i.add_argument("--batch", type=int, default=500)
    i.add_argument("--no-rules", action="store_true", help="the bare core: no custody checks, no findings")
    i.add_argument("--skip-single", action="store_true", help="the cluster only")
    r = sub.add_parser("reads")
    r.add_argument("--events", type=int, default=1_000_000)
    r.add_argument("--cylinders", type=int, default=20_000)
    r.add_argument("--samples", type=int, default=300, help="cylinders traced")
    r.add_argument("--rounds", type=int, default=20, help="first pages per risk list")
    args = parser.parse_args()
    {"writers": bench_writers, "ingest": bench_ingest, "reads": bench_reads}[args.what](args)


if __name__ == "__main__":
    main()
