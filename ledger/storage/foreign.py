"""Other cities' segments of chains held here: ``foreign_events`` (docs/regions.md).

Each row is an event of another city's log, verified against that log's signed
checkpoint before it was stored (``ledger.crossing.verify_segment``). The rows
are never part of this ledger's log and never change (the table refuses UPDATE
and DELETE, migration 0017). Beside them, ``foreign_proofs`` keeps the inclusion
proofs each verification checked (migration 0020), for the city's own bundle.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence

from sqlalchemy import Connection

from .events import among, chunks, placeholders

__all__ = ["COLUMNS", "insert", "proofs_of", "rows_of", "heads", "hashes", "crossed"]

COLUMNS = ("cylinder, seq, log, log_index, kind, occurred_at, recorded_at, party, person, to_ref, location, data, "
           "idempotency_key, prev_hash, hash")


def insert(connection: Connection, rows: Sequence[tuple], checkpoint: str, stored_at: str,
           proofs: Mapping[int, tuple[int, Sequence[str]]] | None = None, tree_size: int | None = None) -> None:
    """Keep verified rows (``crossing.Segment.rows``) with the checkpoint they were verified against, and
    beside them ``proofs``: by seq, ``(log_index, audit path)`` of every event of that log's bundle under the
    checkpoint (of size ``tree_size``), the kept events' and those verified before alike."""
    if rows:
        connection.exec_driver_sql(
            f"INSERT INTO foreign_events ({COLUMNS}, checkpoint, stored_at) VALUES ({placeholders(connection, 17)})",
            [(*row[:15], checkpoint, stored_at) for row in rows])
    if rows and proofs and tree_size is not None:
        cylinder, log = rows[0][0], rows[0][2]
        body = json.dumps({str(seq): {"log_index": index, "audit_path": list(path)}
                           for seq, (index, path) in sorted(proofs.items())}, separators=(",", ":"))
        connection.exec_driver_sql(
            "INSERT INTO foreign_proofs (cylinder, log, tree_size, checkpoint, proofs, stored_at) "
            f"VALUES ({placeholders(connection, 6)}) ON CONFLICT (cylinder, log, tree_size) DO NOTHING",
            (cylinder, log, tree_size, checkpoint, body, stored_at))


def proofs_of(connection: Connection, cylinder: str) -> list[tuple[str, int, str, dict[int, tuple[int, list[str]]]]]:
    """``(log, tree size, checkpoint, {seq: (log_index, audit path)})`` of each kept verification of the
    cylinder's segments in other logs, the newest checkpoint of each log first."""
    sql = ("SELECT log, tree_size, checkpoint, proofs FROM foreign_proofs WHERE cylinder = "
           f"{placeholders(connection, 1)} ORDER BY log, tree_size DESC")
    return [(log, size, note, {int(seq): (proof["log_index"], proof["audit_path"])
                               for seq, proof in json.loads(body).items()})
            for log, size, note, body in connection.exec_driver_sql(sql, (cylinder,))]


def rows_of(connection: Connection, cylinders: Iterable[str]) -> list[tuple]:
    """The foreign rows of the given cylinders, by cylinder then seq."""
    found: list[tuple] = []
    for chunk in chunks(cylinders):
        sql = (f"SELECT {COLUMNS} FROM foreign_events WHERE cylinder IN ({placeholders(connection, len(chunk))}) "
               "ORDER BY cylinder, seq")
        found.extend(tuple(row) for row in connection.exec_driver_sql(sql, tuple(chunk)))
    return found


def heads(connection: Connection, cylinders: Iterable[str]) -> dict[str, tuple[int, bytes]]:
    """The newest foreign (seq, hash) of each given cylinder that has any."""
    result: dict[str, tuple[int, bytes]] = {}
    for condition, params in among(connection, "f.cylinder", cylinders):
        sql = ("SELECT f.cylinder, f.seq, f.hash FROM foreign_events f WHERE f.seq = "
               f"(SELECT MAX(x.seq) FROM foreign_events x WHERE x.cylinder = f.cylinder) AND {condition}")
        for cylinder, seq, digest in connection.exec_driver_sql(sql, params):
            result[cylinder] = (seq, bytes(digest))
    return result


def hashes(connection: Connection, cylinder: str) -> dict[int, bytes]:
    """Every hash this ledger holds of one cylinder's chain, by seq: its own events' and the foreign ones'."""
    sql = ("SELECT seq, hash FROM events WHERE cylinder = {0} UNION ALL "
           "SELECT seq, hash FROM foreign_events WHERE cylinder = {0}")
    mark = placeholders(connection, 1)
    return {seq: bytes(digest) for seq, digest in connection.exec_driver_sql(sql.format(mark), (cylinder, cylinder))}


def crossed(connection: Connection, cylinders: Iterable[str]) -> set[str]:
    """Those of the given cylinders whose chain has a segment in another city's log."""
    found: set[str] = set()
    for condition, params in among(connection, "cylinder", cylinders):
        sql = f"SELECT DISTINCT cylinder FROM foreign_events WHERE {condition}"
        found.update(row[0] for row in connection.exec_driver_sql(sql, params))
    return found


def head_rows(connection: Connection, chain: dict[str, tuple[int, bytes]]) -> dict[str, tuple[tuple, str | None]]:
    """Per cylinder, the stored row of its chain's head ``chain`` names (``events.heads``) and the log of a
    foreign one (None: this ledger's own event); rows in ``events.COLUMNS`` or ``COLUMNS`` order."""
    from .events import COLUMNS as EVENT_COLUMNS

    wanted = {(cylinder, seq) for cylinder, (seq, _) in chain.items()}
    found: dict[str, tuple[tuple, str | None]] = {}
    for chunk in chunks(chain):
        seqs = sorted({chain[cylinder][0] for cylinder in chunk})
        args = (*chunk, *seqs)
        where = f"cylinder IN ({placeholders(connection, len(chunk))}) AND seq IN ({placeholders(connection, len(seqs))})"
        for row in connection.exec_driver_sql(f"SELECT {EVENT_COLUMNS} FROM events WHERE {where}", args):
            if (row[1], row[2]) in wanted:
                found[row[1]] = (tuple(row), None)
        for row in connection.exec_driver_sql(f"SELECT {COLUMNS} FROM foreign_events WHERE {where}", args):
            if (row[0], row[1]) in wanted:
                found[row[0]] = (tuple(row), row[2])
    return found


def every_row(connection: Connection):
    """Every kept foreign row, by cylinder then seq (``ledger verify``)."""
    yield from connection.exec_driver_sql(f"SELECT {COLUMNS} FROM foreign_events ORDER BY cylinder, seq")
