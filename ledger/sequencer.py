"""The sequencer: committed events get their log positions, in batches, after their writers commit.

Tessera's split of a transparency log's work into *sequence*, *integrate* and
*publish* (docs/architecture.md, "Sequencing"): a writer links a cylinder's chain
in its own transaction under that cylinder's row lock, and commits without ever
taking the log lock; ``run`` then takes, in one short transaction under the log
lock, every committed event still waiting for a position and gives them the next
contiguous positions; the Merkle tree reads them by position (``ledger.log``) and
the publisher signs checkpoints of them (``ledger.publisher``).

Who runs it: the ingest path right after each commit (so concurrent writers share
one run, as in a group commit, and answers carry their ``log_index``), the
publisher before each round, the reviewer and the sweeper before judging, and the
server when it starts (what a crash between a commit and its sequencing left).
On SQLite positions are given in the write transaction itself and ``run`` finds
nothing to do. On a Citus cluster the writers claim their events' idempotency
keys in the coordinator's ``log_index`` under the pending ids, and ``run`` moves
claims and events together (``ledger.storage.citus.sequence``).
"""

from __future__ import annotations

import logging
import threading
import weakref
from collections.abc import Collection, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING

from .storage import events as event_rows

if TYPE_CHECKING:
    from .service import Outcome
    from .storage.db import Database

__all__ = ["run", "placed"]

log = logging.getLogger("ledger.sequencer")

# One transaction moves at most this many events; a longer backlog (after a crash) takes several.
BATCH = 10_000

# One run at a time per database in a process: the threads that commit meanwhile wait here, not on the
# log lock, and most find, once it is their turn, that the run before them took their events too.
_turns: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
# What the last run in this process moved, per database: a thread whose events it took needs no query.
# Pending ids are never drawn twice, so an old entry cannot mislead.
_last: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
_guard = threading.Lock()


def _turn(db: Database) -> threading.Lock:
    with _guard:
        turn = _turns.get(db)
        if turn is None:
            turn = _turns[db] = threading.Lock()
        return turn


def run(db: Database, mine: Collection[int] = ()) -> dict[int, int]:
    """Sequence every committed pending event; ``pending id -> log position`` of those moved.

    ``mine``: the pending ids the caller just committed; if the run before this one
    (in this process) took them all, their positions are answered without a query.
    """
    if db.dialect != "postgresql":
        return {}
    with _turn(db):
        last = _last.get(db, {})
        if mine and all(pending in last for pending in mine):
            return {pending: last[pending] for pending in mine}
        if not mine:
            with db.reading() as connection:  # most such calls find nothing: no write transaction then
                if not event_rows.any_pending(connection):
                    return {}
        moved: dict[int, int] = {}
        adopt = not mine  # a cluster's shards are searched for events whose claim was lost, unless asked for some
        while True:
            with db.writing() as connection:
                batch = event_rows.sequence(connection, BATCH, adopt=adopt)
            adopt = False
            moved.update(batch)
            if len(batch) < BATCH:
                break
        _last[db] = moved
    if moved:
        log.debug("sequenced %d events", len(moved))
    return moved


def placed(db: Database, outcomes: Sequence[Outcome], moved: dict[int, int]) -> list[Outcome]:
    """``outcomes`` with each pending event's id and ``log_index`` as sequenced.

    ``moved`` is what this process's ``run`` moved; events another process's run
    moved meanwhile are read back by (cylinder, seq). An event still pending (its
    sequencing failed) keeps its pending id and a null ``log_index``.
    """
    waiting = [o.event for o in outcomes if o.event is not None and o.event.log_index is None
               and o.event.id not in moved]
    found: dict[tuple[str, int], int] = {}
    if waiting:
        with db.reading() as connection:
            found = event_rows.by_seq(connection, ((event.cylinder, event.seq) for event in waiting))
    result = []
    for outcome in outcomes:
        event = outcome.event
        if event is not None and event.log_index is None:
            position = moved.get(event.id, found.get((event.cylinder, event.seq), event.id))
            if position >= 0:
                outcome = replace(outcome, event=replace(event, id=position, log_index=position))
        result.append(outcome)
    return result
