"""What an insider with write access to the database could do behind the ledger's back.

Only the demo's tamper tool calls this, to plant the breaks that ``ledger verify``
must find; nothing in the service does. The append-only triggers refuse every
change to a stored event, so each change here runs between ``suspend_triggers``
and the restore it returns, as an attacker holding the schema owner's role would.
"""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import Connection, text

from . import citus

__all__ = ["suspend_triggers", "fills", "mid_chain_events", "event_data", "rewrite_event_data", "delete_event"]

# Enough candidates for any demo city's few victims, without reading a large log whole.
_CANDIDATES = 20_000


def suspend_triggers(connection: Connection) -> Callable[[], None]:
    """Drop (SQLite) or disable (PostgreSQL) the triggers on events; returns what puts them back."""
    if connection.dialect.name == "sqlite":
        rows = connection.exec_driver_sql(
            "SELECT name, sql FROM sqlite_master WHERE type = 'trigger' AND tbl_name = 'events' ORDER BY name"
        ).fetchall()
        for name, _ in rows:
            connection.exec_driver_sql(f'DROP TRIGGER "{name}"')
        statements = [sql for _, sql in rows]
    else:
        if citus.distributed(connection):  # Citus alters a distributed table's triggers only when told to
            connection.exec_driver_sql("SET LOCAL citus.enable_unsafe_triggers = on")
        connection.exec_driver_sql("ALTER TABLE events DISABLE TRIGGER USER")
        statements = ["ALTER TABLE events ENABLE TRIGGER USER"]

    def restore() -> None:
        for statement in statements:
            connection.exec_driver_sql(statement)

    return restore


def fills(connection: Connection) -> list[tuple[str, int, int]]:
    """(cylinder, seq, event id) of stored fills, in log order."""
    sql = f"SELECT cylinder, seq, id FROM events WHERE kind = 'fill' ORDER BY id LIMIT {_CANDIDATES}"
    return [tuple(row) for row in connection.exec_driver_sql(sql)]


def mid_chain_events(connection: Connection) -> list[tuple[str, int, int]]:
    """(cylinder, seq, event id) of events with both a predecessor and a successor, in log order."""
    sql = ("SELECT e.cylinder, e.seq, e.id FROM events e WHERE e.seq > 0 AND EXISTS "
           "(SELECT 1 FROM events n WHERE n.cylinder = e.cylinder AND n.seq = e.seq + 1) "
           f"ORDER BY e.id LIMIT {_CANDIDATES}")
    return [tuple(row) for row in connection.exec_driver_sql(sql)]


def event_data(connection: Connection, event_id: int) -> str:
    """The stored text of an event's ``data``."""
    return connection.execute(text("SELECT data FROM events WHERE id = :id"), {"id": event_id}).scalar_one()


def rewrite_event_data(connection: Connection, event_id: int, data: str) -> None:
    """Overwrite an event's ``data`` text, leaving its hash as it was."""
    connection.execute(text("UPDATE events SET data = :d WHERE id = :id"), {"d": data, "id": event_id})


def delete_event(connection: Connection, event_id: int) -> None:
    """Remove an event row, leaving a hole in its chain and in the log."""
    connection.execute(text("DELETE FROM events WHERE id = :id"), {"id": event_id})
