"""Proof services: events as stored, the Merkle log's proofs, bundles; personal data beside the chain.

Everything here reads: a bundle or a proof needs a signed checkpoint, which the
checkpoint publisher (``ledger.publisher``) signs in its own transaction.
"""

from __future__ import annotations

import hmac
from dataclasses import replace
from collections.abc import Sequence
from datetime import datetime, timezone
from typing import Any

from .. import crossing, privacy
from ..bundle import FORMAT
from ..segments import city_bundle
from ..domain import Event, Role
from ..errors import Archived, CheckpointMismatch, Conflict, NotFound
from ..log import LogTree, checkpoint_at, leaf_hash
from ..audit import DISPUTING
from ..publisher import Witnessed
from ..signednote import Checkpoint
from ..storage import cosignatures as cosignature_rows
from ..storage import Connection
from ..storage import audit as audit_rows
from ..storage import events as event_rows
from ..storage import foreign as foreign_rows
from ..storage import partitions
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
            for block in self.tree(connection).archived:
                if block.first <= event_id < block.end:
                    raise Archived(f"event {event_id} was archived with log positions {block.first} to "
                                   f"{block.end - 1} (file {block.file}); the hot ledger no longer serves it")
            raise NotFound(f"no event {event_id}")
        return event

    def history(self, connection: Connection, cylinder: str, after_seq: int = -1, limit: int | None = None) -> list[Event]:
        if reg.get_cylinder(connection, cylinder) is None:
            raise NotFound(f"no cylinder {cylinder}")
        return event_rows.history(connection, cylinder, after_seq, limit)

    def story(self, connection: Connection, cylinder: str) -> list[tuple[Event, str]]:
        """A cylinder's whole chain by seq, each event with the log that holds it: this ledger's own and the
        other cities' segments it verified and kept (docs/regions.md)."""
        own = [(event, self.settings.log_origin) for event in self.history(connection, cylinder)]
        kept = [(crossing.foreign_event(row), row[2]) for row in foreign_rows.rows_of(connection, [cylinder])]
        return sorted(own + kept, key=lambda pair: pair[0].seq) if kept else own

    def story_rows(self, connection: Connection, cylinder: str) -> list[tuple]:
        """``story``'s events as stored rows (``events.raw_history``'s shape), for re-hashing."""
        rows = event_rows.raw_history(connection, cylinder)
        kept = [(row[3], row[0], row[1], *row[4:15]) for row in foreign_rows.rows_of(connection, [cylinder])]
        return sorted(rows + kept, key=lambda row: row[2]) if kept else rows

    # -- the log ---------------------------------------------------------------

    def tree(self, connection: Connection) -> LogTree:
        return LogTree(connection, self.cache)

    def checkpoint(self) -> Checkpoint:
        """The newest checkpoint, covering the whole log (the publisher signs one first if the log has grown)."""
        return self.publisher.latest()

    def checkpoint_for(self, event_id: int) -> Checkpoint:
        """The newest stored checkpoint if it holds the event, else a fresh one of the whole log."""
        with self.db.reading() as connection:
            position = self.event(connection, event_id).log_index
        return self.publisher.latest() if position is None else self.publisher.covering(position)

    def inclusion(self, connection: Connection, event_id: int, size: int | None = None) -> dict[str, Any]:
        """The event's RFC 9162 inclusion proof: ``entry_hash`` is the event's hash (the log entry),
        ``leaf_hash`` is SHA-256(0x00 || entry), the value a verifier starts the audit path from."""
        event = self.event(connection, event_id)
        if event.log_index is None:  # committed, not yet sequenced (``ledger.sequencer``)
            raise Conflict(f"event {event_id} ({event.cylinder} seq {event.seq}) has no log position yet; "
                           "the publisher's next round gives it one: ask again in a moment")
        tree = self.tree(connection)
        size = tree.get_size() if size is None else size
        path = tree.inclusion_path(event.log_index, size)
        return {"log_index": event.log_index, "tree_size": size, "entry_hash": event.hash.hex(),
                "leaf_hash": leaf_hash(event.hash).hex(), "audit_path": [node.hex() for node in path]}

    def consistency(self, connection: Connection, old: int, new: int) -> dict[str, Any]:
        path = self.tree(connection).consistency_path(old, new)
        return {"old_size": old, "new_size": new, "proof": [node.hex() for node in path]}

    def published(self) -> Witnessed:
        """The newest stored checkpoint with every witness's cosignature on it (``Witnessed.note``)."""
        return self.publisher.newest()

    def witnessed_by(self, connection: Connection, cylinder: str) -> list[tuple[str, datetime]]:
        """``(witness, when)`` of each witness's first cosignature on a checkpoint holding the cylinder's newest event."""
        newest = self.history(connection, cylinder)[-1].log_index
        if newest is None:
            return []
        return [(witness, datetime.fromtimestamp(stamp, timezone.utc))
                for witness, stamp in cosignature_rows.first_covering(connection, newest)]

    def bundle(self, cylinder: str) -> dict[str, Any]:
        """A self-contained proof of a cylinder's whole history (see ``ledger.bundle``), under the newest stored
        checkpoint with its cosignatures if it covers the cylinder's newest event; otherwise the publisher signs
        one at once (and submits it to the witnesses on its next round). The bundle is read in one snapshot."""
        with self.db.reading() as connection:
            chain = self.history(connection, cylinder)
            _whole(connection, cylinder, chain)
            newest = chain[-1].log_index
        checkpoint = self.publisher.latest() if newest is None else self.publisher.covering(newest)
        note = self.publisher.witnessed(checkpoint).note
        with self.db.reading() as connection:
            return self.bundle_at(connection, cylinder, checkpoint, note)

    def whole_bundle(self, cylinder: str) -> dict[str, Any]:
        """The cylinder's bundle that verifies offline on its own: ``bundle`` when its chain is in this log
        alone; when it crossed city lines, a ``cylinder-ledger/segments/v1`` bundle (``ledger.segments``) of
        this log's segments under its checkpoint and the other cities' segments it kept, each under the
        checkpoint it was verified against with the proofs checked then. Segments kept before their proofs
        were (migration 0020) leave it at ``bundle``."""
        own = self.bundle(cylinder)
        with self.db.reading() as connection:
            rows = foreign_rows.rows_of(connection, [cylinder])
            if not rows:
                return own
            verified = foreign_rows.proofs_of(connection, cylinder)
        kept = [(event_json(replace(crossing.foreign_event(row), log_index=row[3])), row[2]) for row in rows]
        return city_bundle(own, kept, verified) or own

    def bundle_at(self, connection: Connection, cylinder: str, checkpoint: Checkpoint,
                  note: str | None = None) -> dict[str, Any]:
        """The bundle of the cylinder's events ``checkpoint`` covers (``note``: it with cosignatures); reads only."""
        checkpoint_at(connection, checkpoint.size)
        history = [event for event in self.history(connection, cylinder)
                   if event.log_index is not None and event.log_index < checkpoint.size]
        _whole(connection, cylinder, history)
        tree = self.tree(connection)
        # A bundle proves what the log signed: never from a log that no longer reproduces that checkpoint.
        if tree.get_size() < checkpoint.size or not hmac.compare_digest(tree.get_root(checkpoint.size),
                                                                        checkpoint.root):
            raise CheckpointMismatch(f"the log no longer reproduces its signed checkpoint at size {checkpoint.size}")
        proofs = [
            {"log_index": e.log_index, "tree_size": checkpoint.size,
             "audit_path": [node.hex() for node in tree.inclusion_path(e.log_index, checkpoint.size)]}
            for e in history
        ]
        # What an audit found about the stored rows (ledger.audit): the bundle proves what the log signed,
        # and says when the ledger itself disputes this cylinder's record.
        disputes = audit_rows.disputes_of(connection, cylinder, DISPUTING)
        return {"format": FORMAT, "cylinder": cylinder, "checkpoint": note or checkpoint.note,
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


def _whole(connection: Connection, cylinder: str, history: list[Event]) -> None:
    """A bundle carries a chain from its start: refused, saying why, when the first events were archived."""
    if (history and history[0].seq == 0) or not partitions.partitioned(connection):
        return
    before = partitions.keys_before(connection, cylinder, history[0].seq if history else 2**31 - 1)
    if before:
        raise Archived(f"the first {before} event(s) of {cylinder} were archived with their partition; a bundle "
                       "carries the whole chain from its register event, which only the archive files still hold "
                       "(docs/operations.md, \"Archiving old events\")")
