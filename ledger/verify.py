"""The full audit of a ledger database, as ``ledger verify`` runs it.

It trusts nothing that is stored and recomputes, in three numbered steps:

1. every event's hash from its stored fields, and that log positions (event
   ids) run 0, 1, 2, ... without a hole — one pass in log order;
2. every cylinder's chain: ``seq`` from 0 without gaps or repeats, ``register``
   first, ``prev_hash`` equal to the previous event's hash — the database finds
   the rows that break these, so the pass holds no per-cylinder state;
3. the Merkle root at every stored signed checkpoint, against the checkpoint's
   signature and root.

Each defect is yielded as a ``Break`` as soon as it is found, so memory does not
grow with the ledger and a caller can stream the report.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from sqlalchemy import Connection

from .canonical import event_bytes, event_hash
from .errors import ProofInvalid
from .log import LogTree, SubrootCache, checkpoints
from .signednote import NoteVerifier, open_checkpoint

__all__ = ["Break", "audit", "check_chain"]

_BATCH = 20_000


@dataclass(frozen=True, slots=True)
class Break:
    """One defect: ``kind`` is one of the finding kinds of the tamper family."""

    kind: str  # chain_tampered | sequence_gap | checkpoint_mismatch | log_gap
    cylinder: str | None
    seq: int | None
    detail: str

    def as_dict(self) -> dict[str, object]:
        return {"kind": self.kind, "cylinder": self.cylinder, "seq": self.seq, "detail": self.detail}


def audit(
    connection: Connection,
    verifier: NoteVerifier | None,
    *,
    progress: Callable[[int], None] | None = None,
) -> Iterator[Break]:
    """Yield every break in the ledger behind ``connection`` (one read snapshot)."""
    yield from _events(connection, progress)
    yield from _chains(connection)
    yield from _checkpoints(connection, verifier)


def check_chain(rows: list[tuple]) -> list[dict[str, object]]:
    """The breaks in one cylinder's stored rows (``events.raw_history``), for a trace answer."""
    found: list[dict[str, object]] = []
    previous: bytes | None = None
    for position, (id_, cyl, seq, kind, occ, rec, party, person, to, loc, data, key, prev, digest) in enumerate(rows):
        prev = None if prev is None else bytes(prev)
        if seq != position:
            found.append(Break("sequence_gap", cyl, seq, f"expected seq {position}").as_dict())
        if prev != previous or (position == 0) != (kind == "register"):
            found.append(Break("chain_tampered", cyl, seq, "the event does not link to the one before").as_dict())
        recomputed = event_hash(event_bytes(
            cylinder=cyl, seq=seq, kind=kind, occurred_at=occ, recorded_at=rec, party=party, person=person, to=to,
            location_json=loc, data_json=data, idempotency_key=key, prev_hash_hex=None if prev is None else prev.hex()))
        if not hmac.compare_digest(recomputed, bytes(digest)):
            found.append(Break("chain_tampered", cyl, seq, "the stored event does not match its hash").as_dict())
        previous = bytes(digest)
    return found


def _events(connection: Connection, progress: Callable[[int], None] | None) -> Iterator[Break]:
    expected = 0
    last = -1
    sha = event_hash
    encode = event_bytes
    cursor = connection.connection.cursor()  # the bare driver: this loop is the audit's hot path
    while True:
        cursor.execute(
            "SELECT id, cylinder, seq, kind, occurred_at, recorded_at, party, person, to_ref, "
            "location, data, idempotency_key, prev_hash, hash FROM events "
            f"WHERE id > {last} ORDER BY id LIMIT {_BATCH}"
        )
        rows = cursor.fetchall()
        if not rows:
            break
        for (id_, cyl, seq, kind, occ, rec, party, person, to, loc, data, key, prev, digest) in rows:
            if id_ != expected:
                yield Break("log_gap", cyl, seq, f"log position {expected} is missing (next is {id_})")
            expected = id_ + 1
            recomputed = sha(
                encode(
                    cylinder=cyl, seq=seq, kind=kind, occurred_at=occ, recorded_at=rec, party=party,
                    person=person, to=to, location_json=loc, data_json=data, idempotency_key=key,
                    prev_hash_hex=None if prev is None else bytes(prev).hex(),
                )
            )
            if not hmac.compare_digest(recomputed, bytes(digest)):
                yield Break("chain_tampered", cyl, seq, "the stored event does not match its hash")
        last = rows[-1][0]
        if progress is not None:
            progress(len(rows))


_CHAIN_QUERIES = (
    (
        "sequence_gap",
        "the first event of the chain is missing (seq 0)",
        "SELECT c.id, 0 FROM cylinders c WHERE NOT EXISTS "
        "(SELECT 1 FROM events e WHERE e.cylinder = c.id AND e.seq = 0)",
    ),
    (
        "sequence_gap",
        "the sequence number is negative",
        "SELECT cylinder, seq FROM events WHERE seq < 0",
    ),
    (
        "chain_tampered",
        "the chain does not start with a register event without prev_hash",
        "SELECT cylinder, seq FROM events WHERE seq = 0 AND (kind <> 'register' OR prev_hash IS NOT NULL)",
    ),
    (
        "chain_tampered",
        "a register event appears after the start of the chain",
        "SELECT cylinder, seq FROM events WHERE seq > 0 AND kind = 'register'",
    ),
)


# One pass over the (cylinder, seq) index finds both a missing predecessor and a broken link.
_LINKS = (
    "SELECT e.cylinder, e.seq, p.seq FROM events e LEFT JOIN events p ON p.cylinder = e.cylinder AND p.seq = e.seq - 1 "
    "WHERE e.seq > 0 AND (p.seq IS NULL OR e.prev_hash IS NULL OR e.prev_hash <> p.hash) ORDER BY e.cylinder, e.seq"
)


def _chains(connection: Connection) -> Iterator[Break]:
    for kind, detail, sql in _CHAIN_QUERIES:
        for cylinder, seq in connection.exec_driver_sql(sql):
            yield Break(kind, cylinder, seq, detail)
    for cylinder, seq, previous in connection.exec_driver_sql(_LINKS):
        if previous is None:
            yield Break("sequence_gap", cylinder, seq, "the previous event of the chain is missing")
        else:
            yield Break("chain_tampered", cylinder, seq, "prev_hash does not equal the previous event's hash")


def _checkpoints(connection: Connection, verifier: NoteVerifier | None) -> Iterator[Break]:
    tree = LogTree(connection, SubrootCache())
    size = tree.get_size()
    # This snapshot only reads committed rows, so every subtree root may be cached.
    tree.shared.settle(size)
    for checkpoint in checkpoints(connection):
        if verifier is not None:
            try:
                signed = open_checkpoint(verifier, checkpoint.note)
            except ProofInvalid as exc:
                yield Break("checkpoint_mismatch", None, None, f"checkpoint at size {checkpoint.size}: {exc}")
                continue
            if signed.size != checkpoint.size or signed.root != checkpoint.root:
                yield Break(
                    "checkpoint_mismatch", None, None,
                    f"the stored size or root of checkpoint {checkpoint.size} differs from its signed note",
                )
                continue
        if checkpoint.size > size:
            yield Break(
                "checkpoint_mismatch", None, None,
                f"checkpoint at size {checkpoint.size} covers events the log no longer has ({size})",
            )
            continue
        if not hmac.compare_digest(tree.get_root(checkpoint.size), checkpoint.root):
            yield Break(
                "checkpoint_mismatch", None, None,
                f"the log's root at size {checkpoint.size} differs from the signed checkpoint",
            )
