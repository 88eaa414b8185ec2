"""The full audit of a ledger database, as ``ledger verify`` runs it.

It trusts nothing that is stored and recomputes, in three numbered steps:

1. every event's hash from its stored fields, and that log positions (event
   ids) run 0, 1, 2, ... without a hole — one pass in log order;
2. every cylinder's chain: ``seq`` from 0 without gaps or repeats, ``register``
   first, ``prev_hash`` equal to the previous event's hash — the database finds
   the rows that break these, so the pass holds no per-cylinder state;
3. the Merkle root at every stored signed checkpoint, against the checkpoint's
   signature and root; the first mismatch is narrowed to the log positions
   between the last checkpoint that still matches and it, and the cylinders
   with events there are named;
4. what is derived from the chains: each cylinder's projection (holder, state,
   inspection due, ...) re-derived by the judge's replay and rules and compared
   column by column (``projected``), and each finding's status against the
   status its newest closed-loop step left (``ledger.audit``).

``against_mirror`` compares the ledger with a mirror's verified copy
(docs/mirror.md) and names every event that differs, was deleted or inserted.
``against_witnessed`` holds the log to what its witnesses cosigned, which no
one with access to the ledger's database can delete (docs/trust.md).

Each defect is yielded as a ``Break`` as soon as it is found, so memory does not
grow with the ledger and a caller can stream the report.
"""

from __future__ import annotations

import hmac
import multiprocessing
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor

from .audit import projection_breaks
from .chain import Break, BreakKind, check_chain, recomputed
from .errors import Archived, CheckpointMismatch, ProofInvalid
from .log import LogTree, SubrootCache, checkpoints
from .signednote import Checkpoint, NoteVerifier, open_checkpoint
from .storage import Connection
from .storage import audit as audit_rows
from .storage import foreign as foreign_rows
from .storage import mirror as mirror_rows

__all__ = ["Break", "BreakKind", "audit", "against_mirror", "check_chain"]

_BATCH = 20_000


def audit(
    connection: Connection,
    verifier: NoteVerifier | None,
    *,
    progress: Callable[[int], None] | None = None,
    database_url: str | None = None,
    workers: int = 1,
    projected: Callable[[Connection, list[str]], dict[str, dict]] | None = None,
) -> Iterator[Break]:
    """Yield every break in the ledger behind ``connection`` (one read snapshot).

    With ``workers`` > 1 and the ``database_url``, step 1 runs in that many
    processes, each over a range of log positions, while this process does
    steps 2 and 3. Rows below the snapshot's size never change (the triggers),
    so the ranges need no shared snapshot. ``projected``: each cylinder's projection re-derived from its chain
    (``Supervisor.projections``); without it step 4 checks only the findings' statuses.
    """
    if workers <= 1 or database_url is None:
        yield from _events(connection, progress)
        yield from _pending(connection)
        yield from _chains(connection)
        yield from _foreign(connection)
        yield from _checkpoints(connection, verifier)
        yield from _derived(connection, projected)
        return
    size = audit_rows.log_size(connection)
    step = max(_BATCH, -(-size // (workers * 4)))
    ranges = [(start, min(start + step, size)) for start in range(0, size, step)]
    context = multiprocessing.get_context("spawn")  # no inherited connections or locks
    with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
        futures = [pool.submit(_hash_range, database_url, start, end) for start, end in ranges]
        yield from _pending(connection)
        yield from _chains(connection)
        yield from _foreign(connection)
        yield from _checkpoints(connection, verifier)
        for future in futures:
            count, found = future.result()
            yield from found
            if progress is not None:
                progress(count)
        yield from _derived(connection, projected)


def _derived(connection: Connection, projected) -> Iterator[Break]:
    if projected is not None:
        for ids in audit_rows.cylinder_pages(connection):
            # A chain whose start was archived cannot be replayed here: its projection stands as stored.
            left = audit_rows.archived_starts(connection, ids)
            ids = [cylinder for cylinder in ids if cylinder not in left]
            yield from projection_breaks(audit_rows.projections_of(connection, ids), projected(connection, ids))
    for finding, cylinder, status, left in audit_rows.edited_statuses(connection):
        yield Break(BreakKind.FINDING_STATUS_EDITED, cylinder, None,
                    f"finding {finding} says {status!r}; its closed-loop history says {left!r}")


def _hash_range(database_url: str, start: int, end: int) -> tuple[int, list[Break]]:
    from .storage.db import Database

    database = Database(database_url)
    try:
        with database.reading() as connection:
            return end - start, list(_events(connection, None, start, end))
    finally:
        database.dispose()


def _events(connection: Connection, progress: Callable[[int], None] | None,
            start: int = 0, end: int | None = None) -> Iterator[Break]:
    # Blocks archived with their partition are no gap: their stored roots stand in the tree (step 3), and
    # ``verify_archive`` checks their files.
    archived = audit_rows.archived_ranges(connection)  # by first position

    def skipped(position: int) -> int:
        for first, end in archived:
            if first <= position < end:
                position = end
        return position

    expected = skipped(start)
    for rows in audit_rows.event_pages(connection, _BATCH, start, end):
        for row in rows:
            expected = skipped(expected)
            if row[0] != expected:
                yield Break(BreakKind.LOG_GAP, row[1], row[2], f"log position {expected} is missing (next is {row[0]})")
            expected = row[0] + 1
            if not hmac.compare_digest(recomputed(row), bytes(row[13])):
                yield Break(BreakKind.CHAIN_TAMPERED, row[1], row[2], "the stored event does not match its hash")
        if progress is not None:
            progress(len(rows))
    if end is not None and skipped(expected) < end:
        yield Break(BreakKind.LOG_GAP, None, None, f"log positions {expected} to {end - 1} are missing")


def _pending(connection: Connection) -> Iterator[Break]:
    """Events committed and not yet sequenced (``ledger.sequencer``): no break for waiting, but their content
    is held to their hashes as every sequenced event's is; their chains are checked with the rest."""
    for rows in audit_rows.pending_pages(connection, _BATCH):
        for row in rows:
            if not hmac.compare_digest(recomputed(row), bytes(row[13])):
                yield Break(BreakKind.CHAIN_TAMPERED, row[1], row[2], "the stored event does not match its hash")


def _chains(connection: Connection) -> Iterator[Break]:
    for kind, cylinder, seq, detail in audit_rows.chain_breaks(connection):
        yield Break(kind, cylinder, seq, detail)


def _foreign(connection: Connection) -> Iterator[Break]:
    """Other cities' events kept beside the chains (docs/regions.md): each still matches its hash and links
    to the event before it where that one is kept too."""
    previous: tuple[str, int, bytes] | None = None
    for row in foreign_rows.every_row(connection):
        cylinder, seq, origin, prev, digest = row[0], row[1], row[2], row[13], bytes(row[14])
        if not hmac.compare_digest(recomputed((row[3], cylinder, seq, *row[4:15])), digest):
            yield Break(BreakKind.CHAIN_TAMPERED, cylinder, seq, f"the kept event of {origin} does not match its hash")
        if previous is not None and previous[:2] == (cylinder, seq - 1) and (
                prev is None or not hmac.compare_digest(bytes(prev), previous[2])):
            yield Break(BreakKind.CHAIN_TAMPERED, cylinder, seq, f"the kept event of {origin} does not link to seq {seq - 1}")
        previous = (cylinder, seq, digest)


def _checkpoints(connection: Connection, verifier: NoteVerifier | None) -> Iterator[Break]:
    tree = LogTree(connection, SubrootCache())
    size = tree.get_size()
    # This snapshot only reads committed rows, so every subtree root may be cached.
    tree.shared.settle(size)
    matched, narrowed = 0, False
    for checkpoint in checkpoints(connection):
        if verifier is not None:
            try:
                signed = open_checkpoint(verifier, checkpoint.note)
            except ProofInvalid as exc:
                yield Break(BreakKind.CHECKPOINT_MISMATCH, None, None, f"checkpoint at size {checkpoint.size}: {exc}")
                continue
            if signed.size != checkpoint.size or signed.root != checkpoint.root:
                yield Break(
                    BreakKind.CHECKPOINT_MISMATCH, None, None,
                    f"the stored size or root of checkpoint {checkpoint.size} differs from its signed note",
                )
                continue
        if checkpoint.size > size:
            detail = f"checkpoint at size {checkpoint.size} covers events the log no longer has ({size})"
        else:
            try:
                root = tree.get_root(checkpoint.size)
                detail = None if hmac.compare_digest(root, checkpoint.root) else (
                    f"the log's root at size {checkpoint.size} differs from the signed checkpoint")
            except CheckpointMismatch as exc:
                detail = f"checkpoint at size {checkpoint.size}: {exc}"
            except Archived:
                continue  # its size lies inside an archived block: checked with that block's file
        if detail is None:
            matched = checkpoint.size
            continue
        if narrowed:
            yield Break(BreakKind.CHECKPOINT_MISMATCH, None, None, detail)
            continue
        narrowed = True
        yield _narrowed(connection, detail, matched, checkpoint.size)


def against_witnessed(connection: Connection, witnessed: Sequence[tuple[str, Checkpoint]]) -> Iterator[Break]:
    """The log held to each witness's newest cosigned checkpoint, ``(witness name, checkpoint)``.

    A cosigned checkpoint that is no longer stored was deleted; a log that no
    longer reproduces a cosigned root was rewritten (or cut short), and the first
    changed event is narrowed to the range after the last stored checkpoint that
    still matches, as ``audit`` narrows a mismatch with its own checkpoints.
    """
    tree = LogTree(connection, SubrootCache())
    size = tree.get_size()
    tree.shared.settle(size)
    stored = {checkpoint.size: checkpoint for checkpoint in checkpoints(connection)}

    def reproduced(checkpoint: Checkpoint) -> bool:
        try:
            return checkpoint.size <= size and hmac.compare_digest(tree.get_root(checkpoint.size), checkpoint.root)
        except Archived:
            return True  # inside an archived block: held to the block's file, not to the database
        except CheckpointMismatch:
            return False

    for name, cosigned in witnessed:
        kept = stored.get(cosigned.size)
        if kept is None or kept.root != cosigned.root:
            yield Break(BreakKind.CHECKPOINT_DELETED, None, None,
                        f"witness {name} cosigned the log at size {cosigned.size}, and the ledger no longer "
                        "stores that checkpoint")
        if reproduced(cosigned):
            continue
        detail = (f"the log holds {size} events, fewer than the {cosigned.size} witness {name} cosigned"
                  if cosigned.size > size else
                  f"the log's root at size {cosigned.size} differs from the one witness {name} cosigned")
        start = max((checkpoint.size for checkpoint in stored.values()
                     if checkpoint.size < cosigned.size and reproduced(checkpoint)), default=0)
        yield _narrowed(connection, detail, start, min(cosigned.size, max(size, start + 1)))


_NAMED = 50


def _narrowed(connection: Connection, detail: str, start: int, end: int) -> Break:
    """The first mismatching checkpoint's break: the first changed event lies at a log position in
    [start, end), ``start`` being the size of the last checkpoint the log still reproduces."""
    cylinders = mirror_rows.cylinders_between(connection, start, end)
    named = ", ".join(cylinders[:_NAMED]) + (f" and {len(cylinders) - _NAMED} more" if len(cylinders) > _NAMED else "")
    where = (f"; the first changed event lies at log positions {start} to {end - 1}"
             f"{', where cylinders ' + named + ' have events' if cylinders else ''}")
    return Break(BreakKind.CHECKPOINT_MISMATCH, None, None, detail + where, tuple(cylinders))


_COLUMNS = ("id", "cylinder", "seq", "kind", "occurred_at", "recorded_at", "party", "person", "to", "location",
            "data", "idempotency_key", "prev_hash", "hash")
_WINDOW = 5_000


def against_mirror(connection: Connection, mirror: Connection) -> Iterator[Break]:
    """Every event of the ledger behind ``connection`` that differs from the mirror's verified copy.

    Events are matched by cylinder and seq, so an event moved to another log
    position differs (its id), one the mirror verified and the ledger lacks is
    deleted, and one the ledger holds at a position the mirror covers, under a
    cylinder and seq the mirror never verified, is inserted. Positions past the
    mirror's copy are not compared: the mirror has not verified them yet.
    """
    size = audit_rows.log_size(mirror)
    for start in range(0, size, _WINDOW):
        end = min(start + _WINDOW, size)
        theirs = {(row[1], row[2]): _plain(row) for row in mirror_rows.rows_between(mirror, start, end)}
        ours = {(row[1], row[2]): _plain(row) for row in mirror_rows.rows_between(connection, start, end)}
        for key, verified in theirs.items():
            stored = ours[key] if key in ours else _plain(mirror_rows.row_at(connection, *key))
            if stored is None:
                yield Break(BreakKind.EVENT_DELETED, key[0], key[1],
                            f"the mirror verified this event at log position {verified[0]}; the ledger no longer has it")
            elif stored != verified:
                fields = [name for name, a, b in zip(_COLUMNS, stored, verified) if a != b]
                yield Break(BreakKind.EVENT_DIFFERS, key[0], key[1],
                            f"differs from the mirror's verified copy at log position {verified[0]} in {', '.join(fields)}")
        for key, stored in ours.items():
            if key not in theirs and mirror_rows.row_at(mirror, *key) is None:
                yield Break(BreakKind.EVENT_INSERTED, key[0], key[1],
                            f"log position {stored[0]} holds an event the mirror never verified")


def _plain(row: tuple | None) -> tuple | None:
    return None if row is None else tuple(bytes(v) if isinstance(v, memoryview) else v for v in row)
