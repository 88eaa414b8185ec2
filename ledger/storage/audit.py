"""The queries behind ``ledger verify``: stored rows in log order, and rows that break a chain rule."""

from __future__ import annotations

from collections.abc import Iterator

from sqlalchemy import Connection

from .citus import log_table

__all__ = ["log_size", "event_pages", "chain_breaks"]

_COLUMNS = ("id, cylinder, seq, kind, occurred_at, recorded_at, party, person, to_ref, "
            "location, data, idempotency_key, prev_hash, hash")


def log_size(connection: Connection) -> int:
    return connection.exec_driver_sql(f"SELECT COALESCE(MAX(id) + 1, 0) FROM {log_table(connection)}").scalar_one()


def event_pages(connection: Connection, page: int = 20_000, start: int = 0,
                end: int | None = None) -> Iterator[list[tuple]]:
    """Stored event rows with ``start`` <= id < ``end``, in log order, a page at a time, through the
    bare driver (the audit's hot path)."""
    cursor = connection.connection.cursor()
    last = int(start) - 1
    bound = "" if end is None else f" AND id < {int(end)}"
    while True:
        cursor.execute(f"SELECT {_COLUMNS} FROM events WHERE id > {last}{bound} ORDER BY id LIMIT {int(page)}")
        rows = cursor.fetchall()
        if not rows:
            return
        yield rows
        last = rows[-1][0]


_RULES = (
    ("sequence_gap", "the first event of the chain is missing (seq 0)",
     "SELECT c.id, 0 FROM cylinders c WHERE NOT EXISTS (SELECT 1 FROM events e WHERE e.cylinder = c.id AND e.seq = 0)"),
    ("sequence_gap", "the sequence number is negative",
     "SELECT cylinder, seq FROM events WHERE seq < 0"),
    ("chain_tampered", "the chain does not start with a register event without prev_hash",
     "SELECT cylinder, seq FROM events WHERE seq = 0 AND (kind <> 'register' OR prev_hash IS NOT NULL)"),
    ("chain_tampered", "a register event appears after the start of the chain",
     "SELECT cylinder, seq FROM events WHERE seq > 0 AND kind = 'register'"),
)

# One pass over the (cylinder, seq) index finds both a missing predecessor and a broken link.
_LINKS = (
    "SELECT e.cylinder, e.seq, p.seq FROM events e LEFT JOIN events p ON p.cylinder = e.cylinder AND p.seq = e.seq - 1 "
    "WHERE e.seq > 0 AND (p.seq IS NULL OR e.prev_hash IS NULL OR e.prev_hash <> p.hash) ORDER BY e.cylinder, e.seq"
)


def chain_breaks(connection: Connection) -> Iterator[tuple[str, str, int, str]]:
    """(kind, cylinder, seq, detail) of every row that breaks a chain rule; the database streams only those."""
    for kind, detail, sql in _RULES:
        for cylinder, seq in connection.exec_driver_sql(sql):
            yield kind, cylinder, seq, detail
    for cylinder, seq, previous in connection.exec_driver_sql(_LINKS):
        if previous is None:
            yield "sequence_gap", cylinder, seq, "the previous event of the chain is missing"
        else:
            yield "chain_tampered", cylinder, seq, "prev_hash does not equal the previous event's hash"
