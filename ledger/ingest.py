"""The one way custody events enter the ledger: admit → append → queue → judge after commit.

Every writer of events goes through ``ingest``: a single event's request (the
process's group writer, ``api.coalesce``, hands it a group of them), a batch, the
driver page's sync, the field-report page and the demo generator. One policy,
whoever calls:

1. **admit** — each item is checked (its time, its data, the custody rules'
   authorisation) and its free-form parts encoded, in a read snapshot, so the
   write lock is not held while that runs (``Ledger.admit``).
2. **append** — one write transaction appends every admitted item exactly once
   and queues its cylinder for review (``review_queue``), then commits. Several
   submissions (callers) may share it; if it fails as a whole, each submission is
   tried again alone, so one caller can never take another down with it.
3. **sequence** — on PostgreSQL the append took no log lock: its events are
   stored pending, and the sequencer (``ledger.sequencer``) gives them their log
   positions in a short transaction of its own right after the commit, together
   with whatever other writers committed meanwhile (a group commit). The
   outcomes then carry their ``log_index``; should sequencing fail, it is null
   and the publisher's next round gives it (docs/api.md). The append commits
   without waiting for its disk flush: the sequencer's commit, which waits for
   its own, flushes the log past it before anyone is answered (``_unflushed``).
4. **judge** — with ``judge=True`` the custody rules run once the append is
   committed: in a read snapshot, then a short write transaction stores their
   findings and takes the cylinders off the queue (``Judge.assess`` and
   ``Judge.store`` of ``Work.of_written``), so the write lock is held for the appends and for
   storing findings, never while the rules think. With ``judge=False`` the
   reviewer (``api.review``) does the same a moment later. If judging fails the
   cylinders stay queued: nothing recorded goes unjudged.

A chain that crosses city lines (docs/regions.md) takes the same steps: admitting
a receive of a cylinder another city handed over fetches and verifies that city's
segment; appending keeps it beside the chain and links the receive to its head;
once committed, the other city is told (``announce``), and it ``follow``s. A late
event of a chain this city handed off is relayed, in the admit step, to the city
holding it, which records it through this same path and tells this city.

Submissions that arrived at different times (the demo generator replays a
city's weeks) go through the four steps one arrival after another.

This module begins every write transaction of the ingest path; the services it
calls take a connection and never begin or commit.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Union

from .domain import NewEvent
from .errors import LedgerError
from . import sequencer
from .outcomes import Work
from .storage import citus
from .storage import events as event_rows
from .storage.events import Prepared

if TYPE_CHECKING:
    from .service import Actor, Ledger, Outcome

__all__ = ["Submission", "ingest", "judge_ingested", "judge_after_commit", "follow"]

log = logging.getLogger("ledger.write")

Item = Union[NewEvent, Prepared, LedgerError]


@dataclass(frozen=True)
class Submission:
    """One caller's events, recorded for ``actor``; ``now`` (default: the call's) is when they arrived."""

    actor: Actor
    items: Sequence[Item]
    now: datetime | None = None


def ingest(ledger: Ledger, submissions: Sequence[Submission], now: datetime | None = None, *,
           judge: bool = True) -> list[list[Outcome] | BaseException]:
    """Record each submission's items; per submission, its outcomes in order, or the error that befell it.

    A submission's refused items are outcomes (``rejected``), not errors; an error
    means the submission as a whole failed (a database error, a bug) and, if it was
    raised while appending, that none of its items was written.
    """
    now = now or datetime.now(timezone.utc)
    arrivals: dict[datetime, list[int]] = {}
    for index, submission in enumerate(submissions):
        arrivals.setdefault(submission.now or now, []).append(index)
    results: dict[int, list | BaseException] = {}
    # Each arrival in its turn, so the rules judge a late event after what arrived before it and the
    # finding it explains is resolved, as if each had come alone.
    for at in sorted(arrivals):
        indexes = arrivals[at]
        groups = _groups([submissions[index] for index in indexes], at)
        admitted = _admit(ledger, groups)
        arrived = _durable(ledger, _sequence(ledger, _append(ledger, groups, admitted)))
        _announce(ledger, arrived)
        if judge:
            _judge(ledger, groups, arrived)
        results.update((indexes[position], result) for position, result in arrived.items())
    return [results[index] for index in range(len(submissions))]


def judge_ingested(ledger: Ledger, submissions: Sequence[Submission], results: Sequence[list[Outcome] | BaseException],
                   now: datetime) -> list[list[Outcome] | BaseException]:
    """Step 4 for what ``ingest(..., judge=False, now=now)`` recorded of ``submissions``, arrival by arrival as
    ``ingest`` judges: each submission's outcomes with the rules' findings, or the error judging met (its
    cylinders then stay queued for the reviewer). The group writer records one group while it judges the
    one before (``api.coalesce``)."""
    judged = list(results)
    arrivals: dict[datetime, list[int]] = {}
    for index, submission in enumerate(submissions):
        arrivals.setdefault(submission.now or now, []).append(index)
    for at in sorted(arrivals):
        indexes = arrivals[at]
        arrived = dict(enumerate(judged[index] for index in indexes))
        _judge(ledger, _groups([submissions[index] for index in indexes], at), arrived)
        for position, index in enumerate(indexes):
            judged[index] = arrived[position]
    return judged


def judge_after_commit(ledger: Ledger, outcomes: Sequence[Outcome], now: datetime) -> list[Outcome]:
    """Step 3 for committed outcomes: the rules' findings added to each ``created`` one.

    Raises what judging raised; the cylinders then stay queued for the reviewer.
    """
    written = [outcome.event for outcome in outcomes if outcome.status == "created" and outcome.log is None]
    judge = ledger.judge
    if not written or judge is None:
        return list(outcomes)
    with ledger.db.reading() as connection:
        assessed = judge.assess(connection, Work.of_written(written), now)
    with ledger.db.writing() as connection:
        _flush_later(connection)
        findings = judge.store(connection, assessed, now).findings
    return [replace(outcome, findings=findings.get(outcome.event.id, []))
            if outcome.status == "created" and outcome.log is None else outcome for outcome in outcomes]


def _flush_later(connection) -> None:
    """Let this transaction commit without waiting for its disk flush (PostgreSQL).

    For the findings' transaction: what it stores is derived from events already durable (the rules'
    findings and projection, the cylinders taken off the review queue). Should the server lose it in
    a crash (within a fraction of a second; the next durable commit of any writer flushes it too),
    the cylinders are still queued and the reviewer judges them again, to the same findings. For an
    append, see ``_unflushed``.
    """
    if connection.dialect.name == "postgresql":
        connection.exec_driver_sql("SET LOCAL synchronous_commit = off")


@dataclass
class _Group:
    """The submissions one ``record_batch`` call records: one account's, arrived at ``now``."""

    actor: Actor
    now: datetime
    members: list[tuple[int, int, int]]  # (submission index, first item, end) within ``items``
    items: list[Item]


def _groups(submissions: Sequence[Submission], now: datetime) -> list[_Group]:
    """Submissions that arrived at ``now``, by account: each group is one call that reads keys and heads once."""
    groups: dict[Actor, _Group] = {}
    for index, submission in enumerate(submissions):
        group = groups.setdefault(submission.actor, _Group(submission.actor, now, [], []))
        start = len(group.items)
        group.items.extend(submission.items)
        group.members.append((index, start, len(group.items)))
    return list(groups.values())


def _admit(ledger: Ledger, groups: list[_Group]) -> list[list[Item]]:
    """Step 1, in a read snapshot; on a failure ``record_batch`` checks the items itself and reports it."""
    try:
        with ledger.db.reading() as connection:
            return [ledger.admit(connection, group.actor, group.items, group.now) for group in groups]
    except Exception:  # noqa: BLE001 - the append step admits them again and reports what fails
        return [group.items for group in groups]


def _append(ledger: Ledger, groups: list[_Group], admitted: list[list[Item]]) -> dict[int, list | BaseException]:
    """Step 2: one transaction for all; if it fails, one per submission, the error reported to that one alone."""
    try:
        with ledger.db.writing() as connection:
            return _unflushed(connection, _record(ledger, connection, groups, admitted))
    except Exception as error:  # noqa: BLE001 - the shared transaction failed: give each submission its own
        members = [(group, member) for group in groups for member in group.members]
        if len(members) == 1:
            return {members[0][1][0]: error}
        results: dict[int, list | BaseException] = {}
        for (group, (index, start, end)), items in zip(members, _member_items(groups, admitted)):
            alone = _Group(group.actor, group.now, [(index, 0, end - start)], group.items[start:end])
            try:
                with ledger.db.writing() as connection:
                    results.update(_unflushed(connection, _record(ledger, connection, [alone], [items])))
            except Exception as failure:  # noqa: BLE001 - reported to that submission alone
                results[index] = failure
        return results


def _member_items(groups: list[_Group], admitted: list[list[Item]]) -> list[list[Item]]:
    return [items[start:end] for group, items in zip(groups, admitted) for _, start, end in group.members]


def _record(ledger: Ledger, connection, groups: list[_Group], admitted: list[list[Item]]) -> dict[int, list]:
    if len(groups) > 1:  # several record_batch calls in one transaction: lock every cylinder first
        ledger.lock_cylinders(connection, (item.event.cylinder if isinstance(item, Prepared) else item.cylinder
                                           for group in groups for item in group.items
                                           if isinstance(item, (NewEvent, Prepared))))
    results: dict[int, list] = {}
    for group, items in zip(groups, admitted):
        outcomes = ledger.record_batch(connection, group.actor, items, group.now, defer_review=True,
                                       sequence_after_commit=True)
        for index, start, end in group.members:
            results[index] = outcomes[start:end]
    return results


def _unflushed(connection, results: dict[int, list]) -> dict[int, list]:
    """Let an append that created events commit without waiting for its disk flush, on a single
    PostgreSQL node, where the sequencer gives those events their positions right after.

    PostgreSQL writes its log in order and a commit that waits for its flush waits for everything
    written before it. The sequencer's transaction that moves these events (this call's, or the run
    of another writer that took them: its commit was written after theirs, since it saw them)
    commits durably before anyone is answered, so its one flush makes the append durable too. Where
    no such commit followed (sequencing failed), ``_durable`` flushes before the answers leave. One
    flush per group instead of two, and no answer before the events are on disk.
    """
    # A cluster commits an append over two-phase commit on several servers; it keeps waiting for its flush.
    if event_rows.deferred(connection) and not citus.distributed(connection) and any(outcome.status == "created" for outcomes in results.values()
                                                for outcome in outcomes):
        _flush_later(connection)
    return results


def _durable(ledger: Ledger, results: dict[int, list | BaseException]) -> dict[int, list | BaseException]:
    """Flush what ``_unflushed`` committed if no sequencing commit did: some answer's event has no position.

    That includes a duplicate's: the event it answers with may be another writer's, committed a
    moment ago without its flush. A transaction that writes a record to the log (a logical message,
    which nothing reads) commits durably, flushing the log up to its end, the append included; one
    that writes nothing to the log would commit without a flush. If even that fails, the submissions
    it concerns get the error: their events may have been recorded, and a retry with the same
    idempotency keys answers which.
    """
    waiting = [index for index, outcomes in results.items() if not isinstance(outcomes, BaseException)
               and any(outcome.event is not None and outcome.event.log_index is None for outcome in outcomes)]
    if not waiting or ledger.db.dialect != "postgresql":
        return results
    try:
        with ledger.db.writing() as connection:
            if not event_rows.deferred(connection):
                return results
            connection.exec_driver_sql("SELECT pg_logical_emit_message(true, 'ledger', 'flush')")
    except Exception as error:  # noqa: BLE001 - durability unknown: the callers are told, not answered 201
        log.exception("flushing %d submissions' appends failed", len(waiting))
        return {**results, **dict.fromkeys(waiting, error)}
    return results


def _sequence(ledger: Ledger, results: dict[int, list | BaseException]) -> dict[int, list | BaseException]:
    """Step 3: the committed events' log positions, given right after commit (PostgreSQL)."""
    mine = {outcome.event.id for outcomes in results.values() if not isinstance(outcomes, BaseException)
            for outcome in outcomes if outcome.event is not None and outcome.event.log_index is None
            and outcome.log is None}
    if ledger.db.dialect != "postgresql" or not mine:
        return results
    try:
        moved = sequencer.run(ledger.db, mine)
    except Exception:  # noqa: BLE001 - committed all the same: the publisher's next round sequences them
        log.exception("sequencing after a commit failed; the events wait for the publisher's next round")
        return results
    return {index: outcomes if isinstance(outcomes, BaseException) else _placed(ledger, outcomes, moved)
            for index, outcomes in results.items()}


def _placed(ledger: Ledger, outcomes: list, moved: dict[int, int]) -> list:
    """``sequencer.placed`` for this ledger's events; a relayed one keeps the position the other city gave it."""
    own = [outcome for outcome in outcomes if outcome.log is None]
    placed = iter(sequencer.placed(ledger.db, own, moved))
    return [next(placed) if outcome.log is None else outcome for outcome in outcomes]


def _judge(ledger: Ledger, groups: list[_Group], results: dict[int, list | BaseException]) -> None:
    """Step 3 for one arrival; a failure goes to each submission it left unjudged."""
    indexes = [index for group in groups for index, *_ in group.members
               if not isinstance(results[index], BaseException)]
    outcomes = [outcome for index in indexes for outcome in results[index]]
    if not any(outcome.status == "created" for outcome in outcomes):
        return
    try:
        judged = judge_after_commit(ledger, outcomes, groups[0].now)
    except Exception as error:  # noqa: BLE001 - recorded and queued for the reviewer; the callers learn why
        log.exception("judging %d recorded events failed; they stay queued for the reviewer", len(outcomes))
        for index in indexes:
            if any(outcome.status == "created" for outcome in results[index]):
                results[index] = error
        return
    for index in indexes:
        count = len(results[index])
        results[index], judged = judged[:count], judged[count:]


def follow(ledger: Ledger, cylinder: str, now: datetime | None = None) -> bool:
    """Keep what the city now holding ``cylinder`` recorded of it since this ledger handed it over.

    The segment is fetched and verified in a read snapshot (``Ledger.segment_news``), then kept in a
    short write transaction if the chain still ends where it was verified, and the cylinder queued for
    judging. True when something new was kept.
    """
    now = now or datetime.now(timezone.utc)
    with ledger.db.reading() as connection:
        segment = ledger.segment_news(connection, cylinder)
    if segment is None:
        return False
    with ledger.db.writing() as connection:
        return ledger.keep_news(connection, cylinder, segment, now)


def _announce(ledger: Ledger, arrived: dict[int, list | BaseException]) -> None:
    """Once committed, tell the cities whose segments the new events link to, and those that relayed an
    event, so they keep it (in the background)."""
    linked = [outcome.event for result in arrived.values() if not isinstance(result, BaseException)
              for outcome in result if outcome.status == "created" and outcome.log is None
              and ("from_log" in outcome.event.data or "relayed_from" in outcome.event.data)]
    if linked:
        threading.Thread(target=ledger.announce, args=(linked,), name="ledger-announce", daemon=True).start()
