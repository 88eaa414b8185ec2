"""A witness's add-checkpoint rate over HTTP, next to the bare Ed25519 work each cosignature needs.

    python bench/witness.py [--checkpoints 400] [--clients 4] [--backend sqlite|postgresql]

Starts ``ledger witness serve`` (a process of its own, on 127.0.0.1) on a fresh
database, watches ``--clients`` logs, and has one client per log submit that
log's checkpoints one after another, each a leaf larger than the one before,
with its RFC 9162 consistency proof (c2sp.org/tlog-witness: a log submits in
order). Prints cosignatures per second for one client and for all at once.

Ceiling, measured in the same run: verifying the log's Ed25519 signature on a
checkpoint and making one Ed25519 signature over the cosigned message, with no
HTTP, parsing, proof or database: the least any witness must do per request.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from common import POSTGRES, Timing, line, measure

import httpx
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from ledger.proofs import leaf_hash, node_hash
from ledger.signednote import NoteSigner, sign_checkpoint

ROOT = Path(__file__).resolve().parents[1]


class Tree:
    """An RFC 9162 Merkle tree over in-memory leaves: roots and consistency proofs (§2.1.4.1)."""

    def __init__(self, leaves: list[bytes]) -> None:
        self.leaves = [leaf_hash(leaf) for leaf in leaves]
        self._roots: dict[tuple[int, int], bytes] = {}

    def root(self, start: int, end: int) -> bytes:
        if end - start == 1:
            return self.leaves[start]
        if (start, end) not in self._roots:
            k = 1 << ((end - start - 1).bit_length() - 1)
            self._roots[start, end] = node_hash(self.root(start, start + k), self.root(start + k, end))
        return self._roots[start, end]

    def proof(self, m: int, start: int, end: int, complete: bool = True) -> list[bytes]:
        n = end - start
        if m == n:
            return [] if complete else [self.root(start, end)]
        k = 1 << ((n - 1).bit_length() - 1)
        if m <= k:
            return self.proof(m, start, start + k, complete) + [self.root(start + k, end)]
        return self.proof(m - k, start + k, end, False) + [self.root(start, start + k)]


def requests_for(signer: NoteSigner, count: int) -> list[bytes]:
    tree = Tree([os.urandom(32) for _ in range(count)])
    bodies = []
    for size in range(1, count + 1):
        note = sign_checkpoint(signer, signer.name, size, tree.root(0, size)).note
        proof = [] if size == 1 else tree.proof(size - 1, 0, size)
        lines = "".join(base64.b64encode(node).decode() + "\n" for node in proof)
        bodies.append(f"old {size - 1}\n{lines}\n{note}".encode())
    return bodies


def cli(*args: str, cwd: Path) -> str:
    done = subprocess.run([sys.executable, "-m", "tools.cli", *args], cwd=cwd, capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": str(ROOT)}, timeout=120)
    if done.returncode != 0:
        raise SystemExit(done.stderr)
    return done.stdout


def push(base: str, bodies: list[bytes]) -> Timing:
    with httpx.Client(base_url=base, timeout=60) as http:
        def submit(body: bytes) -> None:
            answer = http.post("/add-checkpoint", content=body)
            if answer.status_code != 200:
                raise SystemExit(f"witness answered {answer.status_code}: {answer.text}")
        return measure(bodies, submit)


def ceiling(count: int) -> Timing:
    """Per checkpoint: verify the log's signature, sign the cosigned message. Bare cryptography."""
    log, witness = Ed25519PrivateKey.generate(), Ed25519PrivateKey.generate()
    public = log.public_key()
    texts = [f"bench.test/log\n{n}\n{base64.b64encode(hashlib.sha256(str(n).encode()).digest()).decode()}\n".encode()
             for n in range(1, count + 1)]
    pairs = [(text, log.sign(text)) for text in texts]

    def work(pair) -> None:
        text, signature = pair
        public.verify(signature, text)
        witness.sign(b"cosignature/v1\ntime 1790000000\n" + text)
    return measure(pairs, work)


def durable_writes(folder: Path, count: int) -> Timing:
    """A small write and fsync of a file beside the database: what persisting before answering costs at least."""
    path = folder / "fsync-probe"
    with path.open("wb") as handle:
        def work(_item) -> None:
            handle.write(b"x" * 128)
            handle.flush()
            os.fsync(handle.fileno())
        return measure(list(range(count)), work)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkpoints", type=int, default=400, help="checkpoints per log")
    parser.add_argument("--clients", type=int, default=4, help="logs submitting at once")
    parser.add_argument("--backend", choices=("sqlite", "postgresql"), default="sqlite")
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="witness-bench-"))
    url = f"sqlite:///{folder / 'witness.db'}"
    if args.backend == "postgresql":
        import psycopg

        name = f"witness_bench_{os.getpid()}"
        with psycopg.connect(POSTGRES.replace("+psycopg", ""), autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}"')
            admin.execute(f'CREATE DATABASE "{name}"')
        url = f"{POSTGRES.rpartition('/')[0]}/{name}"
    cli("witness", "init", "--db", url, "--key", str(folder / "witness.key"), "--name", "bench.test/witness", cwd=folder)
    signers = [NoteSigner(f"bench.test/log{n}", Ed25519PrivateKey.generate()) for n in range(args.clients + 1)]
    for signer in signers:
        cli("witness", "add-log", signer.name, signer.verifier.vkey(), "--db", url, cwd=folder)
    bodies = [requests_for(signer, args.checkpoints) for signer in signers]
    port = 18000 + os.getpid() % 1000
    base = f"http://127.0.0.1:{port}"
    server = subprocess.Popen([sys.executable, "-m", "tools.cli", "witness", "serve", "--db", url, "--port", str(port)],
                              cwd=folder, env={**os.environ, "PYTHONPATH": str(ROOT)},
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(300):
            try:
                httpx.get(base + "/", timeout=1)
                break
            except httpx.TransportError:
                time.sleep(0.1)
        bare = ceiling(args.checkpoints)
        one = push(base, bodies[0])
        print(line(f"add-checkpoint, one client ({args.backend})", one, "cosignatures", bare,
                   "verify the log's Ed25519 signature + one Ed25519 signature, in process"))
        disk = durable_writes(folder, min(args.checkpoints, 200))
        print(line("fsync of a small write beside the database", disk, "writes", bare,
                   "the same Ed25519 ceiling; tlog-witness makes the witness persist before it answers"))
        timings: list[Timing] = []
        threads = [threading.Thread(target=lambda b=b: timings.append(push(base, b))) for b in bodies[1:]]
        start = time.perf_counter()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        elapsed = time.perf_counter() - start
        together = Timing(sum(t.count for t in timings), elapsed, [s for t in timings for s in t.samples])
        print(line(f"add-checkpoint, {args.clients} logs at once ({args.backend})", together, "cosignatures", bare,
                   "verify the log's Ed25519 signature + one Ed25519 signature, in process"))
    finally:
        server.terminate()
        server.wait(30)
        if args.backend == "postgresql":
            with psycopg.connect(POSTGRES.replace("+psycopg", ""), autocommit=True) as admin:
                admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


if __name__ == "__main__":
    main()
