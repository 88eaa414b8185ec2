"""The global verifiable log: one RFC 9162 Merkle tree over every event.

The leaf at position *i* is the event whose id is *i*; its leaf hash is
SHA-256(0x00 || event hash). ``LogTree`` is a pymerkle ``BaseMerkleTree`` that
reads those rows directly, so the log keeps no second copy of the data.

pymerkle caches subtree roots in memory, and such a cache would outlive a rolled
back transaction that had appended leaves. ``SubrootCache`` therefore only keeps
roots of ranges that lie wholly inside the latest *committed, signed* checkpoint,
whose leaves the database can no longer change; everything above it is computed
afresh. A rollback can thus never leave a wrong root behind.

On a ledger whose events are partitioned by log position (``ledger.storage.partitions``), a block of
positions whose partition was archived is one node of the tree: its stored root stands in for its
leaves, so roots, checkpoints and proofs that need only that node still work; anything that needs a
node inside it (an archived event's inclusion, a consistency proof from a size inside it) raises
``Archived`` naming the block and its file.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timezone

from cachetools import LRUCache
from pymerkle import BaseMerkleTree

from .domain import format_time
from .errors import Archived, CheckpointMismatch, InvalidInput, NotFound
from .signednote import Checkpoint, NoteSigner, sign_checkpoint
from .storage import Connection
from .storage import checkpoints as rows
from .storage import events as event_rows
from .storage import partitions

__all__ = ["SubrootCache", "LogTree", "leaf_hash", "publish_checkpoint", "latest_checkpoint", "checkpoints"]

# Subtrees wider than this are built from their two halves, each through the cache, so every
# subtree root down to this width is cached once computed (at most 2n / 2^10 entries), and a
# proof's sibling that is not cached costs reading at most 2^10 leaves, however large the log.
_LARGE = 1 << 10


def leaf_hash(event_hash: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + event_hash).digest()


@dataclass
class SubrootCache:
    """Subtree roots shared by every ``LogTree`` of one database (thread-safe)."""

    capacity: int = 256 * 1024 * 1024
    stable_size: int = 0
    lock: threading.RLock = field(default_factory=threading.RLock)
    store: LRUCache = field(init=False)

    def __post_init__(self) -> None:
        self.store = LRUCache(maxsize=self.capacity, getsizeof=lambda value: len(value) + 200)

    def settle(self, size: int) -> None:
        """Declare the first ``size`` leaves committed and signed (they never change again)."""
        with self.lock:
            self.stable_size = max(self.stable_size, size)

    def clear(self) -> None:
        with self.lock:
            self.store.clear()
            self.stable_size = 0


class LogTree(BaseMerkleTree):
    """The Merkle tree as seen from one database connection (one snapshot)."""

    def __init__(self, connection: Connection, cache: SubrootCache) -> None:
        super().__init__("sha256")
        self.connection = connection
        self.shared = cache
        self.cache = cache.store
        self.lock = cache.lock
        self._size: int | None = None
        self._archived: list[partitions.Archive] | None = None

    @property
    def archived(self) -> list[partitions.Archive]:
        """The archived blocks of positions, each one node of the tree (none unless events are partitioned)."""
        if self._archived is None:
            stored = self.connection is not None and partitions.partitioned(self.connection)
            self._archived = partitions.archives(self.connection) if stored else []
        return self._archived

    # -- storage hooks -------------------------------------------------------

    def _encode_entry(self, data):  # pragma: no cover - the log grows only through ledger.storage.events
        raise TypeError("events enter the log only through the ledger's append path")

    def _store_leaf(self, data, digest):  # pragma: no cover
        raise TypeError("events enter the log only through the ledger's append path")

    def _get_leaf(self, index: int) -> bytes:
        return leaf_hash(rows.event_hash_at(self.connection, index - 1))

    def _get_leaves(self, offset: int, width: int) -> list[bytes]:
        leaves = [leaf_hash(digest) for digest in rows.event_hashes(self.connection, offset, width)]
        if len(leaves) != width:  # rows were deleted under the log: no root can be computed honestly
            raise CheckpointMismatch(f"log positions between {offset} and {offset + width - 1} are missing")
        return leaves

    def _get_size(self) -> int:
        if self._size is None:
            self._size = event_rows.log_size(self.connection)
        return self._size

    # -- caching that a rollback cannot poison ------------------------------

    def _get_subroot(self, offset: int, width: int) -> bytes:
        if offset + width > self.shared.stable_size:
            return self._get_subroot_uncached(offset, width)
        return super()._get_subroot(offset, width)

    def _get_subroot_uncached(self, offset: int, width: int) -> bytes:
        for block in self.archived:
            if block.first < offset + width and offset < block.end:
                if (offset, width) == (block.first, block.end - block.first):
                    return block.root
                if width <= block.end - block.first:  # a node inside the block: its leaves have left
                    raise Archived(f"log positions {block.first} to {block.end - 1} are archived (file "
                                   f"{block.file}); a proof within them needs that file (docs/operations.md)")
                half = width >> 1
                return self.hash_pair(self._get_subroot(offset, half), self._get_subroot(offset + half, half))
        if width > _LARGE:
            half = width >> 1
            return self.hash_pair(self._get_subroot(offset, half), self._get_subroot(offset + half, half))
        return super()._get_subroot_uncached(offset, width)

    # -- RFC 9162 proofs -----------------------------------------------------

    def inclusion_path(self, index: int, size: int) -> list[bytes]:
        """The audit path of leaf ``index`` (0-based) in the tree of ``size`` leaves (RFC 9162 §2.1.3.1)."""
        if not 0 <= index < size <= self.get_size():
            raise InvalidInput(f"no leaf {index} in a tree of {size} (log size {self.get_size()})")
        return self._path(index, 0, size)

    def _path(self, m: int, start: int, end: int) -> list[bytes]:
        if end - start == 1:
            return []
        k = _split(end - start)
        if m < k:
            return self._path(m, start, start + k) + [self._get_root(start + k, end)]
        return self._path(m - k, start + k, end) + [self._get_root(start, start + k)]

    def node_path(self, first: int, width: int, size: int) -> list[bytes]:
        """The audit path of the node over positions ``[first, first + width)`` (aligned, a power of two wide)
        in the tree of ``size`` leaves: the leaf's path without its steps inside the node. It is checked as an
        inclusion proof of the node's root at index ``first / width`` in a tree of ``(size - 1) / width + 1``."""
        if width <= 0 or width & (width - 1) or first % width or not first + width <= size <= self.get_size():
            raise InvalidInput(f"no node [{first}, {first + width}) in a tree of {size}")
        return self._node_path(first, width, 0, size)

    def _node_path(self, first: int, width: int, start: int, end: int) -> list[bytes]:
        if (start, end) == (first, first + width):
            return []
        k = _split(end - start)
        if first < start + k:
            return self._node_path(first, width, start, start + k) + [self._get_root(start + k, end)]
        return self._node_path(first, width, start + k, end) + [self._get_root(start, start + k)]

    def consistency_path(self, old: int, new: int) -> list[bytes]:
        """The consistency proof between tree sizes ``old`` and ``new`` (RFC 9162 §2.1.4.1)."""
        if not 0 < old <= new <= self.get_size():
            raise InvalidInput(f"no consistency proof from {old} to {new} (log size {self.get_size()})")
        if old == new:
            return []
        return self._subproof(old, 0, new, True)

    def _subproof(self, m: int, start: int, end: int, complete: bool) -> list[bytes]:
        n = end - start
        if m == n:
            return [] if complete else [self._get_root(start, end)]
        k = _split(n)
        if m <= k:
            return self._subproof(m, start, start + k, complete) + [self._get_root(start + k, end)]
        return self._subproof(m - k, start + k, end, False) + [self._get_root(start, start + k)]


def _split(n: int) -> int:
    """The largest power of two smaller than ``n`` (RFC 9162 §2.1.1)."""
    return 1 << ((n - 1).bit_length() - 1)


def latest_checkpoint(connection: Connection) -> Checkpoint | None:
    row = rows.latest(connection)
    return None if row is None else _checkpoint(row)


def checkpoints(connection: Connection) -> Iterator[Checkpoint]:
    for row in rows.all_sizes(connection):
        yield _checkpoint(row)


def checkpoint_at(connection: Connection, size: int) -> Checkpoint:
    row = rows.at_size(connection, size)
    if row is None:
        raise NotFound(f"no checkpoint was signed at tree size {size}")
    return _checkpoint(row)


def _checkpoint(row) -> Checkpoint:
    size, root, note = row
    origin = note.split("\n", 1)[0]
    return Checkpoint(origin, size, bytes(root), note)


def publish_checkpoint(
    connection: Connection, cache: SubrootCache, signer: NoteSigner, origin: str, now: datetime | None = None
) -> Checkpoint:
    """Sign and store a checkpoint of the whole log, in the caller's write transaction.

    Refuses (``CheckpointMismatch``) when the log no longer reproduces the latest
    stored checkpoint, so the log never signs two inconsistent checkpoints.
    Returns the latest checkpoint unchanged when the log has not grown.
    """
    rows.take_log_lock(connection)
    tree = LogTree(connection, cache)
    size = tree.get_size()
    latest = latest_checkpoint(connection)
    if latest is not None:
        if latest.size == size:
            return latest
        if latest.size > size or tree.get_root(latest.size) != latest.root:
            raise CheckpointMismatch(
                f"the log does not reproduce the signed checkpoint at size {latest.size}: refusing to sign"
            )
    checkpoint = sign_checkpoint(signer, origin, size, tree.get_root(size))
    rows.insert(connection, size, checkpoint.root, checkpoint.note, format_time(now or datetime.now(timezone.utc)))
    return checkpoint
