"""Tampering behind the ledger's back, on explicit request only (``CityConfig(tamper=True)``).

This is what an insider with database access would do: switch off the
append-only triggers, rewrite a fill weight (``chain_tampered``) or delete an
event (``sequence_gap``), and switch the triggers back on. Only the verifier
(``ledger verify``) can see it. Never part of the default demo.
"""

from __future__ import annotations

import json
import random

from ledger.service import Ledger
from ledger.storage import Connection, tampering

from .anomalies import Plant
from .config import CityConfig

__all__ = ["tamper_with"]


def _victims(connection: Connection, kind: str, count: int, rng: random.Random) -> list[tuple[str, int, int]]:
    """``count`` (cylinder, seq, event id) of fills (to rewrite) or mid-chain events (to delete)."""
    rows = tampering.fills(connection) if kind == "chain_tampered" else tampering.mid_chain_events(connection)
    return rng.sample(rows, min(count, len(rows)))


def tamper_with(ledger: Ledger, rng: random.Random, config: CityConfig) -> list[Plant]:
    """Rewrite some fills and delete some events; returns the truth of what was done."""
    count = max(1, round(config.anomaly_rate * config.users / 4))
    done: list[Plant] = []
    with ledger.db.writing() as connection:
        restore = tampering.suspend_triggers(connection)
        used: set[str] = set()
        for kind in ("chain_tampered", "sequence_gap"):
            for cylinder, seq, event_id in _victims(connection, kind, count, rng):
                if cylinder in used:
                    continue
                used.add(cylinder)
                if kind == "chain_tampered":
                    data = json.loads(tampering.event_data(connection, event_id))
                    data["net_kg"] = round(float(data.get("net_kg", 14.5)) - 1.5, 2)
                    tampering.rewrite_event_data(connection, event_id, json.dumps(data, separators=(",", ":")))
                    note = f"fill weight of seq {seq} rewritten to {data['net_kg']} kg"
                else:
                    tampering.delete_event(connection, event_id)
                    note = f"event seq {seq} deleted"
                plant = Plant(kind, cylinder, [], note, -1, events=[event_id], outcome="tampered")
                done.append(plant)
        restore()
    return done
