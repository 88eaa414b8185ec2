"""The checkpoint publisher: signs and stores a checkpoint of the log once it has grown.

Publishing is a step of its own, in its own short write transaction (tessera's
sequencing, integration and publishing as separate steps): a proof or a bundle
asks the publisher for the newest checkpoint first and then only reads.
"""

from __future__ import annotations

from collections.abc import Callable

from .log import SubrootCache, latest_checkpoint, publish_checkpoint
from .signednote import Checkpoint, NoteSigner
from .storage import events as event_rows
from .storage.db import Database

__all__ = ["CheckpointPublisher"]


class CheckpointPublisher:
    """Owns the transactions that sign checkpoints; one per ``Ledger``."""

    def __init__(self, db: Database, cache: SubrootCache, signer: Callable[[], NoteSigner], origin: str) -> None:
        self.db = db
        self.cache = cache
        self._signer = signer  # loaded on first use: a reader that never signs needs no key file
        self.origin = origin

    def latest(self) -> Checkpoint:
        """The newest checkpoint, covering the whole log: signs and stores one first if the log has grown."""
        with self.db.reading() as connection:
            latest = latest_checkpoint(connection)
            size = event_rows.log_size(connection)
        if latest is not None and latest.size == size:
            self.cache.settle(latest.size)
            return latest
        with self.db.writing() as connection:
            checkpoint = publish_checkpoint(connection, self.cache, self._signer(), self.origin)
        self.cache.settle(checkpoint.size)
        return checkpoint
