"""Archiving a block of the log: its partition leaves the database for a file, its root stays.

``archive`` refuses anything unsafe before it writes a byte: a ledger whose events are not partitioned,
the partition of unsequenced events, a block that is not full, a block no signed checkpoint covers, a
log that no longer reproduces that checkpoint, a stored event that does not match its hash. It then
writes the block's rows to a file with the block's Merkle root, the signed checkpoint that covers the
block and the node's audit path to that checkpoint, so the file proves by itself that its events are
the ones the log signed; and only then, in one short transaction, records the block's root and the
file's SHA-256 in ``event_archives`` and detaches and drops the partition.

``verify_archive`` checks such a file: against its own checkpoint (signature, audit path, every
event's hash, positions without a hole) and against what the database recorded when it was archived.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from .chain import recomputed
from .domain import format_time
from .errors import CheckpointMismatch, Conflict, InvalidInput, ProofInvalid
from .log import LogTree, SubrootCache, checkpoints, leaf_hash
from .proofs import node_hash, verify_inclusion
from .signednote import NoteVerifier, open_checkpoint
from .storage import Database
from .storage import partitions

__all__ = ["archive", "verify_archive", "Verified"]

# How long archiving waits for the table lock that detaching a partition takes, before it gives up.
LOCK_TIMEOUT = "10s"


def _find(connection, which: str) -> partitions.Block:
    if not partitions.partitioned(connection):
        raise InvalidInput("this ledger's events are not partitioned: nothing to archive "
                           "(ledger init --partition-events, docs/scale.md)")
    if which == partitions.UNSEQUENCED:
        raise InvalidInput(f"{partitions.UNSEQUENCED} holds events waiting for their log position; it is never "
                           "archived")
    for block in partitions.blocks(connection):
        if which in (block.name, str(block.first)):
            return block
    raise InvalidInput(f"no partition {which!r} (ledger partitions list)")


def archive(database: Database, verifier: NoteVerifier, which: str, folder: Path,
            now: datetime | None = None) -> partitions.Archive:
    """Archive the block named ``which`` (its partition's name or first position) into ``folder``."""
    if not folder.is_dir():
        raise InvalidInput(f"{folder} is not a directory")
    with database.reading() as connection:
        block = _find(connection, which)
        if block.archive is not None:
            raise Conflict(f"{block.name} was archived at {block.archive.archived_at} to {block.archive.file}")
        width = block.end - block.first
        size = LogTree(connection, SubrootCache()).get_size()
        if block.end > size or block.rows != width:
            raise InvalidInput(f"{block.name} (positions {block.first} to {block.end - 1}) is still being filled: "
                               f"it holds {block.rows} of {width} events; only a full block leaves")
        if block.end == size:  # the log's next position is read from the events that stay
            raise InvalidInput(f"{block.name} holds the log's newest event (position {size - 1}); it leaves once "
                               "the next block has begun")
        covering = next((c for c in checkpoints(connection) if c.size >= block.end), None)
        if covering is None:
            raise InvalidInput(f"no signed checkpoint covers {block.name} yet (it ends at position {block.end - 1}); "
                               "sign one first (ledger checkpoint)")
        try:
            signed = open_checkpoint(verifier, covering.note)
        except ProofInvalid as exc:
            raise CheckpointMismatch(f"the checkpoint at size {covering.size} does not verify with the log key: "
                                     f"{exc.message}") from exc
        if (signed.size, signed.root) != (covering.size, covering.root):
            raise CheckpointMismatch(f"the stored checkpoint at size {covering.size} differs from its signed note")
        tree = LogTree(connection, SubrootCache())
        tree.shared.settle(size)  # one committed snapshot: every root may be cached
        if not hmac.compare_digest(tree.get_root(covering.size), covering.root):
            raise CheckpointMismatch(f"the log no longer reproduces its signed checkpoint at size {covering.size}: "
                                     "nothing is archived (ledger verify names the change)")
        root = tree._get_subroot(block.first, width)
        path = tree.node_path(block.first, width, covering.size)
        file = folder / f"{block.name}.jsonl.gz"
        if file.exists():
            raise InvalidInput(f"{file} exists already; archiving never overwrites a file")
        header = {"format": partitions.FORMAT, "log": covering.origin, "first": block.first, "end": block.end,
                  "root": root.hex(), "checkpoint": covering.note, "path": [node.hex() for node in path]}
        changed: list[tuple] = []

        def held(row: tuple) -> None:
            if not hmac.compare_digest(recomputed(row), bytes(row[13])):
                changed.append(row)

        digest = partitions.write_archive(file, header, partitions.block_rows(connection, block.first, block.end),
                                          held)
    if changed:
        file.unlink()
        named = ", ".join(f"{row[1]} seq {row[2]}" for row in changed[:10])
        raise CheckpointMismatch(f"{len(changed)} stored event(s) of {block.name} do not match their hashes "
                                 f"({named}): nothing is archived")
    record = partitions.Archive(block.first, block.end, root, width, block.first_recorded or "",
                                block.last_recorded or "", covering.size, str(file.resolve()), digest,
                                format_time(now or datetime.now(timezone.utc)))
    try:
        with database.writing() as connection:
            connection.exec_driver_sql(f"SET LOCAL lock_timeout = '{LOCK_TIMEOUT}'")
            again = _find(connection, block.name)
            if again.archive is not None or again.rows != width:
                raise Conflict(f"{block.name} changed while it was written out: nothing is archived")
            partitions.record_archive(connection, record)
            partitions.keep_heads(connection, block.name, block.first)
            partitions.drop_block(connection, block.name)
    except BaseException:
        file.unlink(missing_ok=True)
        raise
    return record


@dataclass(frozen=True)
class Verified:
    first: int
    end: int
    events: int
    checkpoint_size: int


def _stream_root(leaves: Iterator[bytes]) -> tuple[bytes, int]:
    """The RFC 9162 root of a power-of-two run of leaf hashes, holding only one hash per level."""
    stack: list[tuple[int, bytes]] = []
    count = 0
    for leaf in leaves:
        count += 1
        height, node = 0, leaf
        while stack and stack[-1][0] == height:
            node = node_hash(stack.pop()[1], node)
            height += 1
        stack.append((height, node))
    if len(stack) != 1:
        raise ProofInvalid(f"the archive holds {count} events, not a power of two")
    return stack[0][1], count


def verify_archive(database: Database, verifier: NoteVerifier, file: Path) -> Verified:
    """Check an archive file by itself and against the database's record of it; raises ``ProofInvalid``."""
    try:
        header, rows = partitions.read_archive(file)
    except (OSError, ValueError) as exc:
        raise ProofInvalid(str(exc)) from exc
    try:
        first, end = int(header["first"]), int(header["end"])
        root, note = bytes.fromhex(header["root"]), str(header["checkpoint"])
        path = [bytes.fromhex(node) for node in header["path"]]
    except (KeyError, TypeError, ValueError) as exc:
        raise ProofInvalid(f"{file}: its header is incomplete ({exc})") from exc
    width = end - first
    if width <= 0 or width & (width - 1) or first % width:
        raise ProofInvalid(f"{file}: positions {first} to {end - 1} are no block of the log")
    checkpoint = open_checkpoint(verifier, note)
    shift = width.bit_length() - 1
    if checkpoint.size < end:
        raise ProofInvalid(f"the archive's checkpoint (size {checkpoint.size}) does not cover its positions")
    verify_inclusion(root, first >> shift, ((checkpoint.size - 1) >> shift) + 1, path, checkpoint.root)
    with database.reading() as connection:
        record = next((a for a in partitions.archives(connection) if a.first == first), None) \
            if partitions.partitioned(connection) else None
        if record is None:
            raise ProofInvalid(f"the ledger records no archive of positions {first} to {end - 1}")
        if record.end != end or not hmac.compare_digest(record.root, root):
            raise ProofInvalid(f"the archive's root of positions {first} to {end - 1} is not the one the ledger "
                               "recorded when it archived them")
        digest = hashlib.sha256()
        with open(file, "rb") as raw:
            for chunk in iter(lambda: raw.read(1 << 20), b""):
                digest.update(chunk)
        if not hmac.compare_digest(digest.digest(), record.file_sha256):
            raise ProofInvalid(f"{file} is not the file written when positions {first} to {end - 1} were archived "
                               "(its SHA-256 differs)")
        expected = [first]

        def leaves() -> Iterator[bytes]:
            batch: list[tuple] = []
            for row in rows:
                if row[0] != expected[0]:
                    raise ProofInvalid(f"the archive lacks log position {expected[0]} (next is {row[0]})")
                expected[0] += 1
                if not hmac.compare_digest(recomputed(row), row[13]):
                    raise ProofInvalid(f"{row[1]} seq {row[2]} in the archive does not match its hash")
                batch.append(row)
                if len(batch) == 500:
                    _kept(connection, batch)
                    batch = []
                yield leaf_hash(row[13])
            _kept(connection, batch)

        computed, count = _stream_root(leaves())
    if count != width:
        raise ProofInvalid(f"the archive holds {count} events of the {width} it should")
    if not hmac.compare_digest(computed, root):
        raise ProofInvalid("the archive's events do not reproduce its root")
    return Verified(first, end, count, checkpoint.size)


def _kept(connection, batch: list[tuple]) -> None:
    """The hashes the ledger kept of archived events (``event_keys``) are the archive's."""
    if not batch:
        return
    marks = ", ".join(["(%s, %s)"] * len(batch))
    kept = {(c, s): bytes(h) for c, s, h in connection.exec_driver_sql(
        f"SELECT cylinder, seq, hash FROM event_keys WHERE (cylinder, seq) IN ({marks})",
        tuple(value for row in batch for value in (row[1], row[2])))}
    for row in batch:
        if not hmac.compare_digest(kept.get((row[1], row[2]), b""), row[13]):
            raise ProofInvalid(f"{row[1]} seq {row[2]} in the archive is not the event the ledger kept the hash of")
