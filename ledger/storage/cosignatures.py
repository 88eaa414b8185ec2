"""Queries of the witnesses' cosignatures and of what the log knows of each witness."""

from __future__ import annotations

from sqlalchemy import Connection, text

__all__ = ["insert", "at_size", "first_covering", "ensure_states", "states", "claim", "succeeded", "failed",
           "latest_signed_at"]


def insert(connection: Connection, size: int, witness: str, key_name: str, timestamp: int, line: str,
           received_at: str) -> bool:
    """Store one cosignature; ``False`` if that witness's cosignature on ``size`` is stored already."""
    done = connection.execute(
        text("INSERT INTO cosignatures (size, witness, key_name, timestamp, line, received_at) "
             "VALUES (:s, :w, :k, :t, :l, :r) ON CONFLICT DO NOTHING"),
        {"s": size, "w": witness, "k": key_name, "t": timestamp, "l": line, "r": received_at},
    )
    return done.rowcount == 1


def at_size(connection: Connection, size: int) -> list:
    """``(witness, key_name, timestamp, line)`` of every cosignature on the checkpoint of ``size``."""
    return list(connection.execute(
        text("SELECT witness, key_name, timestamp, line FROM cosignatures WHERE size = :s ORDER BY witness"),
        {"s": size}))


def first_covering(connection: Connection, position: int) -> list:
    """Per witness: ``(witness, timestamp)`` of its earliest cosignature on a checkpoint holding log ``position``."""
    rows = connection.execute(
        text("SELECT w.witness, (SELECT c.timestamp FROM cosignatures c WHERE c.witness = w.witness AND c.size > :p "
             "ORDER BY c.size LIMIT 1) FROM witness_states w ORDER BY w.witness"),
        {"p": position})
    return [row for row in rows if row[1] is not None]


def ensure_states(connection: Connection, witnesses: list[str]) -> None:
    for name in witnesses:
        connection.execute(
            text("INSERT INTO witness_states (witness, cosigned_size, failures) VALUES (:w, 0, 0) "
                 "ON CONFLICT DO NOTHING"), {"w": name})


def states(connection: Connection) -> dict[str, tuple]:
    """``witness -> (cosigned_size, failures, retry_at, claimed_until, last_error)``."""
    rows = connection.execute(text(
        "SELECT witness, cosigned_size, failures, retry_at, claimed_until, last_error FROM witness_states"))
    return {row[0]: tuple(row[1:]) for row in rows}


def claim(connection: Connection, witness: str, until: str, now: str, size: int) -> bool:
    """Take ``witness`` for this process until ``until``, if nobody holds it, it is not resting after a
    failure and it has not cosigned ``size``; ``False`` if another process got there first."""
    done = connection.execute(
        text("UPDATE witness_states SET claimed_until = :u WHERE witness = :w AND cosigned_size < :s "
             "AND (claimed_until IS NULL OR claimed_until <= :n) AND (retry_at IS NULL OR retry_at <= :n)"),
        {"u": until, "w": witness, "s": size, "n": now})
    return done.rowcount == 1


def succeeded(connection: Connection, witness: str, size: int) -> None:
    connection.execute(
        text("UPDATE witness_states SET cosigned_size = :s, failures = 0, retry_at = NULL, claimed_until = NULL, "
             "last_error = NULL WHERE witness = :w"), {"s": size, "w": witness})


def failed(connection: Connection, witness: str, retry_at: str, error: str) -> None:
    connection.execute(
        text("UPDATE witness_states SET failures = failures + 1, retry_at = :r, claimed_until = NULL, "
             "last_error = :e WHERE witness = :w"), {"r": retry_at, "e": error[:500], "w": witness})


def latest_signed_at(connection: Connection):
    """``(size, signed_at)`` of the newest checkpoint, or ``None``."""
    return connection.execute(text("SELECT size, signed_at FROM checkpoints ORDER BY size DESC LIMIT 1")).first()
