"""Queries of the Merkle log: leaf hashes by position, and the signed checkpoints."""

from __future__ import annotations

from collections.abc import Iterator

from sqlalchemy import Connection, text

from . import citus
from .db import LOG_LOCK

__all__ = ["event_hash_at", "event_hashes", "take_log_lock", "latest", "all_sizes", "at_size", "insert"]


def event_hash_at(connection: Connection, position: int) -> bytes:
    if citus.distributed(connection):  # the position's cylinder names the one shard that holds it
        ((cylinder, _),) = citus.positions(connection, "id", [int(position)])
        row = connection.exec_driver_sql(
            f"SELECT hash FROM events WHERE cylinder = %s AND id = {int(position)}", (cylinder,)).first()
        return bytes(row[0])
    row = connection.exec_driver_sql(f"SELECT hash FROM events WHERE id = {int(position)}").first()
    return bytes(row[0])


def event_hashes(connection: Connection, offset: int, width: int) -> list[bytes]:
    """The event hashes at log positions ``offset`` .. ``offset + width - 1``, in order."""
    rows = connection.exec_driver_sql(
        f"SELECT hash FROM events WHERE id >= {int(offset)} AND id < {int(offset + width)} ORDER BY id"
    )
    return [bytes(row[0]) for row in rows]


def take_log_lock(connection: Connection) -> None:
    """Serialise log writers until the transaction ends (SQLite's write lock already does)."""
    if connection.dialect.name == "postgresql":
        connection.exec_driver_sql(f"SELECT pg_advisory_xact_lock({LOG_LOCK})")


def latest(connection: Connection):
    return connection.execute(text("SELECT size, root, note FROM checkpoints ORDER BY size DESC LIMIT 1")).first()


def all_sizes(connection: Connection) -> Iterator:
    yield from connection.execute(text("SELECT size, root, note FROM checkpoints ORDER BY size"))


def at_size(connection: Connection, size: int):
    return connection.execute(text("SELECT size, root, note FROM checkpoints WHERE size = :s"), {"s": size}).first()


def insert(connection: Connection, size: int, root: bytes, note: str, signed_at: str) -> None:
    connection.execute(
        text("INSERT INTO checkpoints (size, root, note, signed_at) VALUES (:s, :r, :n, :t)"),
        {"s": size, "r": root, "n": note, "t": signed_at},
    )
