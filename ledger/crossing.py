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
  rows to keep beside the chain (``foreign_events``);
- ``relay_note`` / ``open_relay``: a late event of a chain this city handed off,
  signed by this city's log key for the city holding the chain, and opened there.
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
from .domain import Event, EventKind, Location, NewEvent, format_time, parse_time
from .errors import InvalidInput, LedgerError, ProofInvalid, SegmentRefused
from .outcomes import Outcome
from .proofs import leaf_hash, verify_inclusion
from .signednote import Checkpoint, NoteSigner, NoteVerifier, open_checkpoint
from .wire import hash_of_json, jcs

__all__ = ["HANDOFFS", "TO_LOG", "FROM_LOG", "RELAYED_FROM", "RELAY_FORMAT", "Relayed", "Segment", "holder_log",
           "verify_segment", "foreign_event", "relay_note", "open_relay"]

HANDOFFS = (EventKind.DISPATCH, EventKind.RETURN)
TO_LOG = "to_log"  # on a hand-off: the log of the city the receiver is homed in
FROM_LOG = "from_log"  # on the first event of a segment: the log holding the event it links to
RELAYED_FROM = "relayed_from"  # on an event another city relayed: that city's log
RELAY_FORMAT = "cylinder-ledger/relay/v1"  # a relay note's first line; a checkpoint's is its log's origin
LEDGER_SET = (TO_LOG, FROM_LOG, RELAYED_FROM)  # data keys the ledger sets, never a client


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
    of a hand-off, of a segment's first event or of a relay is the same event)."""
    if not any(key in event.data for key in LEDGER_SET):
        return event
    from dataclasses import replace

    return replace(event, data={k: v for k, v in event.data.items() if k not in LEDGER_SET})


# -- relays: a late event of a chain this city handed off, recorded by the city holding it ------------------


@dataclass(frozen=True)
class Relayed:
    """What the city holding a chain answered for an event this city relayed to it (``outcome.log``: its log)."""

    outcome: Outcome


def relay_text(item: NewEvent, origin: str) -> str:
    """The text of a relay note: the format line, the relaying city's log origin, the event as its client
    sent it in canonical JSON (one line)."""
    event = {"cylinder": item.cylinder, "kind": item.kind.value, "occurred_at": format_time(item.occurred_at),
             "party": item.party, "idempotency_key": item.idempotency_key, "to": item.to, "person": item.person,
             "location": None if item.location is None else item.location.as_dict(), "data": item.data}
    return f"{RELAY_FORMAT}\n{origin}\n{canonical_json(event, 'event')}\n"


def relay_note(signer: NoteSigner, item: NewEvent) -> str:
    """``item`` relayed by the log ``signer`` signs for (its name is the log's origin)."""
    return signer.sign(relay_text(item, signer.name))


def open_relay(verifiers: Mapping[str, NoteVerifier], note: str) -> tuple[str, NewEvent]:
    """The relaying log's origin and the event of a relay note, once signed by that log's key among
    ``verifiers`` (by origin). Raises ``InvalidInput`` for a note that is no relay, ``ProofInvalid`` for
    one whose signature does not verify, ``PermissionDenied`` for one of a log that is not a peer."""
    from .errors import PermissionDenied

    if not isinstance(note, str) or not note.startswith(RELAY_FORMAT + "\n"):
        raise InvalidInput(f"a relay note's first line is {RELAY_FORMAT}", field="note")
    origin = note.split("\n", 2)[1]
    verifier = verifiers.get(origin)
    if verifier is None:
        raise PermissionDenied(f"the relay note is from {origin[:80]!r}, not a peer of this ledger (LEDGER_PEERS)")
    lines = verifier.open(note).split("\n")
    if len(lines) != 4 or lines[3] != "":
        raise InvalidInput("a relay note's text is three lines: format, origin, event", field="note")
    try:
        event = from_json(lines[2])
        location = event["location"]
        item = NewEvent(
            _text(event["cylinder"]), EventKind(event["kind"]), parse_time(event["occurred_at"], "occurred_at"),
            _text(event["party"]), _text(event["idempotency_key"]), to=_text(event["to"], True),
            person=_text(event["person"], True),
            location=None if location is None else Location(float(location["lat"]), float(location["lon"])),
            data=_mapping(event["data"]))
    except (KeyError, TypeError, ValueError) as exc:
        raise InvalidInput(f"the relayed event is malformed ({type(exc).__name__})", field="note") from None
    return origin, item


def _text(value: Any, optional: bool = False) -> Any:
    if value is None and optional:
        return None
    if not isinstance(value, str):
        raise TypeError("not text")
    return value


def _mapping(value: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise TypeError("not an object")
    return value
