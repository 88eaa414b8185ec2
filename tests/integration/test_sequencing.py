"""Log positions given after commit (``ledger.sequencer``): on SQLite, PostgreSQL and a Citus cluster.

On PostgreSQL, one node or a cluster, the ingest path writes no log position inside its
transaction: the events are stored pending and sequenced right after commit (on a
cluster with their idempotency keys claimed in the coordinator's ``log_index``). These tests hold the
guarantees of docs/architecture.md "Sequencing": contiguous positions from 0, a
crash between commit and sequencing that loses nothing, no log lock across a
write (a writer of another cylinder is not held up), the row lock per cylinder
(a writer of the same cylinder is), and the database refusing any other change.
"""

from __future__ import annotations

import threading
import uuid
from datetime import timedelta

import pytest
import sqlalchemy as sa

from ledger import ingest as ingestion
from ledger import sequencer
from ledger.domain import EventKind, NewEvent, PartyKind, Role
from ledger.errors import Conflict
from ledger.service import Actor
from ledger.storage import citus
from ledger.verify import audit
from tests.conftest import NOW, build_town, fill, register

LATER = NOW + timedelta(hours=5)


def _positions(ledger) -> list[int]:
    with ledger.db.reading() as c:
        return [row[0] for row in c.exec_driver_sql("SELECT id FROM events ORDER BY id")]


def _breaks(ledger) -> list:
    with ledger.db.reading() as c:
        return list(audit(c, ledger.verifier))


def test_ingested_events_come_back_with_their_contiguous_log_positions(ledger):
    town = build_town(ledger)
    a, b = register(ledger, town, 2)
    outcomes = ledger.ingest_one(town.at_station, [fill(a, town, NOW + timedelta(hours=h)) for h in (1, 2)]
                                 + [fill(b, town, NOW + timedelta(hours=1))], LATER)
    assert [o.status for o in outcomes] == ["created"] * 3
    assert [o.event.log_index for o in outcomes] == [2, 3, 4]
    assert all(o.event.id == o.event.log_index for o in outcomes)
    assert _positions(ledger) == list(range(5))
    with ledger.db.reading() as c:
        assert [e.log_index for e in ledger.history(c, a)] == [0, 2, 3]
    again = ledger.ingest_one(town.at_station, [fill(b, town, NOW + timedelta(hours=2))], LATER)
    assert again[0].event.log_index == 5


def test_a_crash_between_commit_and_sequencing_loses_nothing_and_leaves_no_gap(ledger, monkeypatch):
    town = build_town(ledger)
    (a,) = register(ledger, town, 1)
    ledger.publisher.latest()
    with ledger.db.writing() as c:
        regulator = ledger.create_party(c, kind=PartyKind.REGULATOR, name="Market Supervision", region="330110",
                                        now=NOW)
    inspector = Actor(Role.INSPECTOR, regulator.id, "inspector")

    def crashed(db, *_):
        raise RuntimeError("the process died after its commit")

    monkeypatch.setattr(sequencer, "run", crashed)
    first = ledger.ingest_one(town.at_station, [fill(a, town, NOW + timedelta(hours=1))], LATER)
    report = NewEvent(a, EventKind.REPORT, NOW + timedelta(hours=2), regulator.id, str(uuid.uuid4()),
                      data={"note": "valve guard bent"})
    second = ledger.ingest_one(inspector, [report], LATER)
    monkeypatch.undo()
    pending = [first[0].event, second[0].event]
    if ledger.db.dialect == "postgresql":
        assert [e.log_index for e in pending] == [None, None] and all(e.id < 0 for e in pending)
        assert _positions(ledger)[:2] == [pending[1].id, pending[0].id]  # stored, committed, unplaced
        assert _breaks(ledger) == []  # waiting is no break; their hashes and links are checked all the same
        with ledger.db.reading() as c, pytest.raises(Conflict, match="no log position yet"):
            ledger.inclusion(c, pending[0].id)
    else:  # one writer at a time: placed in the write itself
        assert [e.log_index for e in pending] == [1, 2]
    # The publisher's next round (and a server's start) sequences what was left, in the order it was written.
    checkpoint = ledger.publisher.latest()
    assert checkpoint.size == 3
    assert _positions(ledger) == [0, 1, 2]
    with ledger.db.reading() as c:
        chain = ledger.history(c, a)
        assert [(e.seq, e.log_index) for e in chain] == [(0, 0), (1, 1), (2, 2)]
        assert ledger.inclusion(c, 2, 3)["log_index"] == 2
        note = c.exec_driver_sql("SELECT event FROM notes").scalar_one()
    assert note == 2  # the note followed its event to its position
    assert _breaks(ledger) == []
    assert sequencer.run(ledger.db) == {}


def test_a_bundle_of_a_pending_event_is_sequenced_first(ledger, monkeypatch):
    town = build_town(ledger)
    (a,) = register(ledger, town, 1)
    monkeypatch.setattr(sequencer, "run", lambda db, *_: (_ for _ in ()).throw(RuntimeError("died")))
    ledger.ingest_one(town.at_station, [fill(a, town, NOW + timedelta(hours=1))], LATER)
    monkeypatch.undo()
    bundle = ledger.bundle(a)
    assert [e["log_index"] for e in bundle["events"]] == [0, 1]
    assert [p["log_index"] for p in bundle["proofs"]] == [0, 1]


def _held_write(ledger, town, cylinder, hour):
    """A write transaction of the ingest path, appended and not yet committed."""
    connection_cm = ledger.db.writing()
    c = connection_cm.__enter__()
    outcome = ledger.record_batch(c, town.at_station, [fill(cylinder, town, NOW + timedelta(hours=hour))], LATER,
                                  defer_review=True, sequence_after_commit=True)
    assert outcome[0].status == "created"
    return connection_cm


def _write_alone(ledger, town, cylinder, hour):
    """Append to ``cylinder`` in a transaction that gives up after two seconds of waiting for any lock."""
    with ledger.db.writing() as c:
        if citus.distributed(c):  # the row locks are the workers': the timeout must reach them too
            c.exec_driver_sql("SET LOCAL citus.propagate_set_commands = 'local'")
        c.exec_driver_sql("SET LOCAL lock_timeout = '2s'")
        return ledger.record_batch(c, town.at_station, [fill(cylinder, town, NOW + timedelta(hours=hour))], LATER,
                                   defer_review=True, sequence_after_commit=True)[0]


def test_a_writer_of_another_cylinder_does_not_wait_and_one_of_the_same_cylinder_does(ledger):
    if ledger.db.dialect != "postgresql":
        pytest.skip("SQLite has one writer at a time by design")
    town = build_town(ledger)
    a, b = register(ledger, town, 2)
    held = _held_write(ledger, town, a, 1)
    try:
        other: list = []
        thread = threading.Thread(target=lambda: other.append(_write_alone(ledger, town, b, 1)))
        thread.start()
        thread.join(30)
        assert other and other[0].status == "created"  # committed while the other write is still open
        with pytest.raises(sa.exc.OperationalError, match="lock timeout"):
            _write_alone(ledger, town, a, 2)  # the same cylinder's row lock: its chain cannot fork
    finally:
        held.__exit__(None, None, None)
    moved = sequencer.run(ledger.db)
    assert sorted(moved.values()) == [2, 3]
    assert _positions(ledger) == [0, 1, 2, 3]
    assert _breaks(ledger) == []
    with ledger.db.reading() as c:
        if citus.distributed(c):  # the claims moved with their events
            assert [r[0] for r in c.exec_driver_sql("SELECT id FROM log_index ORDER BY id")] == [0, 1, 2, 3]


def test_the_database_admits_only_sequencing_as_a_change_of_an_event(ledger, monkeypatch):
    if ledger.db.dialect != "postgresql":
        pytest.skip("SQLite places events in the write: no event is ever changed")
    town = build_town(ledger)
    (a,) = register(ledger, town, 1)
    monkeypatch.setattr(sequencer, "run", lambda db, *_: {})
    pending = ledger.ingest_one(town.at_station, [fill(a, town, NOW + timedelta(hours=1))], LATER)[0].event
    for change in (f"UPDATE events SET data = '{{}}' WHERE id = {pending.id}",
                   f"UPDATE events SET id = 1, data = '{{}}' WHERE id = {pending.id}",
                   "UPDATE events SET id = 7 WHERE id = 0",
                   f"DELETE FROM events WHERE id = {pending.id}"):
        with pytest.raises(sa.exc.DBAPIError, match="append-only"):
            with ledger.db.writing() as c:
                c.exec_driver_sql(change)
    with ledger.db.reading() as c:
        on_cluster = citus.distributed(c)
    if on_cluster:  # the key's claim on the coordinator admits the same one change, and holds the key meanwhile
        for change in (f"UPDATE log_index SET cylinder = 'XOTHER' WHERE id = {pending.id}",
                       f"UPDATE log_index SET id = 1, idempotency_key = 'other' WHERE id = {pending.id}",
                       "UPDATE log_index SET id = 7 WHERE id = 0",
                       f"DELETE FROM log_index WHERE id = {pending.id}"):
            with pytest.raises(sa.exc.DBAPIError, match="append-only"):
                with ledger.db.writing() as c:
                    c.exec_driver_sql(change)
        with pytest.raises(sa.exc.IntegrityError), ledger.db.writing() as c:
            c.exec_driver_sql("INSERT INTO log_index (id, cylinder, idempotency_key) VALUES (-999999, 'XOTHER', %s)",
                              (pending.idempotency_key,))
    monkeypatch.undo()
    assert sequencer.run(ledger.db) == {pending.id: 1}


def test_concurrent_ingests_share_sequencing_and_fill_the_log_without_gaps(ledger):
    town = build_town(ledger)
    cylinders = register(ledger, town, 8)
    errors: list = []

    def write(cylinder):
        try:
            for hour in range(1, 4):
                ledger.ingest([ingestion.Submission(town.at_station, [fill(cylinder, town, NOW + timedelta(hours=hour))])],
                              LATER, judge=False)
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(cylinder,)) for cylinder in cylinders]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert errors == []
    assert _positions(ledger) == list(range(8 + 8 * 3))
    with ledger.db.reading() as c:
        for cylinder in cylinders:
            chain = ledger.history(c, cylinder)
            assert [e.seq for e in chain] == [0, 1, 2, 3]
            assert [e.log_index for e in chain] == sorted(e.log_index for e in chain)
    assert _breaks(ledger) == []


@pytest.mark.parametrize("sequencing", ["succeeds", "fails"])
def test_an_answered_append_is_on_disk_whether_or_not_its_sequencing_succeeds(ledger, monkeypatch, sequencing):
    """The append commits without waiting for its flush (``ingest._unflushed``): the sequencer's durable
    commit, or else an explicit one, must have flushed the log past it before the answer."""
    if ledger.db.dialect != "postgresql":
        pytest.skip("SQLite commits every append durably")
    with ledger.db.reading() as c:
        if citus.distributed(c):
            pytest.skip("a cluster's append waits for its flush (two-phase commit); the test cluster runs without one")
    town = build_town(ledger)
    (a,) = register(ledger, town, 1)
    written: list[str] = []
    record = ingestion._record

    def appending(ledger_, connection, *args):
        outcomes = record(ledger_, connection, *args)
        # how far the log reaches with the append's rows in it, just before its commit
        written.append(connection.exec_driver_sql("SELECT pg_current_wal_insert_lsn()::text").scalar_one())
        return outcomes

    def failed(db, *_):
        raise RuntimeError("the sequencer's transaction failed")

    monkeypatch.setattr(ingestion, "_record", appending)
    if sequencing == "fails":
        monkeypatch.setattr(sequencer, "run", failed)
    (outcome,) = ledger.ingest_one(town.at_station, [fill(a, town, NOW + timedelta(hours=1))], LATER)
    with ledger.db.reading() as c:
        flushed = c.exec_driver_sql("SELECT pg_current_wal_flush_lsn() >= %s::pg_lsn", (written[0],)).scalar_one()
    assert outcome.status == "created" and flushed
    assert (outcome.event.log_index is None) == (sequencing == "fails")


def test_on_a_cluster_an_event_whose_claim_was_lost_is_claimed_then_sequenced(ledger, monkeypatch):
    with ledger.db.reading() as c:
        if not citus.distributed(c):
            pytest.skip("only a cluster keeps an event's claim on another server than the event")
    town = build_town(ledger)
    (a,) = register(ledger, town, 1)
    # The shard committed the event, the coordinator stopped before committing its claim, and no sequencer ran.
    monkeypatch.setattr(citus, "claim", lambda connection, rows: None)
    monkeypatch.setattr(sequencer, "run", lambda db, *_: {})
    pending = ledger.ingest_one(town.at_station, [fill(a, town, NOW + timedelta(hours=1))], LATER)[0].event
    monkeypatch.undo()
    assert pending.log_index is None and pending.id < 0
    with ledger.db.reading() as c:
        assert c.exec_driver_sql("SELECT count(*) FROM log_index WHERE idempotency_key = %s",
                                 (pending.idempotency_key,)).scalar_one() == 0
    assert sequencer.run(ledger.db, [pending.id]) == {}  # a writer's own run does not search the shards
    assert sequencer.run(ledger.db) == {pending.id: 1}  # the publisher's does, claims it, places it
    assert _positions(ledger) == [0, 1]
    with ledger.db.reading() as c:
        assert c.exec_driver_sql("SELECT id, cylinder, idempotency_key FROM log_index ORDER BY id").all()[1] == (
            1, a, pending.idempotency_key)
    assert _breaks(ledger) == []
