"""The HTTP service under load, next to a bare FastAPI endpoint's ceiling measured in the same run.

    python bench/http_service.py [--seconds 8] [--clients 50] [--workers 2] [--backend sqlite|postgresql|both]
                         [--preload 1000000]

For each backend it starts ``ledger serve --workers N`` on a free 127.0.0.1 port
over a fresh database (parties, a station account, ``--cylinders`` registered
cylinders for each phase, so every phase writes chains of similar length: the
custody rules replay a cylinder's story, so longer chains cost more), then
measures, each phase bounded by ``--seconds`` and ``--max-requests``:

* single events: ``--clients`` connections each POSTing one ``fill`` to
  /v1/events as fast as answers come; throughput and p50/p99 latency;
* batches: ``--batch-clients`` connections POSTing /v1/events/batch with
  ``--batch`` events each; events recorded per second, and how long after the
  last answer the server's reviewers finished applying the custody rules to
  them (docs/design.md "The review queue").

The core's own rate on the same database, in this process and without HTTP,
is printed alongside (one transaction per event, then per batch), so the cost
of the HTTP layer can be told from the cost of the ledger. Last, the database
alone: the events the batch phase stored are written again, with plain
``executemany`` (PostgreSQL: ``COPY``) in transactions of ``--batch`` rows, into
an identical table that already holds, untimed, the events stored before them,
as bench/ingest.py measures its ceiling. The batch target is 60 % of the
core's, and the core's is half of that rate, so the batch figure is also
printed as a share of it.

The ceiling is a FastAPI app with one POST route that parses the same JSON body
and answers a small JSON object, served by uvicorn with the same workers and
driven by the same client: what the machine does with no ledger at all. The
client is a minimal asyncio HTTP/1.1 keep-alive client so it costs the server
as little CPU as possible (it shares the machine). Only loopback is ever used.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import argparse  # noqa: E402
import asyncio  # noqa: E402
import functools  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import signal  # noqa: E402
import socket  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
import uuid  # noqa: E402
from datetime import datetime, timezone  # noqa: E402

from ledger.config import Settings  # noqa: E402
from ledger.domain import Role  # noqa: E402
from ledger.service import Ledger  # noqa: E402
from ledger.storage import events  # noqa: E402

HOST = "127.0.0.1"
BIN = Path(sys.executable).parent
BARE_APP = '''
from fastapi import FastAPI, Request
app = FastAPI()

@app.post("/bare")
async def bare(request: Request):
    body = await request.json()
    return {"ok": True, "n": len(body.get("events", [body]))}
'''


# -- a small keep-alive HTTP/1.1 client ---------------------------------------------------------


class Connection:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, headers: str) -> None:
        self.reader, self.writer, self.headers = reader, writer, headers

    @classmethod
    async def open(cls, port: int, token: str | None) -> Connection:
        reader, writer = await asyncio.open_connection(HOST, port)
        auth = f"Authorization: Bearer {token}\r\n" if token else ""
        return cls(reader, writer, f"Host: {HOST}:{port}\r\nContent-Type: application/json\r\n{auth}")

    async def post(self, path: str, body: bytes) -> tuple[int, bytes]:
        self.writer.write(f"POST {path} HTTP/1.1\r\n{self.headers}Content-Length: {len(body)}\r\n\r\n".encode() + body)
        status = int((await self.reader.readline()).split()[1])
        length = 0
        while (line := await self.reader.readline()) not in (b"\r\n", b""):
            name, _, value = line.partition(b":")
            if name.lower() == b"content-length":
                length = int(value)
        return status, await self.reader.readexactly(length)

    def close(self) -> None:
        self.writer.close()


async def drive(port: int, token: str | None, path: str, bodies, clients: int, seconds: float,
                max_requests: int) -> dict:
    """POST bodies from ``clients`` connections until time or requests run out."""
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    deadline = time.perf_counter() + seconds

    async def client() -> None:
        connection = await Connection.open(port, token)
        try:
            while time.perf_counter() < deadline and len(latencies) < max_requests:
                body = next(bodies)
                started = time.perf_counter()
                status, _ = await connection.post(path, body)
                latencies.append(time.perf_counter() - started)
                statuses[status] = statuses.get(status, 0) + 1
        finally:
            connection.close()

    started = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(clients)))
    elapsed = time.perf_counter() - started
    latencies.sort()
    return {"requests": len(latencies), "seconds": elapsed, "rps": len(latencies) / elapsed, "statuses": statuses,
            "p50_ms": 1000 * latencies[len(latencies) // 2],
            "p99_ms": 1000 * latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))]}


# -- the servers --------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        return probe.getsockname()[1]


class Served:
    """A server subprocess on loopback, stopped with SIGTERM (it drains in-flight requests)."""

    def __init__(self, command: list[str], env: dict[str, str], folder: Path, name: str) -> None:
        self.port = free_port()
        self.log = folder / f"{name}.log"
        with self.log.open("wb") as log:
            self.process = subprocess.Popen([*command, "--port", str(self.port)], env=env, cwd=folder,
                                            stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"{name} exited: {self.log.read_text()[-2000:]}")
            try:
                socket.create_connection((HOST, self.port), timeout=1).close()
                time.sleep(1.0)  # let every worker finish starting
                return
            except OSError:
                time.sleep(0.1)
        raise RuntimeError(f"{name} did not start")

    def stop(self) -> None:
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(30)
        except subprocess.TimeoutExpired:
            self.process.kill()


@functools.cache
def _load_sibling(name: str):
    """A module of this folder, loaded once (this file's own name keeps the folder off the import path)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location(f"bench_{name}", Path(__file__).with_name(f"{name}.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def prepare(backend: str, folder: Path, cylinders: int,
            preload: int = 0) -> tuple[str, dict[str, str], str, list[str]]:
    """A fresh database with a station account and registered cylinders: (url, env, token, cylinders).

    ``cylinders`` per phase: the list holds four slices (HTTP single, HTTP batch, core single, core batch).
    ``preload``: first grow the ledger by that many events of other cylinders, through the bare core.
    """
    ingest = _load_sibling("ingest")
    ledger, url = ingest.open_ledger(backend, folder)
    settings = ledger.settings
    company, station = ingest.bench_company(ledger)
    with ledger.db.writing() as c:
        token = ledger.create_account(c, role=Role.COMPANY, party=station.party, name="bench station")
    codes = ingest.register_cylinders(ledger, company, 0, 4 * cylinders, 1000, prefix="H")
    if preload:
        bare = Ledger(settings, rules=False)
        ingest.populate(bare, preload, max(1, preload // 10), 1000, progress=lambda *_: None)
        bare.db.dispose()
    ingest.analyze(ledger)
    ledger.db.dispose()
    env = {**os.environ, "LEDGER_DATABASE_URL": url, "LEDGER_KEY_FILE": str(settings.key_file),
           "LEDGER_LABEL_KEY_FILE": str(settings.label_key_file)}
    return url, env, token, codes


def drop(url: str) -> None:
    _load_sibling("ingest").drop(url)


# -- the bodies ---------------------------------------------------------------------------------


def _event(cylinder: str) -> str:
    now = datetime.now(timezone.utc).isoformat()
    return (f'{{"cylinder":"{cylinder}","kind":"fill","occurred_at":"{now}",'
            f'"idempotency_key":"b-{uuid.uuid4()}","data":{{"net_kg":14.5}}}}')


def singles(codes: list[str]):
    n = 0
    while True:
        n += 1
        yield _event(codes[n % len(codes)]).encode()


def batches(codes: list[str], size: int):
    n = 0
    while True:
        items = []
        for _ in range(size):
            n += 1
            items.append(_event(codes[n % len(codes)]))
        yield ('{"events":[' + ",".join(items) + "]}").encode()


# -- the core without HTTP, on the same database -------------------------------------------------


def open_ledger(url: str, folder: Path) -> Ledger:
    """The served ledger, opened in this process with the keys ``prepare`` made."""
    return Ledger(Settings(database_url=url, key_file=folder / "log.key", label_key_file=folder / "label.key"))


def core_reference(url: str, folder: Path, token: str, codes: tuple[list[str], list[str]],
                   args: argparse.Namespace) -> dict:
    """Events/s through ``Ledger`` in this process: one transaction per event, then per batch."""
    from ledger.domain import EventKind, NewEvent

    ledger = open_ledger(url, folder)
    with ledger.db.reading() as connection:
        actor = ledger.authenticate(connection, token)

    def event(slice_: list[str], n: int) -> NewEvent:
        return NewEvent(slice_[n % len(slice_)], EventKind.FILL, datetime.now(timezone.utc), actor.party,
                        f"c-{uuid.uuid4()}", data={"net_kg": 14.5})

    figures = {}
    for name, size, slice_ in (("single", 1, codes[0]), ("batch", args.batch, codes[1])):
        done, started = 0, time.perf_counter()
        while time.perf_counter() - started < args.seconds and done < args.max_requests:
            with ledger.db.writing() as connection:
                ledger.record_batch(connection, actor, [event(slice_, done + k) for k in range(size)])
            done += size
        figures[name] = done / (time.perf_counter() - started)
    ledger.db.dispose()
    return figures


def review_lag(url: str, folder: Path, limit: float = 300.0) -> float:
    """Seconds from the last batch's answer until the server's reviewers have emptied the review queue."""
    ledger = open_ledger(url, folder)
    started = time.perf_counter()
    try:
        while time.perf_counter() - started < limit:
            with ledger.db.reading() as connection:
                if ledger.review_backlog(connection)[0] == 0:
                    break
            time.sleep(0.05)
        return time.perf_counter() - started
    finally:
        ledger.db.dispose()


def log_size(url: str, folder: Path) -> int:
    """How many events the ledger holds: the next one's log position."""
    ledger = open_ledger(url, folder)
    try:
        with ledger.db.reading() as connection:
            return events.log_size(connection)
    finally:
        ledger.db.dispose()


def database_ceiling(backend: str, url: str, folder: Path, batch: int, first: int, until: int) -> float:
    """Rows/s the database alone takes for the events the batch phase stored (log positions ``first`` to
    ``until``): written again, ``batch`` per transaction, with plain ``executemany`` (SQLite) or ``COPY``
    (PostgreSQL) into an identical table that first gets, untimed, the events stored before them
    (bench/ingest.py's ceiling, on the same rows into a table as large)."""
    ingest = _load_sibling("ingest")
    if backend == "sqlite":
        twin = ingest.Twin(folder / "bench.db", batch)
        try:
            twin.copy(0, first)
            rows, elapsed = twin.copy(first, until)
        finally:
            twin.close()
    else:
        rows, elapsed = ingest.ceiling_postgres(url, batch, first, until)
    return rows / elapsed


# -- the run ------------------------------------------------------------------------------------


def run_backend(backend: str, args: argparse.Namespace) -> dict:
    with tempfile.TemporaryDirectory(prefix="cl-bench-http-") as tmp:
        folder = Path(tmp)
        if args.preload:
            print(f"{backend}: preloading {args.preload:,} events through the bare core", flush=True)
        url, env, token, codes = prepare(backend, folder, args.cylinders, args.preload)
        single_codes, batch_codes, core_codes = codes[0::4], codes[1::4], (codes[2::4], codes[3::4])
        (folder / "bare_app.py").write_text(BARE_APP)
        results: dict = {}
        try:
            for name, command, path, auth in (
                ("ledger", [str(BIN / "ledger"), "serve", "--db", url, "--host", HOST, "--workers", str(args.workers)],
                 "/v1/events", token),
                ("bare", [sys.executable, "-m", "uvicorn", "bare_app:app", "--app-dir", str(folder), "--host", HOST,
                          "--workers", str(args.workers), "--no-access-log", "--log-level", "warning"], "/bare", None),
            ):
                server = Served(command, env, folder, name)
                try:
                    asyncio.run(drive(server.port, auth, path, singles(single_codes), 4, 1.0, 500))  # warm-up
                    single = asyncio.run(drive(server.port, auth, path, singles(single_codes), args.clients,
                                               args.seconds, args.max_requests))
                    batch_path = "/v1/events/batch" if name == "ledger" else path
                    if name == "ledger":
                        first = log_size(url, folder)
                    batch = asyncio.run(drive(server.port, auth, batch_path, batches(batch_codes, args.batch),
                                              args.batch_clients, args.seconds, args.max_requests // args.batch + 1))
                    batch["events_per_s"] = batch["rps"] * args.batch
                    if name == "ledger":
                        batch["review_lag_s"] = review_lag(url, folder)
                        batch["log_positions"] = [first, log_size(url, folder)]
                    results[name] = {"single": single, "batch": batch}
                finally:
                    server.stop()
            results["core"] = core_reference(url, folder, token, core_codes, args)
            results["database"] = database_ceiling(backend, url, folder, args.batch,
                                                   *results["ledger"]["batch"]["log_positions"])
        finally:
            drop(url)
        return results


def report(backend: str, results: dict, args: argparse.Namespace) -> None:
    ledger, bare = results["ledger"], results["bare"]
    s, b = ledger["single"], ledger["batch"]
    print(f"\n{backend}: {args.workers} workers, {args.clients} clients, {args.seconds:g} s per phase")
    print(f"  single POST /v1/events  {s['rps']:8,.0f} req/s   p50 {s['p50_ms']:6.1f} ms   p99 {s['p99_ms']:6.1f} ms"
          f"   statuses {s['statuses']}")
    print(f"  bare FastAPI POST       {bare['single']['rps']:8,.0f} req/s   p50 {bare['single']['p50_ms']:6.1f} ms"
          f"   p99 {bare['single']['p99_ms']:6.1f} ms   ratio {s['rps'] / bare['single']['rps']:.2f}")
    print(f"  batch of {args.batch}            {b['events_per_s']:8,.0f} events/s  p50 {b['p50_ms']:6.1f} ms per batch"
          f"   statuses {b['statuses']}")
    print(f"  custody rules caught up with the batches {b['review_lag_s']:.1f} s after the last one was answered")
    print(f"  bare FastAPI, same body {bare['batch']['events_per_s']:8,.0f} events/s  "
          f"ratio {b['events_per_s'] / bare['batch']['events_per_s']:.2f}")
    core = results["core"]
    print(f"  core in process, no HTTP: {core['single']:8,.0f} events/s one per transaction,"
          f" {core['batch']:,.0f} events/s per {args.batch}")
    ceiling = results["database"]
    share = b["events_per_s"] / ceiling
    how = "executemany" if backend == "sqlite" else "COPY"
    print(f"  database alone, same rows: {ceiling:8,.0f} rows/s ({how}, {args.batch} per transaction);"
          f" batches through HTTP at {share:.0%} of it")
    if backend == "sqlite":
        # The batch target is 60 % of the core's, and the core's is half the database's own rate
        # (bench/ingest.py): 30 % of it. 30,000 events/s is that share of the 100,000 rows/s the
        # target assumed; the absolute figure is printed too.
        met = s["rps"] >= 2000 and s["p99_ms"] <= 50
        print(f"  targets: single >= 2,000/s with p99 <= 50 ms: {'met' if met else 'MISSED'};"
              f" batch >= 30 % of the database alone: {'met' if share >= 0.30 else 'MISSED'}"
              f" (30,000 events/s as such: {'met' if b['events_per_s'] >= 30000 else 'missed'})")

def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--backend", choices=("sqlite", "postgresql", "both"), default="both")
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--batch-clients", type=int, default=4)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--cylinders", type=int, default=1000, help="registered cylinders per phase")
    parser.add_argument("--max-requests", type=int, default=100_000)
    parser.add_argument("--preload", type=int, default=0,
                        help="grow the ledger by this many other events first (measure on a large ledger)")
    parser.add_argument("--json", action="store_true", help="print the raw figures as JSON too")
    args = parser.parse_args()
    args.seconds = min(args.seconds, 60.0)  # bounded, whatever is asked
    backends = ("sqlite", "postgresql") if args.backend == "both" else (args.backend,)
    print(f"cylinder-ledger HTTP bench on {os.cpu_count()} CPUs (client and servers share them)")
    for backend in backends:
        try:
            results = run_backend(backend, args)
        except Exception as exc:  # noqa: BLE001 - an unreachable PostgreSQL skips that backend
            if backend == "postgresql" and args.backend == "both":
                print(f"\npostgresql: skipped ({exc.__class__.__name__}: {exc})")
                continue
            raise
        report(backend, results, args)
        if args.json:
            print(json.dumps({backend: results}))


if __name__ == "__main__":
    main()
