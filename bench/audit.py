"""The incremental audit's rate on new events, next to a plain re-hash of the same events.

    python bench/audit.py [--base 20000] [--backend sqlite|postgresql]

Builds a ledger (``bench/ingest.py``'s populate, without custody rules: the
audit reads only the stored rows), signs a checkpoint and has the auditor take
its position. Then, for 10^4 and 10^5 new events each: appends them, signs a
checkpoint, and times

- the incremental audit of them (``ledger.audit.examine`` + ``record``: each
  event re-hashed and its link checked, the leaves folded into chunk roots, the
  root at the new checkpoint rebuilt and compared with the signed one; the
  rolling re-check and projection check off, as they are a fixed budget per
  round, printed separately);
- the ceiling: the same rows read back in log order and each one's canonical
  bytes hashed once with SHA-256 (``ledger.chain.recomputed``), the least any
  auditor of those events must do.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ingest import T0, bench_company, drop, open_ledger, populate, register_cylinders  # noqa: E402

from ledger import audit  # noqa: E402
from ledger.chain import recomputed  # noqa: E402
from ledger.storage import audit as audit_rows  # noqa: E402


def plain_rehash(ledger, start: int, end: int) -> float:
    """Seconds to read events ``start`` .. ``end`` - 1 in log order and SHA-256 each one's canonical bytes."""
    began = time.perf_counter()
    with ledger.db.reading() as c:
        for page in audit_rows.event_pages(c, 5_000, start, end):
            for row in page:
                recomputed(row)
    return time.perf_counter() - began


def append(ledger, count: int, tag: str) -> None:
    """``count`` new events: 500 new cylinders registered, then fills of them."""
    from datetime import timedelta

    from ledger.domain import EventKind, NewEvent

    company, station = bench_company(ledger)
    codes = register_cylinders(ledger, company, 0, 500, 500, prefix=tag)
    for first in range(0, count - 500, 2_000):
        items = [NewEvent(codes[n % 500], EventKind.FILL, T0 + timedelta(days=1, seconds=n), station.party,
                          f"{tag}-{n:012d}", data={"net_kg": 14.5}) for n in range(first, min(first + 2_000, count - 500))]
        with ledger.db.writing() as c:
            ledger.record_batch(c, station, items, now=T0 + timedelta(days=400))


def audit_round(ledger, recheck: int = 0) -> tuple[float, audit.Examined]:
    began = time.perf_counter()
    with ledger.db.reading() as c:
        examined = audit.examine(c, ledger.verifier, recheck=recheck)
    with ledger.db.writing() as c:
        audit.record(c, examined, datetime.now(timezone.utc))
    return time.perf_counter() - began, examined


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--base", type=int, default=20_000, help="events in the ledger before the first measurement")
    parser.add_argument("--backend", choices=("sqlite", "postgresql"), default="sqlite")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="cl-bench-") as tmp:
        ledger, url = open_ledger(args.backend, Path(tmp), rules=False)
        try:
            populate(ledger, args.base, 2_000, 2_000, progress=lambda *_: None)
            ledger.checkpoint()
            audit_round(ledger)
            for new in (10_000, 100_000):
                with ledger.db.reading() as c:
                    start = audit_rows.log_size(c)
                append(ledger, new, f"N{new}")
                end = ledger.checkpoint().size
                ceiling_s = plain_rehash(ledger, start, end)
                audit_s, examined = audit_round(ledger)
                assert examined.breaks == [] and examined.new_events == end - start, examined.breaks[:5]
                print(f"incremental audit of {end - start:,} new events on {args.backend}: {audit_s:.3f} s "
                      f"({(end - start) / audit_s:,.0f} events/s)")
                print(f"ceiling (plain re-hash of the same rows): {ceiling_s:.3f} s "
                      f"({(end - start) / ceiling_s:,.0f} events/s)")
                print(f"ratio: {ceiling_s / audit_s:.0%} of the ceiling")
            with ledger.db.reading() as c:
                size = audit_rows.log_size(c)
            recheck_s, examined = audit_round(ledger, recheck=20_000)
            print(f"a round with nothing new and the default re-check of {examined.rechecked:,} older events "
                  f"(log of {size:,}): {recheck_s:.3f} s")
        finally:
            ledger.db.dispose()
            drop(url)


if __name__ == "__main__":
    main()
