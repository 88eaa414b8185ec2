"""The verifiable log on a demo city: signing a checkpoint, proofs, bundles, next to bare hashing.

    python bench/proofs.py [--size small|medium|large | --events N] [--samples 300] [--backend ...] [--keep DIR]

Times, on a demo city: the Merkle root of the whole log with a cold cache (every
leaf hashed into an RFC 9162 root, as the first signed checkpoint does), inclusion proofs of random events at that
size, consistency proofs between random sizes, self-contained cylinder bundles
(``GET /v1/cylinders/{id}/bundle``) and their offline check (``ledger
verify-bundle``). Ceilings, measured in the same run: for the root, reading the
event hashes with the bare driver and folding them with hashlib in a loop; for
a proof, reading one row by id and ceil(log2 n) SHA-256 hashes — what any
verifier-side path costs; for a bundle, that per event of the chain.
"""

from __future__ import annotations

import hashlib
import json
import math
import random
import time

from common import City, Timing, line, mark, measure, raw_cursor, standalone

from ledger.bundle import load_bundle, verify_bundle
from ledger.log import LogTree, SubrootCache


def _root(leaves: list[bytes]) -> bytes:
    """RFC 9162 Merkle tree hash, iteratively over one level at a time."""
    level = [hashlib.sha256(b"\x00" + leaf).digest() for leaf in leaves]
    while len(level) > 1:
        paired = [hashlib.sha256(b"\x01" + level[i] + level[i + 1]).digest() for i in range(0, len(level) - 1, 2)]
        level = paired + ([level[-1]] if len(level) % 2 else [])
    return level[0]


def run(city: City, samples: int = 300) -> list[str]:
    ledger, rng = city.ledger, random.Random(2)
    with raw_cursor(ledger) as cursor:
        start = time.perf_counter()
        hashes = [bytes(row[0]) for row in cursor.execute("SELECT hash FROM events ORDER BY id").fetchall()]
        _root(hashes)
        root_ceiling = Timing(len(hashes), time.perf_counter() - start, [time.perf_counter() - start])
    size = len(hashes)
    with ledger.db.reading() as connection:
        start = time.perf_counter()
        LogTree(connection, SubrootCache()).get_root(size)  # cold: nothing cached
        rooted = Timing(size, time.perf_counter() - start, [time.perf_counter() - start])
    lines = [line("Merkle root of the whole log, cold", rooted, "leaves", root_ceiling,
                  "read all hashes bare, fold the RFC 9162 root with hashlib")]
    checkpoint = ledger.checkpoint()  # signs one unless the log is already covered

    depth = max(1, math.ceil(math.log2(size)))
    ids = [rng.randrange(size) for _ in range(samples)]
    with raw_cursor(ledger) as cursor:
        sql = f"SELECT hash FROM events WHERE id = {mark(ledger)}"

        def least(event_id: int, hashes_needed: int = depth) -> None:
            node = bytes(cursor.execute(sql, (event_id,)).fetchone()[0])
            for _ in range(hashes_needed):
                node = hashlib.sha256(b"\x01" + node + node).digest()

        proof_ceiling = measure(ids, least)
    with ledger.db.reading() as connection:
        inclusion = measure(ids, lambda event_id: ledger.inclusion(connection, event_id, checkpoint.size))
        pairs = [tuple(sorted(rng.sample(range(1, size + 1), 2))) for _ in range(samples)]
        consistency = measure(pairs, lambda pair: ledger.consistency(connection, pair[0], pair[1]))
    lines.append(line("inclusion proof", inclusion, "proofs", proof_ceiling, "one row by id + log2 n hashes"))
    lines.append(line("consistency proof", consistency, "proofs", proof_ceiling, "one row by id + log2 n hashes"))

    codes = rng.sample(city.codes, min(samples // 3 or 1, len(city.codes)))
    bundles: list[bytes] = []
    made = measure(codes, lambda code: bundles.append(json.dumps(ledger.bundle(code)).encode()))
    events = sum(len(json.loads(raw)["events"]) for raw in bundles)
    per_event = Timing(events, made.seconds, made.samples)
    with raw_cursor(ledger) as cursor:
        rows_sql = f"SELECT hash FROM events WHERE cylinder = {mark(ledger)}"

        def least_bundle(code: str) -> None:
            for (digest,) in cursor.execute(rows_sql, (code,)).fetchall():
                node = bytes(digest)
                for _ in range(depth):
                    node = hashlib.sha256(b"\x01" + node + node).digest()

        bundle_ceiling = measure(codes, least_bundle)
    bundle_ceiling = Timing(events, bundle_ceiling.seconds, bundle_ceiling.samples)
    lines.append(line("cylinder bundle", per_event, "events", bundle_ceiling, "the chain's rows + log2 n hashes each"))
    verifier = ledger.verifier
    checked = measure(bundles, lambda raw: verify_bundle(load_bundle(raw), verifier))
    lines.append(line("bundle checked offline", Timing(events, checked.seconds, checked.samples), "events",
                      bundle_ceiling, "the chain's rows + log2 n hashes each"))
    return lines


def main() -> None:
    standalone(__doc__, run, 300)


if __name__ == "__main__":
    main()
