"""Cylinders that cross city lines: where a chain is held, and another city's segment verified.

A cylinder's life is one hash-linked chain whose segments live in several
cities' logs (docs/regions.md, PROVINCE wire format). A ``dispatch`` or
``return`` to a party homed in another city carries ``data.to_log``, that
city's log origin; the first event of the next segment, in that city, links to
it (``seq`` + 1, ``prev_hash``) and carries ``data.from_log``.

Here, with no database and no network:

- ``holder_log``: which log may extend a chain, judged from its head event;
- ``verify_segment``: another city's bundle of a cylinder checked with that
  city's log key, against what this ledger already holds of the chain, into
  rows to keep beside the chain (``foreign_events``).
"""

from __future__ import annotations

import hmac
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from pydantic_core import from_json

from .bundle import FORMAT
from .canonical import canonical_json
from .chain import recomputed
from .domain import Event, EventKind, Location
from .errors import LedgerError, ProofInvalid, SegmentRefused
from .proofs import leaf_hash, verify_inclusion
from .signednote import Checkpoint, NoteVerifier, open_checkpoint
from .wire import hash_of_json, jcs

__all__ = ["HANDOFFS", "TO_LOG", "FROM_LOG", "Segment", "holder_log", "verify_segment", "foreign_event"]

HANDOFFS = (EventKind.DISPATCH, EventKind.RETURN)
TO_LOG = "to_log"  # on a hand-off: the log of the city the receiver is homed in
FROM_LOG = "from_log"  # on the first event of a segment: the log holding the event it links to


def holder_log(head: Event, head_log: str, own: str) -> str:
    """The log that may append to a chain whose newest event is ``head``, held in ``head_log``.

    A hand-off to another city's party moves the chain to that city's log; any
    other head stays where it was recorded. ``own`` is this ledger's log origin.
    """
    target = head.data.get(TO_LOG) if head.kind in HANDOFFS else None
    if isinstance(target, str) and target:
        return target
    return head_log if head_log else own


@dataclass(frozen=True)
class Segment:
    """Events of another city's log, verified, that continue a chain this ledger holds part of."""

    origin: str
    checkpoint: Checkpoint
    rows: tuple[tuple, ...]  # (cylinder, seq, log, log_index, kind, occurred_at, ..., prev_hash, hash), new seqs only
    head: Event  # the newest event of the chain as the segment leaves it
    # by seq, (log_index, audit path) under ``checkpoint`` of every event of the bundle, kept before or new
    proofs: Mapping[int, tuple[int, tuple[str, ...]]] = field(default_factory=dict, compare=False)

    @property
    def events(self) -> list[Event]:
        return [foreign_event(row) for row in self.rows]


def foreign_event(row: tuple) -> Event:
    """The event a stored foreign row holds (``storage.foreign.COLUMNS`` order); it has no id in this log."""
    (cylinder, seq, _log, log_index, kind, occurred, recorded, party, person, to, location, data, key, prev,
     digest) = row[:15]
    loc = None if location == "null" else Location(**from_json(location))
    return Event(cylinder, seq, EventKind(kind), datetime.fromisoformat(occurred.replace("Z", "+00:00")),
                 datetime.fromisoformat(recorded.replace("Z", "+00:00")), party, person, to, loc,
                 from_json(data) if data != "{}" else {}, key, None if prev is None else bytes(prev), bytes(digest),
                 None, None)


def verify_segment(bundle: Any, verifier: NoteVerifier, cylinder: str, known: Mapping[int, bytes]) -> Segment:
    """``bundle`` (another city's ``GET .../bundle`` answer) checked with that city's ``verifier``.

    ``known``: the hashes, by seq, of every event of the chain this ledger already
    holds (its own and those verified before). Every event of the bundle must
    match its hash and be in the log the signed checkpoint covers; an event at a
    seq already known must be that very event (no city rewrites a segment
    another has linked to); every event must link to the one before it, wherever
    that one lives; and the new events must continue the chain without a gap.
    Raises ``SegmentRefused`` saying why.
    """
    origin = verifier.name
    try:
        return _verify(bundle, verifier, cylinder, known, origin)
    except SegmentRefused:
        raise
    except (LedgerError, KeyError, TypeError, ValueError) as exc:
        message = exc.message if isinstance(exc, LedgerError) else str(exc)
        raise SegmentRefused(f"{origin}'s segment of {cylinder} does not verify: {message}") from None


def _verify(bundle: Any, verifier: NoteVerifier, cylinder: str, known: Mapping[int, bytes], origin: str) -> Segment:
    if not isinstance(bundle, dict) or bundle.get("format") != FORMAT or bundle.get("cylinder") != cylinder:
        raise ProofInvalid(f"not a {FORMAT} bundle of {cylinder}")
    events, proofs, note = bundle.get("events"), bundle.get("proofs"), bundle.get("checkpoint")
    if not isinstance(events, list) or not isinstance(proofs, list) or len(events) != len(proofs) or not events:
        raise ProofInvalid("the bundle needs as many proofs as events, and some events")
    if not isinstance(note, str):
        raise ProofInvalid("the bundle carries no signed checkpoint")
    checkpoint = open_checkpoint(verifier, note, origin)
    hashes: dict[int, bytes] = dict(known)
    links: dict[int, bytes | None] = {}
    fresh: dict[int, tuple] = {}
    proven: dict[int, tuple[int, tuple[str, ...]]] = {}
    for event, proof in zip(events, proofs):
        row = _row(event, origin)
        seq, digest = row[1], bytes(row[14])
        if row[0] != cylinder or not isinstance(seq, int) or isinstance(seq, bool) or seq < 0:
            raise ProofInvalid(f"an event of the bundle is not of {cylinder} or has no seq")
        where = f"seq {seq}"
        index, size, path = proof.get("log_index"), proof.get("tree_size"), proof.get("audit_path")
        if index != row[3] or size != checkpoint.size or not isinstance(path, list) or len(path) > 64:
            raise ProofInvalid(f"{where}: the inclusion proof does not fit the checkpoint")
        nodes = [bytes.fromhex(node) for node in path]
        if any(len(node) != 32 for node in nodes):
            raise ProofInvalid(f"{where}: the audit path is malformed")
        verify_inclusion(leaf_hash(digest), index, size, nodes, checkpoint.root)
        proven[seq] = (index, tuple(node.hex() for node in nodes))
        if seq in known:
            if not hmac.compare_digest(known[seq], digest):
                raise SegmentRefused(f"{origin} now shows {cylinder} seq {seq} differently from the event verified "
                                     "before: a segment once linked to is never rewritten")
            continue
        if seq in fresh:
            raise ProofInvalid(f"{where} appears twice")
        hashes[seq], links[seq], fresh[seq] = digest, None if row[13] is None else bytes(row[13]), row
    for seq, prev in links.items():
        if seq == 0:
            if prev is not None or fresh[0][4] != EventKind.REGISTER.value:
                raise ProofInvalid("the chain does not start with a register event")
        elif seq - 1 not in hashes:
            raise ProofInvalid(f"seq {seq - 1} is in neither this ledger nor {origin}'s segment")
        elif prev is None or not hmac.compare_digest(prev, hashes[seq - 1]):
            raise ProofInvalid(f"seq {seq}'s prev_hash is not the hash of seq {seq - 1}")
    if not fresh:
        raise SegmentRefused(f"{origin} holds nothing of {cylinder} beyond what this ledger holds")
    start, end = min(fresh), max(fresh)
    if start != (max(known) + 1 if known else 0) or sorted(fresh) != list(range(start, end + 1)):
        raise ProofInvalid(f"{origin}'s events do not continue the chain held here without a gap")
    rows = tuple(fresh[seq] for seq in sorted(fresh))
    return Segment(origin, checkpoint, rows, foreign_event(rows[-1]), proven)


def _row(entry: Any, origin: str) -> tuple:
    """The foreign row an event of the bundle stands for, its content checked against its hash; texts as the
    ledger writes them (``canonical_json``) where they re-hash so, else as RFC 8785 gives them."""
    if not isinstance(entry, dict):
        raise ProofInvalid("an event of the bundle is not an object")
    stated = bytes.fromhex(entry["hash"])
    prev = None if entry["prev_hash"] is None else bytes.fromhex(entry["prev_hash"])
    head = (entry["cylinder"], entry["seq"], origin, entry["log_index"], entry["kind"], entry["occurred_at"],
            entry["recorded_at"], entry["party"], entry["person"], entry["to"])
    for text in (lambda value, name: "null" if value is None else canonical_json(value, name),
                 lambda value, name: jcs(value).decode()):
        try:
            row = (*head, text(entry["location"], "location"), text(entry["data"], "data"),
                   entry["idempotency_key"], prev, stated)
        except (LedgerError, TypeError, ValueError):
            continue
        if hmac.compare_digest(recomputed(_as_log_row(row)), stated):
            EventKind(row[4])
            return row
    if not hmac.compare_digest(hash_of_json(entry), stated):
        raise ProofInvalid(f"seq {entry.get('seq')!r} was altered: its content does not match its hash")
    raise ProofInvalid(f"seq {entry.get('seq')!r} cannot be kept as it was hashed")


def _as_log_row(row: tuple) -> tuple:
    """A foreign row in the shape of a stored event row (``chain.recomputed``)."""
    return (row[3], row[0], row[1], *row[4:15])


def client_form(event: Any) -> Any:
    """An event as its client sent it: without the keys the ledger sets on a crossing (an idempotent retry
    of a hand-off or of a segment's first event is the same event)."""
    if TO_LOG not in event.data and FROM_LOG not in event.data:
        return event
    from dataclasses import replace

    return replace(event, data={k: v for k, v in event.data.items() if k not in (TO_LOG, FROM_LOG)})
