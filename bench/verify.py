"""Full verification rate, next to a plain re-hash of the same rows.

    python bench/verify.py [--events 1000000] [--cylinders 100000] [--backend sqlite|postgresql]

Builds a ledger with ``bench/ingest.py``'s populate, signs a checkpoint, then
times ``ledger.verify.audit`` (every hash recomputed, every chain checked, the
Merkle root recomputed and compared with the signed checkpoint). The ceiling,
measured in the same run, reads the same rows back in insertion order and
computes one SHA-256 over each row's fields — the least any re-hashing
verifier must do.
"""

from __future__ import annotations

import argparse
import hashlib
import resource
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ingest import drop, open_ledger, populate  # noqa: E402

from ledger.verify import audit  # noqa: E402


def plain_rehash(ledger) -> tuple[int, float]:
    """Read every row in insertion order with the bare driver and SHA-256 its fields once."""
    fields = ("cylinder || seq || kind || occurred_at || recorded_at || party || COALESCE(person, '') || "
              "COALESCE(to_ref, '') || location || data || idempotency_key")
    sha = hashlib.sha256
    count = 0
    raw = ledger.db.reader.raw_connection()
    try:
        cursor = raw.cursor()
        start = time.perf_counter()
        cursor.execute(f"SELECT {fields} FROM events ORDER BY id")
        while True:
            rows = cursor.fetchmany(20000)
            if not rows:
                break
            for (text,) in rows:
                sha(text.encode()).digest()
            count += len(rows)
        return count, time.perf_counter() - start
    finally:
        raw.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--cylinders", type=int, default=100_000)
    parser.add_argument("--backend", choices=("sqlite", "postgresql"), default="sqlite")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="cl-bench-") as tmp:
        ledger, url = open_ledger(args.backend, Path(tmp))
        try:
            print(f"verify on {args.backend}: building {args.events:,} events over {args.cylinders:,} cylinders")
            populate(ledger, args.events, args.cylinders, 2000, progress=lambda *_: None)
            ledger.checkpoint()
            rows, ceiling_s = plain_rehash(ledger)
            start = time.perf_counter()
            with ledger.db.reading() as c:
                found = list(audit(c, ledger.verifier))
            verify_s = time.perf_counter() - start
            assert found == [], found[:5]
            print(f"full verification: {rows / verify_s:,.0f} events/s ({verify_s:.1f} s, intact)")
            print(f"ceiling (plain re-hash of the same rows, insertion order): {rows / ceiling_s:,.0f} rows/s")
            print(f"ratio: {ceiling_s / verify_s:.0%} of the ceiling")
            print(f"peak memory: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:,.0f} MiB")
        finally:
            ledger.db.dispose()
            drop(url)


if __name__ == "__main__":
    main()
