"""The regulator's risk lists and enterprise colours, next to reading a page of cylinders bare.

    python bench/risk.py [--size small|medium|large | --events N] [--repeat 50] [--backend ...] [--keep DIR]

On a demo city (with its planted findings and the sweep done), times for each
reason of GET /v1/risk/cylinders the first page of 100 (``Ledger.risk_cylinders``)
and walking every page to the end; then the enterprise colours
(``Ledger.risk_enterprises``) and the open findings list. The ceiling is the
least a page must do: read 101 cylinder rows in trace-code order with the bare
driver; for the colours, one grouped count of the open findings.
"""

from __future__ import annotations


from common import City, line, measure, raw_cursor, standalone

from ledger.oversight import REASONS


def run(city: City, repeat: int = 50) -> list[str]:
    ledger = city.ledger
    rounds = list(range(repeat))
    with raw_cursor(ledger) as cursor:
        page_ceiling = measure(rounds, lambda _: cursor.execute("SELECT * FROM cylinders ORDER BY id LIMIT 101").fetchall())
        count_ceiling = measure(rounds, lambda _: cursor.execute(
            "SELECT party, severity, count(*) FROM findings WHERE status <> 'resolved' GROUP BY party, severity"
        ).fetchall())
    lines = []
    with ledger.db.reading() as connection:
        for reason in REASONS:
            first = measure(rounds, lambda _: ledger.risk_cylinders(connection, reason=reason, limit=100))
            listed, whole = _walk(ledger, connection, reason)
            lines.append(line(f"risk list {reason} (first page; {listed:,} cylinders in {whole:.2f} s)", first,
                              "pages", page_ceiling, "101 cylinder rows in id order, bare driver"))
        colours = measure(rounds, lambda _: ledger.risk_enterprises(connection))
        lines.append(line("enterprise colours", colours, "answers", count_ceiling,
                          "grouped count of open findings, bare driver"))
        findings = measure(rounds, lambda _: ledger.findings(connection, status="open", limit=100))
        lines.append(line("open findings (first page)", findings, "pages", page_ceiling,
                          "101 cylinder rows in id order, bare driver"))
    return lines


def _walk(ledger, connection, reason: str) -> tuple[int, float]:
    """Every page of one list, as a spreadsheet export reads it."""
    import time

    start, cursor, listed = time.perf_counter(), None, 0
    while True:
        page = ledger.risk_cylinders(connection, reason=reason, cursor=cursor, limit=500)
        listed += len(page["items"])
        cursor = page["next_cursor"]
        if cursor is None:
            return listed, time.perf_counter() - start


def main() -> None:
    standalone(__doc__, run, 50, option="--repeat")


if __name__ == "__main__":
    main()
