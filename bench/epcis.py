"""EPCIS export rate, next to the core's own read of the same events.

    python bench/epcis.py [--size small|medium|large | --events N] [--backend sqlite|postgresql] [--keep DIR]

On a demo city, times ``ledger.service.epcis.write_document``: every event read in log order, mapped to
an EPCIS 2.0 ObjectEvent with its GS1 event hash ID, and written into one EPCISDocument (to a null
sink, so the disk is not what is measured). The ceiling, measured in the same run on the same events,
is the core's own read: the same paged query (``ledger.storage.epcis.stream``) turning the same rows
into the ledger's ``Event`` values, with nothing mapped or written. A second line splits the mapping's
cost: the same export without event hash IDs.
"""

from __future__ import annotations

import argparse
import json
import os
import time

from common import add_city_arguments, open_city

from ledger.epcis.mapping import to_epcis
from ledger.service.epcis import write_document
from ledger.storage import epcis as epcis_rows


def _timed(work) -> tuple[int, float]:
    start = time.perf_counter()
    count = work()
    return count, time.perf_counter() - start


def run(city, rounds: int = 3) -> list[str]:
    ledger = city.ledger
    everything = epcis_rows.EventFilter()

    def read() -> int:
        with ledger.db.reading() as connection:
            return sum(1 for _ in epcis_rows.stream(connection, everything))

    def export() -> int:
        with ledger.db.reading() as connection, open(os.devnull, "w", encoding="utf-8") as sink:
            return write_document(connection, sink)

    def export_without_ids() -> int:
        with ledger.db.reading() as connection, open(os.devnull, "w", encoding="utf-8") as sink:
            count = 0
            for event in epcis_rows.stream(connection, everything):
                sink.write(json.dumps(to_epcis(event, with_id=False), ensure_ascii=False))
                count += 1
            return count

    read()  # warm the page cache for all three
    best = {}
    for name, work in (("read", read), ("export", export), ("no_ids", export_without_ids)):
        timings = [_timed(work) for _ in range(rounds)]
        count = timings[0][0]
        best[name] = (count, min(seconds for _, seconds in timings))
    rate = {name: count / seconds for name, (count, seconds) in best.items()}
    events = best["export"][0]
    return [
        f"EPCIS export ({events:,} events into one EPCISDocument): {rate['export']:,.0f} events/s; "
        f"ceiling (the core's read of the same events): {rate['read']:,.0f}/s; ratio {rate['export'] / rate['read']:.0%}",
        f"  without event hash IDs: {rate['no_ids']:,.0f} events/s; ratio {rate['no_ids'] / rate['read']:.0%} "
        f"(the hash IDs take {1 - rate['export'] / rate['no_ids']:.0%} of the export's time)",
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_city_arguments(parser)
    parser.add_argument("--rounds", type=int, default=3, help="best of this many runs of each")
    args = parser.parse_args()
    city = open_city(args)
    try:
        for text in run(city, args.rounds):
            print(text)
    finally:
        city.close()


if __name__ == "__main__":
    main()
