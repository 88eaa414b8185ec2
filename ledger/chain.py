"""A cylinder's hash chain checked against its stored rows: the defects and their kinds.

A chain is intact when its events run seq 0, 1, 2, ... with ``register`` first,
each ``prev_hash`` is the hash of the event before, and each stored hash is the
one its stored fields give. A defect is a ``Break`` of a ``BreakKind``; the
audit (``ledger.verify``) and the trace answer report every break as data,
because a broken stored chain is a finding (DOMAIN.md "What counts as a broken
chain"), while the bundle verifier raises ``ChainBroken`` at the first.
"""

from __future__ import annotations

import enum
import hmac
from dataclasses import dataclass

from .canonical import event_bytes, event_hash

__all__ = ["BreakKind", "Break", "check_chain", "recomputed"]


class BreakKind(enum.StrEnum):
    """How a stored ledger is broken: the tamper family of finding kinds, and a hole in the log."""

    CHAIN_TAMPERED = "chain_tampered"  # a hash or a link does not match
    SEQUENCE_GAP = "sequence_gap"  # a seq is missing or out of place
    CHECKPOINT_MISMATCH = "checkpoint_mismatch"  # the log disagrees with a signed checkpoint
    LOG_GAP = "log_gap"  # a log position holds no event
    EVENT_DIFFERS = "event_differs"  # a stored event differs from a mirror's verified copy
    EVENT_DELETED = "event_deleted"  # a mirror verified an event at a log position the ledger no longer holds
    EVENT_INSERTED = "event_inserted"  # the ledger holds an event at a position the mirror verified none at
    PROJECTION_EDITED = "projection_edited"  # a cylinder's stored projection differs from its replayed chain
    FINDING_STATUS_EDITED = "finding_status_edited"  # a finding's stored status has no matching step
    CHECKPOINT_DELETED = "checkpoint_deleted"  # a checkpoint a witness cosigned is no longer stored


@dataclass(frozen=True, slots=True)
class Break:
    """One defect, where it is (``cylinder`` and ``seq`` when it has one) and why, in a sentence."""

    kind: BreakKind
    cylinder: str | None
    seq: int | None
    detail: str
    cylinders: tuple[str, ...] = ()  # where a checkpoint mismatch was narrowed to: the cylinders in its range

    def __post_init__(self) -> None:
        object.__setattr__(self, "kind", BreakKind(self.kind))

    def as_dict(self) -> dict[str, object]:
        found: dict[str, object] = {"kind": self.kind.value, "cylinder": self.cylinder, "seq": self.seq,
                                    "detail": self.detail}
        if self.cylinders:
            found["cylinders"] = list(self.cylinders)
        return found


def recomputed(row: tuple) -> bytes:
    """The hash a stored row (``storage.events`` raw columns) should carry, from its stored fields."""
    (_, cyl, seq, kind, occ, rec, party, person, to, loc, data, key, prev, _) = row
    return event_hash(event_bytes(
        cylinder=cyl, seq=seq, kind=kind, occurred_at=occ, recorded_at=rec, party=party, person=person, to=to,
        location_json=loc, data_json=data, idempotency_key=key, prev_hash_hex=None if prev is None else bytes(prev).hex(),
    ))


def check_chain(rows: list[tuple]) -> list[dict[str, object]]:
    """The breaks in one cylinder's stored rows (``events.raw_history``), for a trace answer."""
    found: list[Break] = []
    previous: bytes | None = None
    for position, row in enumerate(rows):
        cyl, seq, kind, prev, digest = row[1], row[2], row[3], row[12], bytes(row[13])
        if seq != position:
            found.append(Break(BreakKind.SEQUENCE_GAP, cyl, seq, f"expected seq {position}"))
        if (None if prev is None else bytes(prev)) != previous or (position == 0) != (kind == "register"):
            found.append(Break(BreakKind.CHAIN_TAMPERED, cyl, seq, "the event does not link to the one before"))
        if not hmac.compare_digest(recomputed(row), digest):
            found.append(Break(BreakKind.CHAIN_TAMPERED, cyl, seq, "the stored event does not match its hash"))
        previous = digest
    return [item.as_dict() for item in found]
