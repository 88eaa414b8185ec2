"""The queries of a mirror: a log's entries in log order, and storing verified entries as they are.

``entries`` serves any ledger's events by log position. ``store_verified`` is
how a mirror's database receives what ``ledger.service.mirror`` verified: the
rows exactly as the log holds them (same id, seq, hashes), never through the
append path, which would give them new positions and new hashes. The cylinder
rows they need are derived from their ``register`` events, and each owner that
a registration names gets a row of its own (docs/mirror.md says why).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, insert, select

from . import models as m
from .checkpoints import take_log_lock
from .events import COLUMNS, chunks, placeholders

__all__ = ["entries", "store_verified", "rows_between", "cylinders_between", "row_at", "mirrored_log", "claim_log"]

UNKNOWN_REGION = "000000"


def entries(connection: Connection, start: int, end: int) -> list[tuple]:
    """Stored event rows with ``start`` <= id < ``end``, in log order."""
    sql = f"SELECT {COLUMNS} FROM events WHERE id >= {int(start)} AND id < {int(end)} ORDER BY id"
    return [tuple(row) for row in connection.exec_driver_sql(sql)]


def rows_between(connection: Connection, start: int, end: int) -> list[tuple]:
    """The same rows, read through the bare driver (the audit's comparison reads many)."""
    cursor = connection.connection.cursor()
    cursor.execute(f"SELECT {COLUMNS} FROM events WHERE id >= {int(start)} AND id < {int(end)} ORDER BY id")
    return cursor.fetchall()


def cylinders_between(connection: Connection, start: int, end: int, limit: int = 1000) -> list[str]:
    """The cylinders with an event at a log position in [start, end), by code, at most ``limit``."""
    sql = (f"SELECT DISTINCT cylinder FROM events WHERE id >= {int(start)} AND id < {int(end)} "
           f"ORDER BY cylinder LIMIT {int(limit)}")
    return [row[0] for row in connection.exec_driver_sql(sql)]


def store_verified(
    connection: Connection, rows: Sequence[tuple], cylinders: Sequence[dict[str, Any]],
    owners: Sequence[dict[str, Any]], checkpoint: tuple[int, bytes, str, str],
) -> None:
    """Insert verified event ``rows`` (``events.COLUMNS`` order), the ``cylinders`` and ``owners`` rows they
    need, and the ``checkpoint`` (size, root, note, signed_at) that covers them, in the caller's transaction.

    Refuses (the database's keys do) a position or a (cylinder, seq) already held.
    """
    take_log_lock(connection)
    mark = placeholders(connection, 1)
    if owners:
        held = set()
        for chunk in chunks(str(owner["id"]) for owner in owners):
            held.update(connection.execute(select(m.parties.c.id).where(m.parties.c.id.in_(chunk))).scalars())
        fresh = [{"id": o["id"], "kind": "gas_company", "name": o["id"], "region": UNKNOWN_REGION,
                  "created_at": o["created_at"]} for o in owners if o["id"] not in held]
        if fresh:
            connection.execute(insert(m.parties), fresh)
    if cylinders:
        connection.execute(insert(m.cylinders), list(cylinders))
    if rows:
        connection.exec_driver_sql(f"INSERT INTO events ({COLUMNS}) VALUES ({placeholders(connection, 14)})",
                                   [tuple(row) for row in rows])
    size, root, note, signed_at = checkpoint
    connection.exec_driver_sql(
        f"INSERT INTO checkpoints (size, root, note, signed_at) VALUES ({mark}, {mark}, {mark}, {mark})",
        (size, root, note, signed_at))


def row_at(connection: Connection, cylinder: str, seq: int) -> tuple | None:
    """The stored row of one cylinder's event ``seq``, wherever in the log it sits."""
    mark = placeholders(connection, 1)
    row = connection.exec_driver_sql(
        f"SELECT {COLUMNS} FROM events WHERE cylinder = {mark} AND seq = {mark}", (cylinder, seq)).first()
    return None if row is None else tuple(row)


def mirrored_log(connection: Connection) -> tuple[str, str, str] | None:
    """(origin, verifier key, URL) of the log this database mirrors; None in a ledger's own database."""
    row = connection.execute(select(m.mirrored_log.c.origin, m.mirrored_log.c.vkey, m.mirrored_log.c.url)).first()
    return None if row is None else tuple(row)


def claim_log(connection: Connection, origin: str, vkey: str, url: str, since: str) -> None:
    """Record which log this database mirrors (once; the URL it is followed from may change)."""
    if mirrored_log(connection) is None:
        connection.execute(insert(m.mirrored_log).values(origin=origin, vkey=vkey, url=url, since=since))
    else:
        connection.execute(m.mirrored_log.update().values(url=url))
