"""EPCIS 2.0 capture next to the ledger's own ingest, in the same run on the same database.

    python bench/epcis_capture.py [--events 5000] [--cylinders 500] [--backend sqlite|postgresql]

Registers two equal sets of cylinders of one gas company. The ceiling: the
filling station's fills of the first set go through ``Ledger.ingest`` (the one
ingest use case, custody rules on, judged after commit) in chunks of the size
the capture worker uses: what ``POST /v1/events/batch`` costs without HTTP. The
capture: the same number of fills of the second set, written as one EPCIS 2.0
document (JSON bytes, as a partner's system sends them), is accepted
(``ledger.capture.accept``: parse, check, store the job) and captured
(``ledger.capture.work``: map each ObjectEvent, ingest, store each chunk's
outcomes) until the job is finished. Both are timed end to end; the ratio is
capture's events/s over the ceiling's.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ingest import ADMIN, bench_company, drop, open_ledger, register_cylinders  # noqa: E402

from ledger import capture  # noqa: E402
from ledger.domain import EventKind, NewEvent  # noqa: E402
from ledger.epcis import mapping  # noqa: E402


def _fill(code: str, station: str, at: datetime, n: int) -> dict:
    site = f"{mapping.ID_SCHEME}site:{station}"
    return {"eventID": f"urn:uuid:00000000-0000-4000-8000-{n:012d}", "type": "ObjectEvent",
            "eventTime": at.isoformat(), "eventTimeZoneOffset": "+08:00",
            "epcList": [f"{mapping.ID_SCHEME}cyl:{code}"], "action": "OBSERVE", "bizStep": mapping.FILLING,
            "disposition": "sellable_not_accessible", "readPoint": {"id": site}, "bizLocation": {"id": site},
            "quantityList": [{"epcClass": mapping.LPG_CLASS, "quantity": 14.5, "uom": "KGM"}]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=5000)
    parser.add_argument("--cylinders", type=int, default=500)
    parser.add_argument("--backend", choices=("sqlite", "postgresql"), default="sqlite")
    args = parser.parse_args()
    settings = capture.CaptureSettings({})
    with tempfile.TemporaryDirectory(prefix="cl-bench-") as tmp:
        ledger, url = open_ledger(args.backend, Path(tmp))
        try:
            company, station = bench_company(ledger)
            codes = register_cylinders(ledger, company, 0, 2 * args.cylinders, 1000)
            direct, captured = codes[:args.cylinders], codes[args.cylinders:]
            start = datetime.now(timezone.utc) - timedelta(seconds=args.events + 60)
            times = [start + timedelta(seconds=n) for n in range(args.events)]
            print(f"EPCIS capture on {args.backend}: {args.events:,} fills over {args.cylinders:,} cylinders, "
                  f"custody rules on, chunks of {settings.chunk}")

            items = [NewEvent(direct[n % len(direct)], EventKind.FILL, times[n], station.party, f"direct-{n:09d}",
                              data={"net_kg": 14.5}) for n in range(args.events)]
            tick = time.perf_counter()
            created = 0
            for first in range(0, len(items), settings.chunk):
                outcomes = ledger.ingest_one(station, items[first:first + settings.chunk], judge=True)
                created += sum(outcome.status == "created" for outcome in outcomes)
            ceiling_s = time.perf_counter() - tick
            assert created == args.events, "every direct fill must be created"

            body = json.dumps({
                "@context": [mapping.CONTEXT_URL, {mapping.EXT_PREFIX: mapping.EXT_NS}], "type": "EPCISDocument",
                "schemaVersion": "2.0", "creationDate": start.isoformat(),
                "epcisBody": {"eventList": [_fill(captured[n % len(captured)], station.party, times[n], n)
                                            for n in range(args.events)]}}).encode()
            tick = time.perf_counter()
            with ledger.db.writing() as connection:
                job_id = capture.accept(connection, ledger, station, json.loads(body), hashlib.sha256(body).digest(),
                                        settings)
            accepted_s = time.perf_counter() - tick
            while capture.work(ledger, settings):
                pass
            capture_s = time.perf_counter() - tick
            with ledger.db.reading() as connection:
                report = capture.report(connection, ADMIN, job_id)
            assert report["success"] and report["processed"] == args.events, report["errors"][:3]

            ceiling, rate = args.events / ceiling_s, args.events / capture_s
            print(f"document: {len(body) / 1e6:,.1f} MB, accepted (parsed, checked, stored) in {accepted_s:.2f} s")
            print(f"ceiling (Ledger.ingest of the same fills as NewEvents): {ceiling:,.0f} events/s")
            print(f"EPCIS capture (accept + worker, end to end): {rate:,.0f} events/s")
            print(f"ratio: {rate / ceiling:.0%} of the ceiling")
        finally:
            ledger.db.dispose()
            drop(url)


if __name__ == "__main__":
    main()
