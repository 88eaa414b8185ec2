"""Publish-to-witnessed latency: from an event's acceptance to a checkpoint holding it that the witnesses cosigned.

    python bench/publish.py [--seconds 20] [--rate 2000] [--intervals 1,10] [--backend sqlite|postgresql]
                            [--workers 2] [--batch 100]

For each checkpoint interval it starts, on 127.0.0.1, two witnesses
(``ledger witness init`` / ``add-log`` / ``serve``, each its own SQLite
database) and ``ledger serve --workers N`` over a fresh database with
``LEDGER_WITNESSES`` naming both and ``LEDGER_CHECKPOINT_INTERVAL`` set. It then
ingests about ``--rate`` events a second as ``POST /v1/events/batch`` of
``--batch`` events, paced, for ``--seconds``, while a watcher reads
``GET /v1/log/checkpoint`` every 50 ms and notes when each checkpoint first
appears with both witnesses' valid cosignatures. A batch's latency runs from its
answer (its events accepted) to the first such checkpoint holding its last
event. Nobody but the server's own publisher signs or submits anything.

The figure is printed with its ratio to the interval, the publisher's own bound:
a checkpoint is signed at most once an interval, so an event waits up to one
interval for it (half of one on average), plus the witnesses' round trip.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import httpx  # noqa: E402

from ledger.cosigning import WitnessKey, verify_cosignatures  # noqa: E402
from ledger.errors import LedgerError  # noqa: E402
from ledger.signednote import open_checkpoint  # noqa: E402

LEDGER = str(Path(sys.executable).parent / "ledger")


def _sibling(name: str):
    """A sibling benchmark's helpers, loaded from its file."""
    spec = importlib.util.spec_from_file_location(f"bench_{name}", Path(__file__).with_name(f"{name}.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def witness(folder: Path, name: str, origin: str, log_vkey: str, served) -> tuple[object, str, WitnessKey]:
    db = f"sqlite:///{folder / (name + '.db')}"
    vkey = subprocess.run([LEDGER, "witness", "init", "--name", f"bench.witness/{name}", "--db", db, "--key",
                           str(folder / (name + ".key"))], capture_output=True, text=True, check=True).stdout.strip()
    subprocess.run([LEDGER, "witness", "add-log", origin, log_vkey, "--db", db], capture_output=True, check=True)
    server = served([LEDGER, "witness", "serve", "--db", db, "--host", "127.0.0.1"], None, folder, f"witness-{name}")
    return server, f"{name} http://127.0.0.1:{server.port} {vkey}\n", WitnessKey.from_vkey(vkey)


async def watch(base: str, verifier, keys, seen: dict[int, float], stop: asyncio.Event) -> None:
    async with httpx.AsyncClient(base_url=base, timeout=10) as client:
        while not stop.is_set():
            note = (await client.get("/v1/log/checkpoint")).text
            try:
                size = open_checkpoint(verifier, note).size
                if size not in seen:
                    verify_cosignatures(note, keys)
                    seen[size] = time.monotonic()
            except LedgerError:
                pass  # not yet cosigned by both
            await asyncio.sleep(0.05)


async def ingest(base: str, token: str, bodies, rate: float, batch: int, seconds: float,
                 accepted: list[tuple[float, int]]) -> None:
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    async with httpx.AsyncClient(base_url=base, headers=headers, timeout=60) as client:
        async def send(body: bytes) -> None:
            answer = await client.post("/v1/events/batch", content=body)
            indexes = [r["event"]["log_index"] for r in answer.json()["results"] if r.get("event")]
            accepted.append((time.monotonic(), max(i for i in indexes if i is not None)))

        began, sent, pending = time.monotonic(), 0, set()
        while time.monotonic() - began < seconds:
            due = began + sent * batch / rate
            await asyncio.sleep(max(0.0, due - time.monotonic()))
            pending.add(asyncio.create_task(send(next(bodies))))
            pending = {task for task in pending if not task.done()}
            sent += 1
        await asyncio.gather(*pending)


def run(interval: float, args: argparse.Namespace) -> dict:
    served = _sibling("http_service")
    folder = Path(tempfile.mkdtemp(prefix="bench-publish-"))
    url, env, token, codes = served.prepare(args.backend, folder, args.cylinders)
    ledger = served.open_ledger(url, folder)
    origin, log_vkey, verifier = ledger.settings.log_origin, ledger.verifier.vkey(), ledger.verifier
    ledger.db.dispose()
    witnesses = [witness(folder, name, origin, log_vkey, served.Served) for name in ("w1", "w2")]
    listed = folder / "witnesses.txt"
    listed.write_text("".join(line for _, line, _ in witnesses))
    env = {**env, "LEDGER_WITNESSES": str(listed), "LEDGER_CHECKPOINT_INTERVAL": str(interval)}
    server = served.Served([LEDGER, "serve", "--host", "127.0.0.1", "--workers", str(args.workers)], env, folder, "ledger")
    base = f"http://127.0.0.1:{server.port}"
    seen: dict[int, float] = {}
    accepted: list[tuple[float, int]] = []

    async def main() -> None:
        stop = asyncio.Event()
        watcher = asyncio.create_task(watch(base, verifier, [k for *_, k in witnesses], seen, stop))
        began = time.monotonic()
        await ingest(base, token, served.batches(codes, args.batch), args.rate, args.batch, args.seconds, accepted)
        elapsed = time.monotonic() - began
        last = max(index for _, index in accepted)
        deadline = time.monotonic() + 3 * interval + 60
        while not any(size > last for size in seen) and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        stop.set()
        await watcher
        accepted.append((elapsed, -1))

    try:
        asyncio.run(main())
    finally:
        server.stop()
        for process, _, _ in witnesses:
            process.stop()
        if args.backend == "postgresql":
            served.drop(url)
    elapsed = accepted.pop()[0]
    witnessed = sorted(seen.items())
    latencies = []
    for at, index in accepted:
        first = next((t for size, t in witnessed if size > index), None)
        if first is not None:
            latencies.append(max(0.0, first - at))
    latencies.sort()
    events = len(accepted) * args.batch
    return {"interval": interval, "rate": events / elapsed, "batches": len(accepted), "witnessed": len(latencies),
            "checkpoints": len(witnessed), "p50": latencies[len(latencies) // 2] if latencies else float("nan"),
            "p99": latencies[int(len(latencies) * 0.99)] if latencies else float("nan"),
            "max": latencies[-1] if latencies else float("nan")}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--rate", type=float, default=2000.0, help="events a second to ingest")
    parser.add_argument("--batch", type=int, default=100)
    parser.add_argument("--intervals", default="1,10", help="LEDGER_CHECKPOINT_INTERVAL values, comma-separated")
    parser.add_argument("--backend", default="sqlite", choices=("sqlite", "postgresql"))
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--cylinders", type=int, default=500)
    args = parser.parse_args()
    for interval in (float(value) for value in args.intervals.split(",")):
        r = run(interval, args)
        print(f"interval {interval:g} s ({args.backend}, {args.workers} workers): ingested {r['rate']:.0f} events/s "
              f"(asked {args.rate:.0f}); {r['witnessed']}/{r['batches']} batches witnessed under "
              f"{r['checkpoints']} cosigned checkpoints")
        print(f"publish-to-witnessed: p50 {r['p50']:.2f} s, p99 {r['p99']:.2f} s, max {r['max']:.2f} s; "
              f"ceiling: the interval, {interval:g} s; ratio p50 {r['p50'] / interval:.2f}, "
              f"p99 {r['p99'] / interval:.2f}, max {r['max'] / interval:.2f}", flush=True)


if __name__ == "__main__":
    main()
