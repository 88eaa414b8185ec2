"""Tampering behind the ledger's back, on explicit request only (``CityConfig(tamper=True)``).

This is what an insider with database access would do: switch off the
append-only triggers, rewrite a fill weight (``chain_tampered``) or delete an
event (``sequence_gap``), and switch the triggers back on. Only the verifier
(``ledger verify``) can see it. Never part of the default demo.
"""

from __future__ import annotations

import json
import random

from sqlalchemy import Connection, text

from ..service import Ledger
from .anomalies import Plant
from .config import CityConfig

__all__ = ["tamper_with"]


def _suspend_triggers(connection: Connection) -> list[str]:
    """Drop (SQLite) or disable (PostgreSQL) the triggers on events; returns how to restore them."""
    if connection.dialect.name == "sqlite":
        rows = connection.exec_driver_sql(
            "SELECT name, sql FROM sqlite_master WHERE type = 'trigger' AND tbl_name = 'events' ORDER BY name"
        ).fetchall()
        for name, _ in rows:
            connection.exec_driver_sql(f'DROP TRIGGER "{name}"')
        return [sql for _, sql in rows]
    connection.exec_driver_sql("ALTER TABLE events DISABLE TRIGGER USER")
    return ["ALTER TABLE events ENABLE TRIGGER USER"]


def _victims(connection: Connection, kind: str, count: int, rng: random.Random) -> list[tuple[str, int, int]]:
    """``count`` (cylinder, seq, event id) of fills (to rewrite) or mid-chain events (to delete)."""
    if kind == "chain_tampered":
        sql = "SELECT cylinder, seq, id FROM events WHERE kind = 'fill' ORDER BY id"
    else:
        sql = ("SELECT e.cylinder, e.seq, e.id FROM events e WHERE e.seq > 0 AND EXISTS "
               "(SELECT 1 FROM events n WHERE n.cylinder = e.cylinder AND n.seq = e.seq + 1) ORDER BY e.id")
    rows = [tuple(row) for row in connection.exec_driver_sql(sql + " LIMIT 20000")]
    return rng.sample(rows, min(count, len(rows)))


def tamper_with(ledger: Ledger, rng: random.Random, config: CityConfig) -> list[Plant]:
    """Rewrite some fills and delete some events; returns the truth of what was done."""
    count = max(1, round(config.anomaly_rate * config.users / 4))
    done: list[Plant] = []
    with ledger.db.writing() as connection:
        restore = _suspend_triggers(connection)
        used: set[str] = set()
        for kind in ("chain_tampered", "sequence_gap"):
            for cylinder, seq, event_id in _victims(connection, kind, count, rng):
                if cylinder in used:
                    continue
                used.add(cylinder)
                if kind == "chain_tampered":
                    row = connection.execute(text("SELECT data FROM events WHERE id = :id"), {"id": event_id}).one()
                    data = json.loads(row.data)
                    data["net_kg"] = round(float(data.get("net_kg", 14.5)) - 1.5, 2)
                    connection.execute(text("UPDATE events SET data = :d WHERE id = :id"),
                                       {"d": json.dumps(data, separators=(",", ":")), "id": event_id})
                    note = f"fill weight of seq {seq} rewritten to {data['net_kg']} kg"
                else:
                    connection.execute(text("DELETE FROM events WHERE id = :id"), {"id": event_id})
                    note = f"event seq {seq} deleted"
                plant = Plant(kind, cylinder, [], note, -1, events=[event_id], outcome="tampered")
                done.append(plant)
        for statement in restore:
            connection.exec_driver_sql(statement)
    return done
