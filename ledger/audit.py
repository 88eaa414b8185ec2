"""The incremental audit: what is new since the last audited position, and a rolling re-check of the rest.

``ledger verify`` re-reads everything; a server cannot do that every few seconds.
The auditor (``api/auditor.py``) instead keeps a position in the ``audits`` table
— the log size it verified against a signed checkpoint and that root — and the
root of every complete, aligned run of ``CHUNK`` leaves below it
(``audit_chunks``, with four bytes of each leaf hash to name what later changes).
Each round (``examine``, reading only, then ``record`` in the worker's write
transaction):

1. the stored position itself: the root at the audited size, rebuilt from the
   stored chunk roots and the partial chunk's leaves, must equal the signed
   checkpoint of that size — an edited ``audits`` or ``audit_chunks`` row, or a
   rewritten event in the partial chunk, shows here;
2. the new events up to the newest signed checkpoint: each is re-hashed from its
   stored fields, its chain link and sequence checked against its predecessor
   (an index lookup), its leaf added to the running chunk; the root at every
   checkpoint signed meanwhile is rebuilt from the chunk roots (RFC 9162 §2.1.1,
   about size / ``CHUNK`` hashes) and compared with the signed root;
3. ``recheck`` older events (a window that moves on each round and wraps
   around): re-hashed, their chunk root and fingerprints compared with what was
   verified, their links checked — so an event rewritten after it was audited
   is found within ``size / recheck`` rounds;
4. ``projections`` cylinders (likewise rolling): their projection re-derived
   from the chain by the judge's replay and rules, compared column by column;
   and every finding whose stored status is not the one its newest closed-loop
   step left.

Every defect is a ``Break``; ``record`` turns them into findings (one per kind
and cylinder, ``audit:`` keys the custody rules never resolve) and advances the
position only when the new events matched their signed checkpoints.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime

from .chain import Break, BreakKind, recomputed
from .domain import FindingKind, format_time
from .errors import ProofInvalid
from .log import leaf_hash
from .signednote import NoteVerifier, open_checkpoint
from .storage import Connection
from .storage import audit as rows
from .storage import findings as store

__all__ = ["CHUNK", "Position", "Examined", "examine", "record", "merkle_root", "projection_breaks", "DISPUTING",
           "status"]

CHUNK = 1024  # leaves per stored chunk root: aligned, so every larger subtree is built from them
PRINT = 4  # bytes of each leaf hash kept per chunk, to name the events that changed
_PAGE = 5_000
DISPUTING = (FindingKind.CHAIN_TAMPERED.value, FindingKind.SEQUENCE_GAP.value, FindingKind.CHECKPOINT_MISMATCH.value,
             FindingKind.PROJECTION_EDITED.value, FindingKind.FINDING_STATUS_EDITED.value)
_OPEN = ("open", "dispatched", "handled")
_KIND = {BreakKind.CHAIN_TAMPERED: FindingKind.CHAIN_TAMPERED, BreakKind.SEQUENCE_GAP: FindingKind.SEQUENCE_GAP,
         BreakKind.CHECKPOINT_MISMATCH: FindingKind.CHECKPOINT_MISMATCH, BreakKind.LOG_GAP: FindingKind.SEQUENCE_GAP,
         BreakKind.PROJECTION_EDITED: FindingKind.PROJECTION_EDITED,
         BreakKind.FINDING_STATUS_EDITED: FindingKind.FINDING_STATUS_EDITED}


@dataclass(frozen=True)
class Position:
    size: int = 0
    root: bytes | None = None
    recheck: int = 0
    projections: str = ""
    status: str = "consistent"
    detail: str = ""
    audited_at: str | None = None


@dataclass
class Examined:
    """What one round found, and the position it leads to."""

    read: Position
    position: Position
    chunks: dict[int, tuple[bytes, bytes]] = field(default_factory=dict)
    breaks: list[Break] = field(default_factory=list)
    new_events: int = 0
    rechecked: int = 0

    @property
    def mismatch(self) -> bool:
        return any(b.kind is BreakKind.CHECKPOINT_MISMATCH for b in self.breaks)


def _pair(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def _split(n: int) -> int:
    return 1 << ((n - 1).bit_length() - 1)


def merkle_root(leaves: list[bytes], start: int = 0, end: int | None = None) -> bytes:
    """RFC 9162 §2.1.1 MTH over already leaf-hashed ``leaves[start:end]``."""
    end = len(leaves) if end is None else end
    width = end - start
    if width and width & (width - 1) == 0:  # a perfect tree (every full chunk): level by level
        level = leaves[start:end]
        while len(level) > 1:
            level = [_pair(level[i], level[i + 1]) for i in range(0, len(level), 2)]
        return level[0]
    if end == start:
        return hashlib.sha256(b"").digest()
    k = _split(end - start)
    return _pair(merkle_root(leaves, start, start + k), merkle_root(leaves, start + k, end))


def _root_at(size: int, chunks: dict[int, bytes], tail: list[bytes], memo: dict) -> bytes:
    """The root of the first ``size`` leaves: complete chunks from ``chunks``, the rest from ``tail``
    (the leaves from the last chunk boundary at or below ``size``)."""
    base = size - size % CHUNK

    def node(start: int, end: int) -> bytes:
        width = end - start
        if width == CHUNK and start < base:
            return chunks[start]
        if start >= base:
            return merkle_root(tail, start - base, end - base)
        if (start, width) in memo:
            return memo[(start, width)]
        k = _split(width)
        value = _pair(node(start, start + k), node(start + k, end))
        if start + width <= base:  # a complete subtree: the same in every later tree
            memo[(start, width)] = value
        return value

    return node(0, size) if size else hashlib.sha256(b"").digest()


def _position(connection: Connection) -> Position:
    row = rows.state(connection)
    if row is None:
        return Position()
    size, root, recheck, projections, status, detail, at = row
    return Position(size, None if root is None else bytes(root), recheck, projections, status, detail, at)


def examine(connection: Connection, verifier: NoteVerifier | None, *, recheck: int = 20_000,
            projected: Callable[[Connection, list[str]], dict[str, dict]] | None = None,
            projections: int = 2_000) -> Examined:
    """One round of the incremental audit in the caller's read snapshot; writes nothing."""
    read = _position(connection)
    found = Examined(read, read)
    signed = {}
    for checkpoint in rows.checkpoints_from(connection, read.size):
        if verifier is not None:
            try:
                opened = open_checkpoint(verifier, checkpoint.note)
            except ProofInvalid as exc:
                found.breaks.append(Break(BreakKind.CHECKPOINT_MISMATCH, None, None,
                                          f"checkpoint at size {checkpoint.size}: {exc}"))
                continue
            if (opened.size, opened.root) != (checkpoint.size, checkpoint.root):
                found.breaks.append(Break(BreakKind.CHECKPOINT_MISMATCH, None, None,
                                          f"checkpoint {checkpoint.size} differs from its signed note"))
                continue
        signed[checkpoint.size] = checkpoint.root
    target = max(signed, default=0)
    log_size = rows.log_size(connection)
    chunks = rows.chunk_roots(connection, read.size)
    memo: dict = {}
    base = read.size - read.size % CHUNK
    tail = _tail(connection, base, read.size, found)
    if read.size and not _reproduced(read, signed, chunks, tail, memo):  # 1. the stored position
            found.breaks.append(Break(BreakKind.CHECKPOINT_MISMATCH, None, None,
                                      f"the log no longer reproduces the audited checkpoint at size {read.size}"))
    if target < read.size:
        found.breaks.append(Break(BreakKind.CHECKPOINT_MISMATCH, None, None,
                                  f"the newest signed checkpoint ({target}) is older than the audited size "
                                  f"{read.size}"))
    if log_size < target:
        found.breaks.append(Break(BreakKind.CHECKPOINT_MISMATCH, None, None,
                                  f"the log holds {log_size} events, fewer than its signed checkpoint at {target}"))
        found.breaks += [Break(BreakKind.SEQUENCE_GAP, cylinder, None, "events of this chain were deleted")
                         for cylinder in rows.shortened_chains(connection)]
    end = min(target, log_size)
    new_chunks = _new_events(connection, read.size, end, base, tail, chunks, signed, memo, found)
    recheck_from = _recheck(connection, read, base, recheck, found)
    cursor = read.projections
    if projected is not None:
        cursor = _projections(connection, read.projections, projections, projected, found)
    for finding, cylinder, status, left in rows.edited_statuses(connection):
        found.breaks.append(Break(BreakKind.FINDING_STATUS_EDITED, cylinder, None,
                                  f"finding {finding} says {status!r}; its closed-loop history says {left!r}"))
    advance = not found.mismatch and end > read.size
    found.chunks = new_chunks if advance else {}
    ledger_wide = [b for b in found.breaks if b.kind is BreakKind.CHECKPOINT_MISMATCH]
    found.position = Position(
        end if advance else read.size, signed.get(end) if advance else read.root,
        recheck_from, cursor, "disputed" if ledger_wide else "consistent",
        ledger_wide[0].detail if ledger_wide else "")
    return found


def _reproduced(read: Position, signed: dict[int, bytes], chunks: dict[int, bytes], tail: list[bytes],
                memo: dict) -> bool:
    if read.size not in signed or read.root != signed[read.size] or len(tail) != read.size % CHUNK:
        return False
    try:
        return hmac.compare_digest(_root_at(read.size, chunks, tail, memo), signed[read.size])
    except KeyError:  # a chunk root is missing
        return False


def _tail(connection: Connection, start: int, end: int, found: Examined) -> list[bytes]:
    """Leaves of the audited partial chunk, each event re-hashed too."""
    tail: list[bytes] = []
    for page in rows.event_pages(connection, _PAGE, start, end):
        for row in page:
            _rehash(row, found)
            tail.append(leaf_hash(bytes(row[13])))
    if len(tail) != end - start:
        found.breaks.append(Break(BreakKind.LOG_GAP, None, None, f"events between {start} and {end - 1} are missing"))
    return tail


def _rehash(row: tuple, found: Examined) -> None:
    if not hmac.compare_digest(recomputed(row), bytes(row[13])):
        found.breaks.append(Break(BreakKind.CHAIN_TAMPERED, row[1], row[2], "the stored event does not match its hash"))


def _new_events(connection, start: int, end: int, base: int, tail: list[bytes], chunks: dict[int, bytes],
                signed: dict[int, bytes], memo: dict, found: Examined) -> dict[int, tuple[bytes, bytes]]:
    """Step 2: re-hash, link and integrate the events at ``start`` .. ``end`` - 1."""
    fresh: dict[int, tuple[bytes, bytes]] = {}
    expected, tail = start, list(tail)
    for page in rows.event_pages(connection, _PAGE, start, end):
        for row in page:
            if row[0] != expected:
                found.breaks.append(Break(BreakKind.LOG_GAP, None, None, f"log position {expected} is missing"))
                found.breaks.append(Break(BreakKind.CHECKPOINT_MISMATCH, None, None,
                                          f"log positions {expected} to {row[0] - 1} are missing"))
                return fresh
            expected += 1
            found.new_events += 1
            _rehash(row, found)
            tail.append(leaf_hash(bytes(row[13])))
            if len(tail) == CHUNK:
                root = merkle_root(tail)
                chunks[base] = root
                fresh[base] = (root, b"".join(leaf[:PRINT] for leaf in tail))
                base, tail = base + CHUNK, []
            if expected in signed and not _matches(expected, chunks, tail, memo, signed[expected]):
                found.breaks.append(Break(BreakKind.CHECKPOINT_MISMATCH, None, None,
                                          f"the log's root at size {expected} differs from the signed checkpoint"))
    for kind, cylinder, seq, detail in rows.range_breaks(connection, start, end):
        found.breaks.append(Break(kind, cylinder, seq, detail))
    return fresh


def _matches(size: int, chunks: dict[int, bytes], tail: list[bytes], memo: dict, root: bytes) -> bool:
    try:
        return hmac.compare_digest(_root_at(size, chunks, tail, memo), root)
    except KeyError:
        return False


def _recheck(connection, read: Position, base: int, budget: int, found: Examined) -> int:
    """Step 3: re-hash up to ``budget`` audited events in complete chunks, from where the last round stopped;
    returns where the next round starts."""
    if budget <= 0:
        return read.recheck
    start = read.recheck - read.recheck % CHUNK if read.recheck < base else 0
    stop = min(base, start + max(CHUNK, budget - budget % CHUNK))
    if stop <= start:
        return 0
    roots = rows.chunk_roots(connection, stop)
    prints = rows.chunk_prints(connection, start, stop)
    archived = rows.archived_ranges(connection)
    for first in range(start, stop, CHUNK):
        if any(low < first + CHUNK and first < high for low, high in archived):
            continue  # archived with its partition: its root stands in the log (docs/scale.md)
        page = [row for batch in rows.event_pages(connection, CHUNK, first, first + CHUNK) for row in batch]
        found.rechecked += len(page)
        leaves = []
        for row in page:
            _rehash(row, found)
            leaves.append(leaf_hash(bytes(row[13])))
        stored = prints.get(first, b"")
        named = [row for row in page if row[0] - first < len(stored) // PRINT
                 and leaf_hash(bytes(row[13]))[:PRINT] != stored[(row[0] - first) * PRINT:(row[0] - first + 1) * PRINT]]
        for row in named:
            found.breaks.append(Break(BreakKind.CHAIN_TAMPERED, row[1], row[2],
                                      f"its hash is not the one audited at log position {row[0]}"))
        intact = len(page) == CHUNK and first in roots and hmac.compare_digest(merkle_root(leaves), roots[first])
        if not intact:
            found.breaks.append(Break(BreakKind.CHECKPOINT_MISMATCH, None, None,
                                      f"log positions {first} to {first + CHUNK - 1} no longer reproduce their "
                                      "audited, signed root"))
            if not named:
                found.breaks += [Break(BreakKind.CHAIN_TAMPERED, cylinder, None,
                                       f"an event at log positions {first} to {first + CHUNK - 1} changed")
                                 for cylinder in rows.range_cylinders(connection, first, first + CHUNK)]
        for kind, cylinder, seq, detail in rows.range_breaks(connection, first, first + CHUNK):
            found.breaks.append(Break(kind, cylinder, seq, detail))
    return stop if stop < base else 0


_COLUMNS = (("holder", "holder"), ("state", "state"), ("state_since", "state_since"),
            ("last_event_at", "last_event_at"), ("next_inspection_due", "due"), ("last_fill_kg", "fill_kg"),
            ("chain_length", "length"), ("life_ends_on", "life_ends"))


def _same(stored: object, derived: object) -> bool:
    if isinstance(stored, date) or isinstance(derived, date):
        return (None if stored is None else str(stored)[:10]) == (None if derived is None else str(derived)[:10])
    if isinstance(stored, float) or isinstance(derived, float):
        return stored is not None and derived is not None and abs(float(stored) - float(derived)) < 1e-9 \
            or stored is None and derived is None
    return stored == derived


def projection_breaks(stored_rows: list[tuple], derived: dict[str, dict]) -> list[Break]:
    """Each stored projected column that differs from the projection re-derived from the chain."""
    found = []
    for row in stored_rows:
        projection = derived.get(row[0])
        if projection is None:
            continue
        for position, (column, key) in enumerate(_COLUMNS, start=1):
            if not _same(row[position], projection[key]):
                found.append(Break(BreakKind.PROJECTION_EDITED, row[0], None,
                                   f"cylinders.{column} is {row[position]!s}; its chain says {projection[key]!s}"))
    return found


def _projections(connection, after: str, limit: int, projected, found: Examined) -> str:
    """Step 4: re-derive up to ``limit`` cylinders' projections; returns where the next round starts."""
    stored = rows.projections_after(connection, after, limit)
    if stored:
        found.breaks += projection_breaks(stored, projected(connection, [row[0] for row in stored]))
    return stored[-1][0] if len(stored) == limit else ""


def record(connection: Connection, examined: Examined, now: datetime) -> list[int] | None:
    """Store a round's outcome in the caller's write transaction: the new position and chunks, and a
    finding per kind and cylinder found broken. None when another auditor moved the position meanwhile."""
    if _position(connection).size != examined.read.size or _position(connection).recheck != examined.read.recheck:
        return None
    at = format_time(now)
    rows.add_chunks(connection, examined.chunks)
    position = examined.position
    rows.save_state(connection, {"size": position.size, "root": position.root, "recheck": position.recheck,
                                 "projections": position.projections, "status": position.status,
                                 "detail": position.detail, "audited_at": at})
    grouped: dict[tuple[FindingKind, str | None], list[Break]] = {}
    for item in examined.breaks:
        kind = FindingKind.CHECKPOINT_MISMATCH if item.kind is BreakKind.LOG_GAP and item.cylinder is None \
            else _KIND[item.kind]
        grouped.setdefault((kind, item.cylinder), []).append(item)
    existing = rows.audit_findings(connection)
    raised = []
    for (kind, cylinder), items in grouped.items():
        key = f"audit:{kind.value}:{cylinder or '-'}"
        note = items[0].detail if len(items) == 1 else f"{items[0].detail} (and {len(items) - 1} more)"
        if items[0].seq is not None:
            note = f"seq {items[0].seq}: {note}"
        if key in existing:
            finding_id, status = existing[key]
            if status not in _OPEN:
                store.set_status(connection, finding_id, "open", at, resolved_by=None)
                store.add_action(connection, finding_id, "reopen", "open", "ledger",
                                 f"found again by the audit: {note}", at)
                raised.append(finding_id)
            continue
        finding_id = store.insert_finding(
            connection, key=key, kind=kind.value, severity="critical", cylinder=cylinder, party=None, region=None,
            events=[], note=note, detected_at=at, status="open", assignee=None, resolved_by=None, updated_at=at)
        store.add_action(connection, finding_id, "detect", "open", "ledger", note, at)
        raised.append(finding_id)
    return raised


def last_round_at(connection: Connection) -> str | None:
    """When the last round was recorded, by whichever auditor: ``format_time`` text, None before the first."""
    return _position(connection).audited_at


def status(connection: Connection) -> dict[str, object]:
    """The ledger-wide answer: disputed while a finding says the log disagrees with its own signed past."""
    position = _position(connection)
    wide = rows.open_ledger_wide(connection, (FindingKind.CHECKPOINT_MISMATCH.value,))
    return {"status": "disputed" if wide else "consistent", "audited_size": position.size,
            "audited_root": None if position.root is None else position.root.hex(),
            "audited_at": position.audited_at, "checkpoint_mismatch": [{"finding": i, "detail": n} for i, _, n in wide],
            "disputed_cylinders": rows.disputed_count(connection, DISPUTING)}
