"""Proof services: events as stored, the Merkle log's proofs, bundles; personal data beside the chain.

Everything here reads: a bundle or a proof needs a signed checkpoint, which the
checkpoint publisher (``ledger.publisher``) signs in its own transaction.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from .. import privacy
from ..bundle import FORMAT
from ..domain import Event, Role
from ..errors import NotFound
from ..log import LogTree, checkpoint_at, leaf_hash
from ..signednote import Checkpoint
from ..audit import DISPUTING
from ..storage import Connection
from ..storage import audit as audit_rows
from ..storage import events as event_rows
from ..storage import registry as reg
from ..wire import event_json
from .types import Actor, _now

__all__ = ["ProofService"]

# Reports are the regulator's own field observations; other parties see only their commitment.
_NOTE_READERS = frozenset({Role.ADMIN, Role.REGULATOR, Role.INSPECTOR})


class ProofService:
    """Part of ``Ledger``: reading events and proving them."""

    # -- reading ---------------------------------------------------------------

    def event(self, connection: Connection, event_id: int) -> Event:
        event = event_rows.get(connection, event_id)
        if event is None:
            raise NotFound(f"no event {event_id}")
        return event

    def history(self, connection: Connection, cylinder: str, after_seq: int = -1, limit: int | None = None) -> list[Event]:
        if reg.get_cylinder(connection, cylinder) is None:
            raise NotFound(f"no cylinder {cylinder}")
        return event_rows.history(connection, cylinder, after_seq, limit)

    # -- the log ---------------------------------------------------------------

    def tree(self, connection: Connection) -> LogTree:
        return LogTree(connection, self.cache)

    def checkpoint(self) -> Checkpoint:
        """The newest checkpoint, covering the whole log (the publisher signs one first if the log has grown)."""
        return self.publisher.latest()

    def inclusion(self, connection: Connection, event_id: int, size: int | None = None) -> dict[str, Any]:
        """The event's RFC 9162 inclusion proof: ``entry_hash`` is the event's hash (the log entry),
        ``leaf_hash`` is SHA-256(0x00 || entry), the value a verifier starts the audit path from."""
        event = self.event(connection, event_id)
        tree = self.tree(connection)
        size = tree.get_size() if size is None else size
        path = tree.inclusion_path(event.log_index, size)
        return {"log_index": event.log_index, "tree_size": size, "entry_hash": event.hash.hex(),
                "leaf_hash": leaf_hash(event.hash).hex(), "audit_path": [node.hex() for node in path]}

    def consistency(self, connection: Connection, old: int, new: int) -> dict[str, Any]:
        path = self.tree(connection).consistency_path(old, new)
        return {"old_size": old, "new_size": new, "proof": [node.hex() for node in path]}

    def bundle(self, cylinder: str) -> dict[str, Any]:
        """A self-contained proof of a cylinder's whole history (see ``ledger.bundle``), under the newest
        checkpoint the publisher has signed; the bundle itself is read in one snapshot."""
        checkpoint = self.publisher.latest()
        with self.db.reading() as connection:
            if self.history(connection, cylinder)[-1].log_index < checkpoint.size:
                return self.bundle_at(connection, cylinder, checkpoint)
        checkpoint = self.publisher.latest()  # written after the checkpoint we read: have a newer one signed
        with self.db.reading() as connection:
            return self.bundle_at(connection, cylinder, checkpoint)

    def bundle_at(self, connection: Connection, cylinder: str, checkpoint: Checkpoint) -> dict[str, Any]:
        """The bundle of the cylinder's events ``checkpoint`` covers; reads only."""
        checkpoint_at(connection, checkpoint.size)
        history = [event for event in self.history(connection, cylinder) if event.log_index < checkpoint.size]
        tree = self.tree(connection)
        proofs = [
            {"log_index": e.log_index, "tree_size": checkpoint.size,
             "audit_path": [node.hex() for node in tree.inclusion_path(e.log_index, checkpoint.size)]}
            for e in history
        ]
        # What an audit found about the stored rows (ledger.audit): the bundle proves what the log signed,
        # and says when the ledger itself disputes this cylinder's record.
        disputes = audit_rows.disputes_of(connection, cylinder, DISPUTING)
        return {"format": FORMAT, "cylinder": cylinder, "checkpoint": checkpoint.note,
                "events": [event_json(e) for e in history], "proofs": proofs,
                "disputed": bool(disputes), "disputes": disputes}

    # -- personal data beside the chain (ledger.privacy) ----------------------

    def with_notes(self, connection: Connection, actor: Actor, events: Sequence[Event]) -> list[dict[str, Any]]:
        """``events`` as answers show them, each report's note beside it: its text only to overseers."""
        beside = privacy.notes_beside(connection, events, may_read=actor.role in _NOTE_READERS)
        return [{**event_json(e), "note": beside.get(e.id)} for e in events]

    def erase(self, connection: Connection, target: str, *, reason: str, requested_by: str,
              now: datetime | None = None) -> privacy.Erasure:
        """Erase a note's text or an end user's personal data on a lawful request (``ledger.privacy.erase``)."""
        return privacy.erase(connection, target, reason=reason, requested_by=requested_by, now=now or _now())

