"""Ingest through the ledger's own append path, next to the database's raw ceiling.

    python bench/ingest.py [--events 1000000] [--cylinders 100000] [--batch 1000] [--backend sqlite|postgresql]
                           [--phases]

Registers the cylinders (timed apart), then records the remaining events
through the one ingest use case (``Ledger.ingest``: admit in a read snapshot,
append in one write transaction, then judge after the commit), ``--batch``
events a call, as the driver page's sync does, and reports events/s (with
``--no-rules`` the bare core: no custody checks, no judging). The ceiling is measured in the same
run on the same database engine: the stored rows are read back and written
into an identical table (same columns, same indexes) with plain ``executemany``
(SQLite) or ``COPY`` (PostgreSQL), in transactions of the same size.

``--phases`` also prints, per event, the time and CPU each step of the use case
took (admit, append, sequencing, the rules' assessment, storing findings) and,
on PostgreSQL, the CPU of the database's own backends (read from ``/proc``, so
the server must run on this host). With the rules on it then sets the CPU an
event may cost, on every core of the machine, for ingest to reach 30 % of the
ceiling beside what the rules alone cost: the stored chains judged again in
memory one event at a time, each resumed from what the rules carried from the
one before, as the ledger judges a new event, with no database, no
encoding and no storing (``budget``).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import resource
import sqlite3
import sys
import tempfile
import time
import uuid
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ledger.config import Settings  # noqa: E402
from ledger.domain import EventKind, NewEvent, Paper, PartyKind, Role  # noqa: E402
from ledger.keys import ensure_key  # noqa: E402
from ledger.service import Actor, Ledger, Registration  # noqa: E402

ADMIN = Actor(Role.ADMIN, None, "bench")
T0 = datetime(2026, 1, 1, tzinfo=timezone.utc)
POSTGRES = os.environ.get("LEDGER_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/postgres")


def open_ledger(backend: str, folder: Path, rules: bool = True) -> tuple[Ledger, str]:
    if backend == "sqlite":
        url = f"sqlite:///{folder / 'bench.db'}"
    else:
        import psycopg

        name = f"cl_bench_{uuid.uuid4().hex[:8]}"
        with psycopg.connect(POSTGRES, autocommit=True, connect_timeout=3) as admin:
            admin.execute(f'CREATE DATABASE "{name}"')
        url = POSTGRES.rsplit("/", 1)[0] + "/" + name
    settings = Settings(database_url=url, key_file=folder / "log.key", label_key_file=folder / "label.key")
    ensure_key(settings.key_file)
    ensure_key(settings.label_key_file)
    ledger = Ledger(settings, rules=rules)
    ledger.db.migrate()
    return ledger, url


def drop(url: str) -> None:
    if url.startswith("postgresql"):
        import psycopg

        with psycopg.connect(POSTGRES, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{url.rsplit("/", 1)[1]}" WITH (FORCE)')


def bench_company(ledger: Ledger) -> tuple[str, Actor]:
    """A licensed gas company and its filling station: (the company's id, the station's account)."""
    licence = Paper("BENCH", date(2035, 1, 1))
    with ledger.db.writing() as c:
        company = ledger.create_party(c, kind=PartyKind.GAS_COMPANY, name="Bench Gas", region="330110", licence=licence)
        station = ledger.create_party(c, kind=PartyKind.FILLING_STATION, name="Bench Station", region="330110",
                                      licence=licence, parent=company.id)
    return company.id, Actor(Role.COMPANY, station.id, "bench station")


def register_cylinders(ledger: Ledger, company: str, first: int, count: int, batch: int, prefix: str = "B") -> list[str]:
    """Register cylinders number ``first`` to ``first + count - 1`` of ``company`` in batches; their trace codes.

    ``prefix`` keeps serials and idempotency keys apart when one database gets cylinders from several calls.
    """
    codes: list[str] = []
    for start in range(first, first + count, batch):
        registrations = [
            Registration(company, f"{prefix}{n:09d}", "Bench Steel", date(2022, 1, 1), "YSP-15", 15.0, 8,
                         date(2024, 1, 1), date(2028, 1, 1), occurred_at=T0, idempotency_key=f"reg-{prefix}{n:09d}")
            for n in range(start, min(start + batch, first + count))
        ]
        with ledger.db.writing() as c:
            outcomes = ledger.register_batch(c, ADMIN, registrations, now=T0 + timedelta(seconds=1))
        codes.extend(outcome.event.cylinder for outcome in outcomes)
    return codes


def analyze(ledger: Ledger) -> None:
    """Gather the planner's statistics of a fresh PostgreSQL database, as a running ledger has them.

    Autovacuum gathers them within a minute of a table's first rows, later than a bench's run. Without
    them the planner guesses a third of the events for ``id < 0`` and frozen prepared plans scan whole
    tables (the sequencer's move, the idempotency lookup) as they grow: the database's CPU per event
    rose through a run and was a quarter higher on average. Nothing to do on SQLite.
    """
    if ledger.db.dialect == "postgresql":
        with ledger.db.writing() as connection:
            connection.exec_driver_sql("ANALYZE")


class Phases:
    """Wall time and CPU of each step of ``ledger.ingest`` while it is installed (``with``)."""

    STEPS = (("_admit", "admit (read snapshot)"), ("_append", "append (write transaction)"),
             ("_sequence", "sequencing (its own transaction)"))

    def __init__(self, ledger: Ledger, url: str) -> None:
        self.ledger, self.url = ledger, url
        self.wall: dict[str, float] = {}
        self.cpu: dict[str, float] = {}
        self._undo: list = []

    def _timed(self, name: str, function):
        def timed(*args, **kwargs):
            wall, cpu = time.perf_counter(), time.thread_time()
            try:
                return function(*args, **kwargs)
            finally:
                self.wall[name] = self.wall.get(name, 0.0) + time.perf_counter() - wall
                self.cpu[name] = self.cpu.get(name, 0.0) + time.thread_time() - cpu
        return timed

    def __enter__(self) -> Phases:
        from ledger import ingest

        targets = [(ingest, attribute, name) for attribute, name in self.STEPS]
        if self.ledger.judge is not None:
            targets += [(self.ledger.judge, "assess", "the rules' assessment (read snapshot)"),
                        (self.ledger.judge, "store", "storing findings (write transaction, before commit)")]
        for owner, attribute, name in targets:
            self._undo.append((owner, attribute, owner.__dict__.get(attribute)))
            setattr(owner, attribute, self._timed(name, getattr(owner, attribute)))
        self.wall.clear(), self.cpu.clear()
        self.server = self.server_cpu()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.server = self.server_cpu() - self.server
        for owner, attribute, original in reversed(self._undo):
            if original is None:
                delattr(owner, attribute)
            else:
                setattr(owner, attribute, original)

    def server_cpu(self) -> float:
        """Seconds of CPU the PostgreSQL backends of this database have used (0 on SQLite)."""
        if not self.url.startswith("postgresql"):
            return 0.0
        name, total = self.url.rsplit("/", 1)[1], 0.0
        for pid in filter(str.isdigit, os.listdir("/proc")):
            try:
                with open(f"/proc/{pid}/cmdline", "rb") as f:
                    if f" {name} ".encode() not in f.read().replace(b"\0", b" ") + b" ":
                        continue
                with open(f"/proc/{pid}/stat") as f:
                    fields = f.read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        return total

    def report(self, events: int, progress=print) -> None:
        for name, wall in self.wall.items():
            progress(f"  {name:52s} {1e6 * wall / events:6.0f} µs/event, CPU {1e6 * self.cpu[name] / events:5.0f} µs")
        if self.url.startswith("postgresql"):
            progress(f"  {'PostgreSQL backends (CPU)':52s} {1e6 * self.server / events:6.0f} µs/event")


def populate(ledger: Ledger, events: int, cylinders: int, batch: int, progress=print,
             phases: Phases | None = None) -> dict[str, float]:
    """Register ``cylinders`` and append events up to ``events`` in all; returns timings."""
    company, station = bench_company(ledger)
    start = time.perf_counter()
    codes = register_cylinders(ledger, company, 0, cylinders, batch)
    registration = time.perf_counter() - start
    progress(f"  registered {cylinders:,} cylinders in {registration:.1f} s")
    analyze(ledger)

    remaining = events - cylinders
    now = T0 + timedelta(days=400)
    appended = 0
    spent = cpu = 0.0
    with phases if phases is not None else contextlib.nullcontext():
        for first in range(0, remaining, batch):
            items = [
                NewEvent(codes[n % cylinders], EventKind.FILL, T0 + timedelta(days=1, seconds=n), station.party,
                         f"ev-{n:012d}", data={"net_kg": 14.5})
                for n in range(first, min(first + batch, remaining))
            ]
            tick, tock = time.perf_counter(), time.process_time()
            outcomes = ledger.ingest_one(station, items, now)
            spent += time.perf_counter() - tick
            cpu += time.process_time() - tock
            appended += sum(1 for o in outcomes if o.status == "created")
            if (first // batch) % 100 == 0:
                progress(f"  appended {appended:,} events, {appended / spent:,.0f} events/s")
    assert appended == remaining, "every event must be created exactly once"
    return {"registration_s": registration, "append_s": spent, "append_cpu_s": cpu, "appended": appended}


class Twin:
    """The SQLite ceiling: an identical events table beside the ledger (same columns, indexes,
    pragmas), written with plain sqlite3 executemany in transactions of ``batch`` rows."""

    def __init__(self, source: Path, batch: int) -> None:
        self.source, self.batch = source, batch
        self.target = sqlite3.connect(source.with_name("ceiling.db"), isolation_level=None)
        for pragma in ("journal_mode=WAL", "synchronous=FULL", "cache_size=-262144"):
            self.target.execute(f"PRAGMA {pragma}")
        with contextlib.closing(sqlite3.connect(source)) as db:
            schema = [sql for (sql,) in db.execute(
                "SELECT sql FROM sqlite_master WHERE tbl_name = 'events' AND type IN ('table', 'index') "
                "AND sql IS NOT NULL")]
        for sql in schema:
            self.target.execute(sql)

    def copy(self, first_id: int = 0, until: int | None = None) -> tuple[int, float]:
        """Write the ledger's events from ``first_id`` on (up to ``until``, excluded); returns (rows, seconds
        spent writing)."""
        source = sqlite3.connect(self.source)
        cursor = source.execute("SELECT * FROM events WHERE id >= ? AND id < ? ORDER BY id",
                                (first_id, 2**63 - 1 if until is None else until))
        marks = ", ".join("?" * len(cursor.description))
        count, elapsed = 0, 0.0
        while rows := cursor.fetchmany(self.batch):  # read outside the timed part, a batch at a time
            start = time.perf_counter()
            self.target.execute("BEGIN IMMEDIATE")
            self.target.executemany(f"INSERT INTO events VALUES ({marks})", rows)
            self.target.execute("COMMIT")
            elapsed += time.perf_counter() - start
            count += len(rows)
        source.close()
        return count, elapsed

    def close(self) -> None:
        self.target.close()


def ceiling_sqlite(path: Path, batch: int) -> tuple[int, float]:
    """Plain sqlite3 executemany of the stored rows into an identical table."""
    twin = Twin(path, batch)
    try:
        return twin.copy()
    finally:
        twin.close()


def ceiling_postgres(url: str, batch: int, first_id: int = 0, until: int | None = None) -> tuple[int, float]:
    """COPY of the stored rows into an identical table, in transactions of ``batch`` rows.

    Only rows from ``first_id`` to ``until`` (excluded) are timed; the table first gets the
    rows before them, untimed, so that they go into a table as large as the ledger's was.
    """
    import psycopg

    with psycopg.connect(url.replace("postgresql+psycopg", "postgresql")) as conn:
        conn.execute("CREATE TABLE ceiling (LIKE events INCLUDING INDEXES)")
        conn.execute("INSERT INTO ceiling SELECT * FROM events WHERE id < %s", (first_id,))
        conn.commit()
        return copy_into_ceiling(conn, batch, first_id, until)


def copy_into_ceiling(conn, batch: int, first_id: int = 0, until: int | None = None) -> tuple[int, float]:
    """COPY ``events``' rows from ``first_id`` to ``until`` into the table ``ceiling``, ``batch`` rows a
    transaction; returns the rows and the seconds the COPYs and commits took."""
    count, elapsed, last = 0, 0.0, first_id - 1
    stop = 2**63 - 1 if until is None else until
    while rows := conn.execute("SELECT * FROM events WHERE id > %s AND id < %s ORDER BY id LIMIT %s",
                               (last, stop, batch)).fetchall():
        start = time.perf_counter()
        with conn.cursor().copy("COPY ceiling FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
        conn.commit()
        elapsed += time.perf_counter() - start
        count, last = count + len(rows), rows[-1][0]
    return count, elapsed


def rules_alone(settings, cylinders: int = 2000) -> tuple[int, float]:
    """How many events the custody rules judged alone and the seconds of CPU each took: ``cylinders`` stored
    chains read first, then judged in memory one event at a time, each judgement resumed from the one before
    (``rules.judge``)."""
    from collections import defaultdict

    from ledger import rules
    from ledger.storage import events as event_rows
    from ledger.storage import findings as stored

    ledger = Ledger(settings)
    judge, now = ledger.judge, datetime.now(timezone.utc)
    try:
        with ledger.db.reading() as connection:
            registry = judge.registry(connection)
            codes = [code for (code,) in connection.exec_driver_sql(
                f"SELECT id FROM cylinders ORDER BY id LIMIT {int(cylinders)}")]
            chains: dict[str, list] = defaultdict(list)
            for row in stored.histories(connection, codes):
                chains[row[1]].append(event_rows.from_row(row))
            for events in chains.values():  # the registry's parties and people read once, untimed
                rules.judge(events, registry, judge.config, now)
            judged, cpu = 0, 0.0
            for events in chains.values():
                judgement = rules.judge(events[:1], registry, judge.config, now)
                for event in events[1:]:
                    tock = time.process_time()
                    judgement = rules.judge([event], registry, judge.config, now, carried=judgement.carried)
                    cpu += time.process_time() - tock
                    judged += 1
        return judged, cpu / max(judged, 1)
    finally:
        ledger.db.dispose()


def budget(ceiling: float, process_cpu: float, server_cpu: float | None, rules: tuple[int, float],
           share: float = 0.30) -> None:
    """What ``share`` of the ceiling leaves each event, every core busy, against what it costs (seconds each);
    ``server_cpu`` None where the database runs inside this process (SQLite)."""
    cores = os.cpu_count() or 1
    allowed = cores / (share * ceiling)
    judged, rules_cpu = rules
    spent = process_cpu + (server_cpu or 0.0)
    who = "this process" if server_cpu is None else "this process and PostgreSQL's backends"
    print(f"budget for {share:.0%} of the ceiling on {cores} cores: {1e6 * allowed:,.0f} µs of CPU per event")
    print(f"  the rules alone, in memory ({judged:,} events): {1e6 * rules_cpu:,.0f} µs per event "
          f"({rules_cpu / allowed:.0%} of the budget; with nothing else, {cores / rules_cpu / ceiling:.0%} of the ceiling)")
    print(f"  measured, {who}: {1e6 * spent:,.0f} µs per event "
          f"(every core busy: {cores / spent / ceiling:.0%} of the ceiling)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--cylinders", type=int, default=100_000)
    parser.add_argument("--batch", type=int, default=1000)
    parser.add_argument("--backend", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--no-rules", action="store_true", help="the bare core: no custody checks, no findings")
    parser.add_argument("--phases", action="store_true", help="time and CPU per step of the use case")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="cl-bench-") as tmp:
        folder = Path(tmp)
        ledger, url = open_ledger(args.backend, folder, rules=not args.no_rules)
        try:
            print(f"ingest on {args.backend}: {args.events:,} events over {args.cylinders:,} cylinders, "
                  f"batches of {args.batch}, custody rules {'off' if args.no_rules else 'on'}")
            phases = Phases(ledger, url) if args.phases else None
            timings = populate(ledger, args.events, args.cylinders, args.batch, phases=phases)
            ledger.db.dispose()
            rate = timings["appended"] / timings["append_s"]
            if args.backend == "sqlite":
                rows, elapsed = ceiling_sqlite(folder / "bench.db", args.batch)
                how = "sqlite3 executemany"
            else:
                rows, elapsed = ceiling_postgres(url, args.batch)
                how = "COPY"
            ceiling = rows / elapsed
            print(f"registration: {args.cylinders / timings['registration_s']:,.0f} cylinders/s")
            print(f"ledger append: {rate:,.0f} events/s "
                  f"({1e6 * timings['append_cpu_s'] / timings['appended']:,.0f} µs of this process's CPU per event)")
            if phases is not None:
                phases.report(timings["appended"])
            print(f"ceiling ({how}, same rows and indexes): {ceiling:,.0f} rows/s")
            print(f"ratio: {rate / ceiling:.0%} of the ceiling")
            if phases is not None and not args.no_rules:
                server = None if args.backend == "sqlite" else phases.server / timings["appended"]
                budget(ceiling, timings["append_cpu_s"] / timings["appended"], server,
                       rules_alone(ledger.settings))
            print(f"peak memory: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:,.0f} MiB")
        finally:
            drop(url)


if __name__ == "__main__":
    main()
