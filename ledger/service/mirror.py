"""A verified copy of a log: what a mirror checks before it stores anything (docs/mirror.md).

In the spirit of c2sp.org/tlog-mirror ("Updating a Mirror"), a mirror holds its
own last verified checkpoint and moves only forward: a new checkpoint must carry
the log's signature, be no smaller than the one held, equal it at the same size
(otherwise the log shows two views), and be consistent with it (RFC 9162
§2.1.4.2). The entries between the two sizes must each reproduce their stated
hash from their content, continue their cylinder's chain, and together with the
leaves already held reproduce the new checkpoint's root. Only then are they
stored, with the checkpoint, in one transaction (the caller's). Nothing here
needs the log's signing key.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from typing import Any

from ..canonical import canonical_json
from ..chain import recomputed
from ..domain import State, format_time
from ..errors import IntegrityError, InvalidInput, LedgerError, ProofInvalid
from ..log import latest_checkpoint
from ..proofs import leaf_hash, node_hash, verify_consistency
from ..signednote import Checkpoint, NoteVerifier, open_checkpoint
from ..stamp import stamp_key
from ..storage import Connection
from ..storage import checkpoints as checkpoint_rows
from ..storage import events as event_rows
from ..storage import mirror as mirror_rows
from ..wire import event_json, hash_of_json, jcs

__all__ = ["PAGE", "MirrorRefused", "Frontier", "Update", "log_entries", "log_vkey", "held_state", "open_new",
           "check_consistency", "verify_entries", "store"]

PAGE = 1000  # entries per answer of GET /v1/log/entries
_READ = 50_000


class MirrorRefused(IntegrityError):
    """What the log served is inconsistent with itself or with what the mirror holds: nothing is stored."""

    code = "mirror-refused"


@dataclass
class Frontier:
    """The roots of the perfect subtrees covering leaves [0, size), largest first (a compact range).

    Appending a leaf merges equal widths like a binary counter; the RFC 9162 root
    of the whole is the right fold of the nodes, as §2.1.1 splits a tree at the
    largest power of two below its size.
    """

    size: int = 0
    nodes: list[tuple[int, bytes]] = field(default_factory=list)

    def push(self, leaf: bytes) -> None:
        width, node = 1, leaf
        while self.nodes and self.nodes[-1][0] == width:
            left = self.nodes.pop()[1]
            node, width = node_hash(left, node), width * 2
        self.nodes.append((width, node))
        self.size += 1

    def root(self) -> bytes:
        if not self.nodes:
            return hashlib.sha256(b"").digest()
        root = self.nodes[-1][1]
        for _, node in reversed(self.nodes[:-1]):
            root = node_hash(node, root)
        return root

    def copy(self) -> Frontier:
        return Frontier(self.size, list(self.nodes))


@dataclass
class Update:
    """Verified entries and the checkpoint that covers them, ready to be stored."""

    held: Checkpoint | None
    checkpoint: Checkpoint
    rows: list[tuple]
    cylinders: list[dict[str, Any]]
    owners: list[dict[str, Any]]
    frontier: Frontier


def log_entries(connection: Connection, start: int, end: int) -> dict[str, Any]:
    """The events at log positions [start, end) as stored, in the wire form that recomputes each hash; at most
    ``PAGE`` of them and none past the log's size, so ``end`` in the answer says where they stop."""
    if end <= start:
        raise InvalidInput("end must be greater than start", field="end")
    end = min(end, start + PAGE, event_rows.log_size(connection))
    rows = mirror_rows.entries(connection, start, end) if end > start else []
    return {"start": start, "end": start + len(rows), "entries": [event_json(event_rows.from_row(r)) for r in rows]}


def log_vkey(connection: Connection) -> str | None:
    """The verifier key of the log this database mirrors; None in a ledger's own database."""
    claimed = mirror_rows.mirrored_log(connection)
    return None if claimed is None else claimed[1]


def held_state(connection: Connection, verifier: NoteVerifier) -> tuple[Checkpoint | None, Frontier]:
    """The mirror's own last verified checkpoint (its signature checked again) and the frontier of the leaves
    it holds, which must reproduce that checkpoint's root: a mirror whose copy changed refuses to go on."""
    claimed = mirror_rows.mirrored_log(connection)
    if claimed is not None and claimed[1] != verifier.vkey():
        raise MirrorRefused(f"this database mirrors the log {claimed[0]} under the key {claimed[1]}, not {verifier.vkey()}")
    held = latest_checkpoint(connection)
    if held is not None and claimed is None:
        raise MirrorRefused("this database holds a ledger of its own, not a mirror's copy")
    if held is not None:
        try:
            opened = open_checkpoint(verifier, held.note)
        except ProofInvalid as exc:
            raise MirrorRefused(f"the checkpoint this mirror holds is not the log's: {exc.message}") from None
        if opened.size != held.size or opened.root != held.root:
            raise MirrorRefused("the checkpoint this mirror holds differs from its signed note")
    frontier = Frontier()
    size = event_rows.log_size(connection)
    for offset in range(0, size, _READ):
        hashes = checkpoint_rows.event_hashes(connection, offset, min(_READ, size - offset))
        if len(hashes) != min(_READ, size - offset):
            raise MirrorRefused(f"this mirror's own copy lacks log positions between {offset} and "
                                f"{offset + _READ - 1}: run `ledger verify` on it")
        for digest in hashes:
            frontier.push(leaf_hash(digest))
    if (held.size if held else 0) != size or (held is not None and frontier.root() != held.root):
        raise MirrorRefused("this mirror's own copy no longer reproduces the checkpoint it holds: "
                            "run `ledger verify` on it")
    return held, frontier


def open_new(verifier: NoteVerifier, note: str, held: Checkpoint | None) -> Checkpoint:
    """The log's new checkpoint, once its signature verifies and it does not go back on the one held."""
    try:
        checkpoint = open_checkpoint(verifier, note, None if held is None else held.origin)
    except ProofInvalid as exc:
        raise MirrorRefused(f"the log's checkpoint does not verify: {exc.message}") from None
    if held is not None:
        if checkpoint.size < held.size:
            raise MirrorRefused(f"the log's checkpoint has size {checkpoint.size}, smaller than the size "
                                f"{held.size} this mirror verified: the log went back on what it signed")
        if checkpoint.size == held.size and not hmac.compare_digest(checkpoint.root, held.root):
            raise MirrorRefused(f"split view: the log signed two different roots at size {held.size}")
    return checkpoint


def check_consistency(held: Checkpoint | None, checkpoint: Checkpoint, proof: Sequence[bytes]) -> None:
    """RFC 9162 §2.1.4.2: the new checkpoint's tree extends the held one's."""
    if held is None or held.size == 0 or held.size == checkpoint.size:
        return
    try:
        verify_consistency(held.size, checkpoint.size, held.root, checkpoint.root, proof)
    except ProofInvalid as exc:
        if f"root at size {checkpoint.size}" in exc.message:  # the old root came out right, the new one did not
            raise MirrorRefused(f"the log cannot prove its own checkpoint at size {checkpoint.size} from the rows it "
                                "serves now: they changed after it signed") from None
        raise MirrorRefused(f"split view: the log's checkpoint at size {checkpoint.size} is not consistent with "
                            f"the one at size {held.size} this mirror verified ({exc.message})") from None


def verify_entries(connection: Connection, held: Checkpoint | None, frontier: Frontier, checkpoint: Checkpoint,
                   entries: Sequence[dict[str, Any]]) -> Update:
    """Check the entries [held size, checkpoint size) against their hashes, their chains and the checkpoint's root."""
    start = 0 if held is None else held.size
    if len(entries) != checkpoint.size - start:
        raise MirrorRefused(f"the log served {len(entries)} entries for positions {start} to {checkpoint.size - 1}")
    heads = event_rows.heads(connection, {str(e.get("cylinder")) for e in entries if isinstance(e, dict)})
    grown = frontier.copy()
    rows, cylinders, owners = [], [], {}
    for position, entry in enumerate(entries, start):
        row = _row(entry, position)
        cylinder, seq, kind, digest = row[1], row[2], row[3], row[13]
        head = heads.get(cylinder)
        arriving = _arriving(entry)
        if arriving is not None and head is not None and seq <= head[0]:
            raise MirrorRefused(f"entry {position} ({cylinder} seq {seq}) arrives from {arriving} behind its "
                                f"chain's seq {head[0]} in this log: a reordered event")
        if arriving is not None and (seq < 1 or row[12] is None):
            raise MirrorRefused(f"entry {position} ({cylinder} seq {seq}) arrives from {arriving} without "
                                "linking to the event it continues")
        if arriving is not None:
            # The first event of a segment continues a chain held in another log (docs/regions.md): its link
            # is checked where both logs are at hand (the provincial hub), not in one log's copy.
            if head is None:
                cylinders.append(_arrived_cylinder(entry))
                owners.setdefault(entry["party"], {"id": entry["party"], "created_at": entry["occurred_at"]})
        elif head is None:
            if seq != 0 or kind != "register" or row[12] is not None:
                raise MirrorRefused(f"entry {position} ({cylinder} seq {seq}) does not continue a chain this "
                                    "mirror holds, nor start one with register")
            cylinders.append(_cylinder(entry))
            owners.setdefault(entry["party"], {"id": entry["party"], "created_at": entry["occurred_at"]})
        elif seq != head[0] + 1 or row[12] is None or not hmac.compare_digest(row[12], head[1]):
            raise MirrorRefused(f"entry {position} ({cylinder} seq {seq}) does not link to its chain's "
                                f"seq {head[0]}: a rewritten or reordered event")
        heads[cylinder] = (seq, digest)
        grown.push(leaf_hash(digest))
        rows.append(row)
    if not hmac.compare_digest(grown.root(), checkpoint.root):
        raise MirrorRefused(f"the entries do not reproduce the root of the log's checkpoint at size "
                            f"{checkpoint.size}: the log served events other than those it signed")
    return Update(held, checkpoint, rows, cylinders, list(owners.values()), grown)


def store(connection: Connection, update: Update, verifier: NoteVerifier, url: str,
          now: datetime | None = None) -> None:
    """Store a verified update in the caller's write transaction, if the mirror still holds what it was checked
    against (another follower may have stored meanwhile)."""
    current = latest_checkpoint(connection)
    if (current.size if current else 0) != (update.held.size if update.held else 0):
        raise MirrorRefused("another follower stored a checkpoint meanwhile; nothing stored, try again")
    stamp = format_time(now or datetime.now(timezone.utc))
    mirror_rows.claim_log(connection, update.checkpoint.origin, verifier.vkey(), url, stamp)
    mirror_rows.store_verified(connection, update.rows, update.cylinders, update.owners,
                               (update.checkpoint.size, update.checkpoint.root, update.checkpoint.note, stamp))


def _row(entry: Any, position: int) -> tuple:
    """The stored row an entry stands for, checked to reproduce the hash it states from its content.

    The content is written as the ledger writes it (``canonical_json``) and hashed from those texts, as
    ``ledger verify`` hashes stored rows; should that not reproduce the stated hash, the entry is hashed
    once more by full RFC 8785 canonicalisation (``wire.hash_of_json``) before it is refused.
    """
    if not isinstance(entry, dict):
        raise MirrorRefused(f"entry {position} is not an event")
    if entry.get("id") != position or entry.get("log_index") != position:
        raise MirrorRefused(f"the log served the event {entry.get('id')!r} at log position {position}")
    try:
        stated = bytes.fromhex(entry["hash"])
        prev = None if entry["prev_hash"] is None else bytes.fromhex(entry["prev_hash"])
        head = (position, entry["cylinder"], entry["seq"], entry["kind"], entry["occurred_at"], entry["recorded_at"],
                entry["party"], entry["person"], entry["to"])
        tail = (entry["idempotency_key"], prev, stated)
        try:
            row = (*head, _text(entry["location"], "location"), _text(entry["data"], "data"), *tail)
            if hmac.compare_digest(recomputed(row), stated):
                return row
        except (LedgerError, TypeError, ValueError):
            pass
        if not hmac.compare_digest(hash_of_json(entry), stated):
            raise MirrorRefused(f"entry {position} ({entry['cylinder']} seq {entry['seq']}) was altered: "
                                "its content does not match its hash")
        row = (*head, jcs(entry["location"]).decode(), jcs(entry["data"]).decode(), *tail)
    except (KeyError, TypeError, ValueError, ProofInvalid) as exc:
        raise MirrorRefused(f"entry {position} is malformed: {exc}") from None
    if not hmac.compare_digest(recomputed(row), stated):  # the text to be stored gives the same hash
        raise MirrorRefused(f"entry {position} cannot be stored as it was hashed")
    return row


def _text(value: Any, name: str) -> str:
    return "null" if value is None else canonical_json(value, name)


def _cylinder(entry: dict[str, Any]) -> dict[str, Any]:
    """The cylinder row a register event's facts give; the chain's later events are replayed when read."""
    facts, at = entry["data"], entry["occurred_at"]
    try:
        return dict(
            id=entry["cylinder"], owner=entry["party"], serial=facts["serial"], manufacturer=facts["manufacturer"],
            stamp_key=stamp_key(facts["manufacturer"], facts["serial"]), model=facts["model"],
            manufactured_on=date.fromisoformat(facts["manufactured_on"]), tare_kg=float(facts["tare_kg"]),
            design_life_years=int(facts["design_life_years"]), registered_at=at,
            region=mirror_rows.UNKNOWN_REGION, next_inspection_due=date.fromisoformat(facts["next_inspection_due"]),
            holder=entry["party"], state=State.AT_STATION.value, state_since=at, last_event_at=at,
            last_fill_kg=None, life_ends_on=None, chain_length=1,
        )
    except (KeyError, TypeError, ValueError, LedgerError) as exc:
        raise MirrorRefused(f"the register event of {entry.get('cylinder')} lacks its facts ({exc})") from None



def _arriving(entry: dict[str, Any]) -> str | None:
    """The log a segment's first event says its chain comes from (``data.from_log``), else None."""
    data = entry.get("data")
    origin = data.get("from_log") if isinstance(data, dict) else None
    if origin is None:
        return None
    if not isinstance(origin, str) or not origin or len(origin) > 200:
        raise MirrorRefused(f"entry {entry.get('id')!r} names a malformed from_log")
    return origin


def _arrived_cylinder(entry: dict[str, Any]) -> dict[str, Any]:
    """A stand-in row for a cylinder whose register event lives in another log: its stamp is not known here."""
    at, code = entry["occurred_at"], entry["cylinder"]
    try:
        day = date.fromisoformat(str(at)[:10])
    except ValueError as exc:
        raise MirrorRefused(f"entry {entry.get('id')!r} has a malformed time ({exc})") from None
    return dict(
        id=code, owner=entry["party"], serial=code, manufacturer="", stamp_key=stamp_key("", f"segment:{code}"),
        model="", manufactured_on=day, tare_kg=0.0, design_life_years=0, registered_at=at,
        region=mirror_rows.UNKNOWN_REGION, next_inspection_due=day, holder=entry["party"],
        state=State.AT_STATION.value, state_since=at, last_event_at=at, last_fill_kg=None, life_ends_on=None,
        chain_length=1,
    )
