"""The checkpoint publisher: signs and stores checkpoints, and collects the witnesses' cosignatures.

Publishing is a step of its own, in its own short write transactions (tessera's
sequencing, integration and publishing as separate steps). Every server process
runs one publisher in a background thread (``start``/``stop``); each round it

1. signs and stores a checkpoint of the whole log if the log grew and the newest
   stored checkpoint is at least ``interval`` seconds old. Both conditions are
   checked again inside the write transaction under the log lock, so however many
   processes publish, they store at most one checkpoint per interval and never two
   of one size (the size is the table's key);
2. submits the newest stored checkpoint to every configured witness that has not
   cosigned it (c2sp.org/tlog-witness ``add-checkpoint``), each witness claimed in
   the database for one process at a time. A witness that fails is tried again
   after a back-off that doubles up to ``MAX_BACKOFF``; the others carry on, and
   publishing never waits for any of them;
3. stores each cosignature once it verifies against that witness's key.

A proof or a bundle that needs a checkpoint covering an event the publisher has
not reached yet has one signed at once (``latest``); it is submitted on the next round.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta, timezone

import httpx

from . import outbound, sequencer
from .cosigning import Cosignature, Witness, with_cosignatures
from .domain import format_time, parse_time
from .errors import CheckpointMismatch
from .log import LogTree, SubrootCache, latest_checkpoint, publish_checkpoint
from .signednote import Checkpoint, NoteSigner
from .storage import checkpoints as checkpoint_rows
from .storage import cosignatures as rows
from .storage import events as event_rows
from .storage.db import Database
from .witness_client import WitnessConflict, WitnessFailed, request_cosignature

__all__ = ["CheckpointPublisher", "Witnessed"]

log = logging.getLogger("ledger.publisher")

MAX_BACKOFF = 300.0  # seconds between tries of a witness that keeps failing, at most
CLAIM = timedelta(seconds=60)  # a process that claimed a witness and died leaves it to the others this long
TIMEOUT = httpx.Timeout(10.0, connect=3.0)


def _due(state: tuple, size: int, stamp: str) -> bool:
    """A witness is asked if it has not cosigned ``size`` and neither rests after a failure nor is claimed."""
    cosigned, _failures, retry_at, claimed_until, _error = state
    return cosigned < size and not (retry_at and retry_at > stamp) and not (claimed_until and claimed_until > stamp)


class Witnessed:
    """A checkpoint with the cosignatures stored for it."""

    def __init__(self, checkpoint: Checkpoint, cosignatures: Sequence[tuple[str, str, int, str]]) -> None:
        self.checkpoint = checkpoint
        self.cosignatures = list(cosignatures)  # (witness, key name, timestamp, line)

    @property
    def note(self) -> str:
        """One signed note: the log's signature line, then one cosignature line per witness."""
        return with_cosignatures(self.checkpoint.note, (line for *_, line in self.cosignatures))


class CheckpointPublisher:
    """Owns the transactions that sign checkpoints and store cosignatures; one per ``Ledger``."""

    def __init__(self, db: Database, cache: SubrootCache, signer: Callable[[], NoteSigner], origin: str, *,
                 interval: float = 10.0, witnesses: Callable[[], Sequence[Witness]] = tuple,
                 clock: Callable[[], datetime] | None = None) -> None:
        self.db = db
        self.cache = cache
        self._signer = signer  # loaded on first use: a reader that never signs needs no key file
        self.origin = origin
        self.interval = interval
        self._witnesses = witnesses
        self.clock = clock or (lambda: datetime.now(timezone.utc))
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()
        self._users = 0
        self._guard = threading.Lock()

    # -- checkpoints on request ------------------------------------------------------------

    def latest(self) -> Checkpoint:
        """The newest checkpoint, covering the whole log: signs and stores one first if the log has grown.

        Committed events still waiting for their log positions are sequenced first, so the
        checkpoint covers every event committed before the call."""
        sequencer.run(self.db)
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

    def covering(self, position: int) -> Checkpoint:
        """The newest stored checkpoint if it holds log ``position``, else a fresh one of the whole log."""
        with self.db.reading() as connection:
            newest = latest_checkpoint(connection)
        if newest is not None and newest.size > position:
            return newest
        return self.latest()

    def newest(self) -> Witnessed:
        """The newest stored checkpoint with its cosignatures (one is signed if none is stored yet)."""
        with self.db.reading() as connection:
            checkpoint = latest_checkpoint(connection)
            if checkpoint is not None:
                return Witnessed(checkpoint, rows.at_size(connection, checkpoint.size))
        return Witnessed(self.latest(), [])

    def witnessed(self, checkpoint: Checkpoint) -> Witnessed:
        with self.db.reading() as connection:
            return Witnessed(checkpoint, rows.at_size(connection, checkpoint.size))

    # -- one round ---------------------------------------------------------------------------

    def publish_due(self) -> Checkpoint | None:
        """Sequence what is committed, then sign and store a checkpoint if the log grew and the newest is
        ``interval`` old; else ``None``."""
        sequencer.run(self.db)
        now = self.clock()
        with self.db.reading() as connection:
            if not self._due(connection, now):
                return None
        with self.db.writing() as connection:
            checkpoint_rows.take_log_lock(connection)
            if not self._due(connection, now):  # another process published meanwhile
                return None
            checkpoint = publish_checkpoint(connection, self.cache, self._signer(), self.origin, now)
        self.cache.settle(checkpoint.size)
        log.info("checkpoint %d signed", checkpoint.size)
        return checkpoint

    def _due(self, connection, now: datetime) -> bool:
        newest = rows.latest_signed_at(connection)
        if newest is None:
            return event_rows.log_size(connection) > 0
        size, signed_at = newest
        if parse_time(signed_at) + timedelta(seconds=self.interval) > now:
            return False
        return event_rows.log_size(connection) > size

    def collect(self, client: httpx.Client) -> dict[str, str]:
        """Submit the newest checkpoint to each witness due for it; ``witness -> outcome`` of those tried."""
        witnesses = list(self._witnesses())
        if not witnesses:
            return {}
        now = self.clock()
        stamp = format_time(now)
        with self.db.reading() as connection:  # most rounds find nothing to do: no write transaction then
            checkpoint = latest_checkpoint(connection)
            known = rows.states(connection)
        if checkpoint is None:
            return {}
        due = [w for w in witnesses if w.name not in known or _due(known[w.name], checkpoint.size, stamp)]
        if not due:
            return {}
        with self.db.writing() as connection:
            rows.ensure_states(connection, [w.name for w in due])
            claimed = [w for w in due
                       if rows.claim(connection, w.name, format_time(now + CLAIM), stamp, checkpoint.size)]
            states = rows.states(connection)
        if not claimed:
            return {}
        with ThreadPoolExecutor(max_workers=min(8, len(claimed))) as pool:
            outcomes = pool.map(lambda w: self._ask(client, w, states[w.name][0], checkpoint), claimed)
            return dict(zip((w.name for w in claimed), outcomes))

    def _ask(self, client: httpx.Client, witness: Witness, old: int, checkpoint: Checkpoint) -> str:
        """Ask one witness (again from the size it names, after a ``409``); store what it answers."""
        try:
            try:
                cosignature = request_cosignature(client, witness, old, self._proof(old, checkpoint.size), checkpoint)
            except WitnessConflict as conflict:
                if conflict.size > checkpoint.size:
                    raise WitnessFailed(f"it holds tree size {conflict.size}, larger than this log's "
                                        f"{checkpoint.size}: it has seen another view of the log") from None
                old = conflict.size
                cosignature = request_cosignature(client, witness, old, self._proof(old, checkpoint.size), checkpoint)
        except (WitnessFailed, WitnessConflict) as exc:
            return self._failed(witness, str(exc))
        except Exception as exc:  # noqa: BLE001 - an unexpected failure of one witness must not stop the others
            log.exception("witness %s: unexpected failure", witness.name)
            return self._failed(witness, f"{type(exc).__name__}: {exc}")
        self._store(witness, checkpoint, cosignature)
        return "cosigned"

    def _proof(self, old: int, size: int) -> list[bytes]:
        if old == 0 or old >= size:
            return []
        with self.db.reading() as connection:
            return LogTree(connection, self.cache).consistency_path(old, size)

    def _store(self, witness: Witness, checkpoint: Checkpoint, cosignature: Cosignature) -> None:
        with self.db.writing() as connection:
            rows.insert(connection, checkpoint.size, witness.name, cosignature.name, cosignature.timestamp,
                        cosignature.line, format_time(self.clock()))
            rows.succeeded(connection, witness.name, checkpoint.size)
        log.info("checkpoint %d cosigned by %s", checkpoint.size, witness.name)

    def _failed(self, witness: Witness, reason: str) -> str:
        with self.db.writing() as connection:
            failures = rows.states(connection).get(witness.name, (0, 0))[1] + 1
            wait = min(MAX_BACKOFF, min(self.interval, 1.0) * 2 ** (failures - 1))
            rows.failed(connection, witness.name, format_time(self.clock() + timedelta(seconds=wait)), reason)
        log.warning("witness %s failed (%d in a row), tried again in %.1f s: %s",
                    witness.name, failures, wait, reason)
        return f"failed: {reason}"

    # -- the background thread ---------------------------------------------------------------

    def run_once(self, client: httpx.Client) -> Checkpoint | None:
        checkpoint = self.publish_due()
        self.collect(client)
        return checkpoint

    def start(self) -> None:
        """Run rounds in a background thread until ``stop`` (counted: every ``start`` needs its ``stop``)."""
        self._witnesses()  # a broken witness list stops the server starting, not the thread later
        try:  # what a crash between a commit and its sequencing left, before the first request
            sequencer.run(self.db)
        except Exception:  # noqa: BLE001 - the thread's rounds try again
            log.exception("sequencing the events left pending failed; the publisher's rounds try again")
        with self._guard:
            self._users += 1
            if self._thread is None:
                self._stopping.clear()
                self._thread = threading.Thread(target=self._run, name="checkpoint-publisher", daemon=True)
                self._thread.start()

    def stop(self) -> None:
        with self._guard:
            self._users -= 1
            thread = self._thread if self._users <= 0 else None
            if thread is not None:
                self._thread = None
                self._stopping.set()
        if thread is not None:
            thread.join(timeout=30)

    def _run(self) -> None:
        poll = min(self.interval / 4, 1.0)
        failing_since: datetime | None = None
        with outbound.client(timeout=TIMEOUT) as client:
            while not self._stopping.is_set():
                try:
                    self.run_once(client)
                    failing_since = None
                except CheckpointMismatch as exc:  # stored rows were changed: say so, and sign nothing
                    now = self.clock()
                    if failing_since is None or now - failing_since > timedelta(minutes=1):
                        log.error("%s; run `ledger verify`", exc.message)
                        failing_since = now
                except Exception:  # noqa: BLE001 - logged; the next round tries again
                    now = self.clock()
                    if failing_since is None or now - failing_since > timedelta(minutes=1):
                        log.exception("publishing a checkpoint failed; trying again")
                        failing_since = now
                self._stopping.wait(poll)
