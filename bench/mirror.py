"""A mirror following a log, next to the log's own ingest measured in the same run.

    python bench/mirror.py [--events 50000] [--cylinders 5000] [--batch 1000] [--backend sqlite|postgresql]

Fills a log through ``Ledger.record_batch`` (as bench/ingest.py does, timed: the
log's own ingest rate) and measures the database's raw insert ceiling for the
same rows (bench/ingest.py's twin table). Then ``ledger serve`` serves the log
on a loopback port and ``ledger mirror follow``'s round (tools/mirror.py:
checkpoint, entries page by page over HTTP, every hash, chain link and the
Merkle root checked, one storing transaction) copies it into an empty database
on the same engine. Prints events/s for each and the ratio of the mirror's
rate to the log's ingest (the target: at least 0.5, so a mirror catches up
with a log at full ingest) and to the raw ceiling.
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.ingest import POSTGRES, ceiling_postgres, ceiling_sqlite, drop, open_ledger, populate  # noqa: E402
from ledger.storage import Database  # noqa: E402
from tools.mirror import LogClient, follow_once  # noqa: E402


def _port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _mirror_url(backend: str, folder: Path) -> str:
    if backend == "sqlite":
        return f"sqlite:///{folder / 'mirror.db'}"
    import psycopg

    name = f"cl_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(POSTGRES, autocommit=True, connect_timeout=3) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    return POSTGRES.rsplit("/", 1)[0] + "/" + name


def serve(url: str, folder: Path) -> tuple[subprocess.Popen, str]:
    port = _port()
    env = {**os.environ, "LEDGER_KEY_FILE": str(folder / "log.key"), "LEDGER_LABEL_KEY_FILE": str(folder / "label.key"),
           "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    process = subprocess.Popen([sys.executable, "-m", "tools.cli", "serve", "--db", url, "--port", str(port)],
                               env=env, cwd=folder, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    for _ in range(300):
        try:
            if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                return process, base
        except httpx.TransportError:
            time.sleep(0.1)
    process.terminate()
    raise SystemExit("ledger serve did not come up")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=50_000)
    parser.add_argument("--cylinders", type=int, default=5_000)
    parser.add_argument("--batch", type=int, default=1000)
    parser.add_argument("--backend", choices=("sqlite", "postgresql"), default="sqlite")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="cl-bench-") as tmp:
        folder = Path(tmp)
        ledger, url = open_ledger(args.backend, folder, rules=True)
        mirror_url = _mirror_url(args.backend, folder)
        try:
            print(f"mirror on {args.backend}: {args.events:,} events over {args.cylinders:,} cylinders")
            timings = populate(ledger, args.events, args.cylinders, args.batch, progress=lambda _: None)
            ingest = timings["appended"] / timings["append_s"]
            vkey = ledger.verifier.vkey()
            ledger.db.dispose()
            if args.backend == "sqlite":
                rows, elapsed = ceiling_sqlite(folder / "bench.db", args.batch)
            else:
                rows, elapsed = ceiling_postgres(url, args.batch)
            ceiling = rows / elapsed
            process, base = serve(url, folder)
            try:
                httpx.get(f"{base}/v1/log/checkpoint", timeout=600)  # the log signs first, untimed
                from ledger.signednote import NoteVerifier

                database, client = Database(mirror_url), LogClient(base, timeout=600)
                database.migrate()
                start = time.perf_counter()
                said, _ = follow_once(database, client, NoteVerifier.from_vkey(vkey))
                spent = time.perf_counter() - start
                client.close()
                database.dispose()
            finally:
                process.terminate()
                process.wait(30)
            rate = args.events / spent
            print(f"  {said}")
            print(f"log ingest (Ledger.record_batch, custody rules on): {ingest:,.0f} events/s")
            print(f"raw insert ceiling (same rows and indexes): {ceiling:,.0f} rows/s")
            print(f"mirror follow (fetch over HTTP, verify, store): {rate:,.0f} events/s")
            print(f"ratio to the log's ingest: {rate / ingest:.2f} (target >= 0.5)")
            print(f"ratio to the raw insert ceiling: {rate / ceiling:.2f}")
        finally:
            drop(url)
            drop(mirror_url)


if __name__ == "__main__":
    main()
