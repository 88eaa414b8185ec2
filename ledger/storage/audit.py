"""The queries behind ``ledger verify``: stored rows in log order, and rows that break a chain rule."""

from __future__ import annotations

from collections.abc import Iterator
from typing import NamedTuple

from sqlalchemy import Connection, text

from . import partitions
from .citus import log_table
from .events import marker, placeholders

__all__ = ["log_size", "event_pages", "pending_pages", "chain_breaks", "range_breaks", "state", "save_state", "chunk_roots",
           "chunk_prints", "add_chunks", "leaves", "range_cylinders", "shortened_chains", "projections_after",
           "projections_of", "cylinder_pages", "edited_statuses", "audit_findings", "open_ledger_wide",
           "disputed_count", "checkpoints_from", "disputes_of", "archived_ranges",
           "archived_starts"]

_COLUMNS = ("id, cylinder, seq, kind, occurred_at, recorded_at, party, person, to_ref, "
            "location, data, idempotency_key, prev_hash, hash")


def log_size(connection: Connection) -> int:
    return connection.exec_driver_sql(
        f"SELECT COALESCE(MAX(id) + 1, 0) FROM {log_table(connection)} WHERE id >= 0").scalar_one()


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


def pending_pages(connection: Connection, page: int = 20_000) -> Iterator[list[tuple]]:
    """Stored rows of events committed but not yet given a log position (negative pending ids), a page
    at a time, in the order they will be sequenced."""
    cursor = connection.connection.cursor()
    last = 0
    while True:
        cursor.execute(f"SELECT {_COLUMNS} FROM events WHERE id < {last} ORDER BY id DESC LIMIT {int(page)}")
        rows = cursor.fetchall()
        if not rows:
            return
        yield rows
        last = rows[-1][0]


_RULES = (
    ("sequence_gap", "the first event of the chain is missing (seq 0)",
     "SELECT c.id, 0 FROM cylinders c WHERE NOT EXISTS (SELECT 1 FROM events e WHERE e.cylinder = c.id AND e.seq = 0)"
     # a chain begun in another city's log starts with the register event kept from it (docs/regions.md)
     " AND NOT EXISTS (SELECT 1 FROM foreign_events f WHERE f.cylinder = c.id AND f.seq = 0)"),
    ("sequence_gap", "the sequence number is negative",
     "SELECT cylinder, seq FROM events WHERE seq < 0"),
    ("chain_tampered", "the chain does not start with a register event without prev_hash",
     "SELECT cylinder, seq FROM events WHERE seq = 0 AND (kind <> 'register' OR prev_hash IS NOT NULL)"),
    ("chain_tampered", "a register event appears after the start of the chain",
     "SELECT cylinder, seq FROM events WHERE seq > 0 AND kind = 'register'"),
)

# One pass over the (cylinder, seq) index finds both a missing predecessor and a broken link.
# The previous event may be one another city's log holds, verified and kept beside the chain (docs/regions.md).
_LINKS = (
    "SELECT e.cylinder, e.seq, COALESCE(p.seq, f.seq) FROM events e "
    "LEFT JOIN events p ON p.cylinder = e.cylinder AND p.seq = e.seq - 1 "
    "LEFT JOIN foreign_events f ON f.cylinder = e.cylinder AND f.seq = e.seq - 1 "
    "WHERE e.seq > 0 AND (COALESCE(p.seq, f.seq) IS NULL OR e.prev_hash IS NULL "
    "OR e.prev_hash <> COALESCE(p.hash, f.hash)) ORDER BY e.cylinder, e.seq"
)


# On a partitioned ledger an event whose predecessor was archived links to the hash kept of it, its cylinder's
# last event in that block (``event_archive_heads``); an event deleted from a block still attached stays a gap.
_ARCHIVED_LINKS = (
    "SELECT e.cylinder, e.seq, COALESCE(p.seq, f.seq, k.seq) FROM events e "
    "LEFT JOIN events p ON p.cylinder = e.cylinder AND p.seq = e.seq - 1 "
    "LEFT JOIN foreign_events f ON f.cylinder = e.cylinder AND f.seq = e.seq - 1 "
    "LEFT JOIN event_archive_heads k ON p.seq IS NULL AND k.cylinder = e.cylinder AND k.seq = e.seq - 1 "
    "WHERE e.seq > 0 AND (COALESCE(p.seq, f.seq, k.seq) IS NULL OR e.prev_hash IS NULL "
    "OR e.prev_hash <> COALESCE(p.hash, f.hash, k.hash)) ORDER BY e.cylinder, e.seq"
)


def _links(connection: Connection) -> str:
    return _ARCHIVED_LINKS if partitions.partitioned(connection) else _LINKS


def _rules(connection: Connection) -> tuple:
    if not partitions.partitioned(connection):
        return _RULES
    kind, detail, sql = _RULES[0]
    return ((kind, detail, sql + " AND NOT EXISTS (SELECT 1 FROM event_archive_heads k WHERE k.cylinder = c.id)"),
            *_RULES[1:])


def archived_ranges(connection: Connection) -> list[tuple[int, int]]:
    """``[first, end)`` of every block of log positions archived with its partition (none if not partitioned)."""
    if not partitions.partitioned(connection):
        return []
    return [(archive.first, archive.end) for archive in partitions.archives(connection)]


def archived_starts(connection: Connection, cylinders: list[str]) -> set[str]:
    """Those of ``cylinders`` whose register event was archived with its partition (none if not partitioned)."""
    if not cylinders or not partitions.partitioned(connection):
        return set()
    sql = (f"SELECT DISTINCT k.cylinder FROM event_archive_heads k WHERE k.cylinder IN "
           f"({placeholders(connection, len(cylinders))}) AND NOT EXISTS "
           "(SELECT 1 FROM events e WHERE e.cylinder = k.cylinder AND e.seq = 0)")
    return {row[0] for row in connection.exec_driver_sql(sql, tuple(cylinders))}


def chain_breaks(connection: Connection) -> Iterator[tuple[str, str, int, str]]:
    """(kind, cylinder, seq, detail) of every row that breaks a chain rule; the database streams only those."""
    for kind, detail, sql in _rules(connection):
        for cylinder, seq in connection.exec_driver_sql(sql):
            yield kind, cylinder, seq, detail
    for cylinder, seq, previous in connection.exec_driver_sql(_links(connection)):
        if previous is None:
            yield "sequence_gap", cylinder, seq, "the previous event of the chain is missing"
        else:
            yield "chain_tampered", cylinder, seq, "prev_hash does not equal the previous event's hash"


# -- the incremental audit's state and reads (ledger.audit) ------------------------------------

class _Checkpoint(NamedTuple):
    size: int
    root: bytes
    note: str


_STATE = "SELECT size, root, recheck, projections, status, detail, audited_at FROM audits WHERE id = 1"


def state(connection: Connection):
    """The auditor's stored position (one row), or None before its first audit."""
    return connection.exec_driver_sql(_STATE).first()


def save_state(connection: Connection, values: dict) -> None:
    """Insert or replace the auditor's one row."""
    params = {**values, "id": 1}
    if connection.exec_driver_sql("SELECT 1 FROM audits WHERE id = 1").first() is None:
        connection.execute(text(
            "INSERT INTO audits (id, size, root, recheck, projections, status, detail, audited_at) "
            "VALUES (:id, :size, :root, :recheck, :projections, :status, :detail, :audited_at)"), params)
    else:
        connection.execute(text(
            "UPDATE audits SET size = :size, root = :root, recheck = :recheck, projections = :projections, "
            "status = :status, detail = :detail, audited_at = :audited_at WHERE id = 1"), params)


def checkpoints_from(connection: Connection, size: int):
    """Checkpoint rows (size, root, note) of size ``size`` and larger, by size."""
    for row in connection.exec_driver_sql(f"SELECT size, root, note FROM checkpoints WHERE size >= {int(size)} "
                                          "ORDER BY size"):
        yield _Checkpoint(row[0], bytes(row[1]), row[2])


def chunk_roots(connection: Connection, below: int) -> dict[int, bytes]:
    """The stored root of every audited chunk starting below ``below``."""
    rows = connection.exec_driver_sql(f"SELECT start, root FROM audit_chunks WHERE start < {int(below)}")
    return {start: bytes(root) for start, root in rows}


def chunk_prints(connection: Connection, start: int, end: int) -> dict[int, bytes]:
    """The stored leaf fingerprints of the audited chunks starting in ``start`` .. ``end`` - 1."""
    rows = connection.exec_driver_sql(
        f"SELECT start, prints FROM audit_chunks WHERE start >= {int(start)} AND start < {int(end)}")
    return {first: bytes(prints) for first, prints in rows}


def add_chunks(connection: Connection, chunks: dict[int, tuple[bytes, bytes]]) -> None:
    """Store audited chunks: start -> (root, leaf fingerprints)."""
    if chunks:
        connection.execute(text("INSERT INTO audit_chunks (start, root, prints) VALUES (:s, :r, :p)"),
                           [{"s": start, "r": root, "p": prints} for start, (root, prints) in sorted(chunks.items())])


def leaves(connection: Connection, start: int, end: int) -> list[tuple[int, bytes]]:
    """(position, stored hash) of the events at positions ``start`` .. ``end`` - 1, in order."""
    rows = connection.exec_driver_sql(
        f"SELECT id, hash FROM events WHERE id >= {int(start)} AND id < {int(end)} ORDER BY id")
    return [(position, bytes(digest)) for position, digest in rows]


def range_cylinders(connection: Connection, start: int, end: int) -> list[str]:
    """The cylinders with an event at a position in ``start`` .. ``end`` - 1."""
    rows = connection.exec_driver_sql(
        f"SELECT DISTINCT cylinder FROM events WHERE id >= {int(start)} AND id < {int(end)} ORDER BY cylinder")
    return [row[0] for row in rows]


def range_breaks(connection: Connection, start: int, end: int) -> Iterator[tuple[str, str, int, str]]:
    """``chain_breaks`` restricted to the events at positions ``start`` .. ``end`` - 1 (index lookups only)."""
    within = f"id >= {int(start)} AND id < {int(end)}"
    for kind, detail, sql in _RULES[1:]:
        for cylinder, seq in connection.exec_driver_sql(f"{sql} AND {within}"):
            yield kind, cylinder, seq, detail
    links = _links(connection).replace("WHERE e.seq > 0", f"WHERE e.id >= {int(start)} AND e.id < {int(end)} AND e.seq > 0")
    for cylinder, seq, previous in connection.exec_driver_sql(links):
        if previous is None:
            yield "sequence_gap", cylinder, seq, "the previous event of the chain is missing"
        else:
            yield "chain_tampered", cylinder, seq, "prev_hash does not equal the previous event's hash"


def shortened_chains(connection: Connection) -> list[str]:
    """Cylinders whose projection counts more events than their chain now holds (rows were deleted)."""
    rows = connection.exec_driver_sql(
        "SELECT c.id FROM cylinders c LEFT JOIN (SELECT cylinder, COUNT(*) AS n FROM "
        f"(SELECT cylinder FROM {'event_keys' if partitions.partitioned(connection) else 'events'} "
        "UNION ALL SELECT cylinder FROM foreign_events) x GROUP BY cylinder) e "
        "ON e.cylinder = c.id WHERE c.chain_length > COALESCE(e.n, 0) ORDER BY c.id")
    return [row[0] for row in rows]


_PROJECTED = ("id, holder, state, state_since, last_event_at, next_inspection_due, last_fill_kg, chain_length, "
              "life_ends_on")


def projections_after(connection: Connection, after: str, limit: int) -> list[tuple]:
    """Up to ``limit`` cylinders' projected columns, by id after ``after``, leaving out those queued for review
    (their projection is about to be rewritten)."""
    sql = (f"SELECT {_PROJECTED} FROM cylinders c WHERE c.id > {marker(connection)} AND NOT EXISTS "
           f"(SELECT 1 FROM review_queue q WHERE q.cylinder = c.id) ORDER BY c.id LIMIT {int(limit)}")
    return [tuple(row) for row in connection.exec_driver_sql(sql, (after,))]


def projections_of(connection: Connection, cylinders: list[str]) -> list[tuple]:
    """The projected columns of the given cylinders not queued for review (``ledger verify``)."""
    if not cylinders:
        return []
    sql = (f"SELECT {_PROJECTED} FROM cylinders c WHERE id IN ({placeholders(connection, len(cylinders))}) AND NOT "
           "EXISTS (SELECT 1 FROM review_queue q WHERE q.cylinder = c.id) ORDER BY id")
    return [tuple(row) for row in connection.exec_driver_sql(sql, tuple(cylinders))]


def cylinder_pages(connection: Connection, page: int = 500) -> Iterator[list[str]]:
    """Every cylinder id, a page at a time, in id order."""
    last = ""
    while True:
        sql = f"SELECT id FROM cylinders WHERE id > {marker(connection)} ORDER BY id LIMIT {int(page)}"
        ids = [row[0] for row in connection.exec_driver_sql(sql, (last,))]
        if not ids:
            return
        yield ids
        last = ids[-1]


def edited_statuses(connection: Connection) -> list[tuple[int, str | None, str, str | None]]:
    """(finding, cylinder, stored status, status its newest closed-loop step left) where the two differ."""
    # A finding with no step at all is left alone: every finding the ledger raises records its detection,
    # but one written by an older or outside process may not have.
    sql = ("SELECT f.id, f.cylinder, f.status, a.status FROM findings f JOIN finding_actions a ON a.id = "
           "(SELECT MAX(b.id) FROM finding_actions b WHERE b.finding = f.id) "
           "WHERE a.status <> f.status ORDER BY f.id")
    return [tuple(row) for row in connection.exec_driver_sql(sql)]


def audit_findings(connection: Connection) -> dict[str, tuple[int, str]]:
    """The findings the auditor raised, by key: (id, status)."""
    rows = connection.execute(text("SELECT key, id, status FROM findings WHERE key LIKE 'audit:%'"))
    return {key: (id_, status) for key, id_, status in rows}


def open_ledger_wide(connection: Connection, kinds: tuple[str, ...]) -> list[tuple[int, str, str]]:
    """(id, kind, note) of open findings about the whole log (no cylinder) of the given kinds."""
    sql = (f"SELECT id, kind, note FROM findings WHERE cylinder IS NULL AND kind IN "
           f"({placeholders(connection, len(kinds))}) AND status IN ('open', 'dispatched', 'handled') ORDER BY id")
    return [tuple(row) for row in connection.exec_driver_sql(sql, kinds)]


def disputed_count(connection: Connection, kinds: tuple[str, ...]) -> int:
    sql = (f"SELECT COUNT(DISTINCT cylinder) FROM findings WHERE cylinder IS NOT NULL AND kind IN "
           f"({placeholders(connection, len(kinds))}) AND status IN ('open', 'dispatched', 'handled')")
    return connection.exec_driver_sql(sql, kinds).scalar_one()


def disputes_of(connection: Connection, cylinder: str, kinds: tuple[str, ...]) -> list[dict]:
    """The open findings of the given kinds about one cylinder: {finding, kind, note}."""
    sql = (f"SELECT id, kind, note FROM findings WHERE cylinder = {marker(connection)} AND kind IN "
           f"({placeholders(connection, len(kinds))}) AND status IN ('open', 'dispatched', 'handled') ORDER BY id")
    return [{"finding": id_, "kind": kind, "note": note}
            for id_, kind, note in connection.exec_driver_sql(sql, (cylinder, *kinds))]
