"""Events partitioned by log position on a Citus cluster (``LEDGER_TEST_CITUS``; skipped when unset;
docs/scale.md, "Partitioning on a Citus cluster").

In blocks of 16 positions under the distribution by cylinder: the layout ``ledger init --partition-events``
makes (every block distributed and co-located with the cylinders, a block made later too), the database's
refusals across blocks and shards, the sequencer's move of a pending event into its block, what concerns one
cylinder planned as one shard's task, and a block archived: its file verifies, and proofs, checkpoints,
appends, bundles and ``ledger verify`` keep working.
"""

from __future__ import annotations

import dataclasses
import uuid
from datetime import timedelta

import pytest
import sqlalchemy as sa

from ledger import sequencer
from ledger.archival import archive, verify_archive
from ledger.bundle import verify_bundle
from ledger.errors import Archived, InvalidInput
from ledger.proofs import leaf_hash, verify_consistency, verify_inclusion
from ledger.service import Ledger
from ledger.storage import citus, partitions
from ledger.storage import events as event_rows
from tests.conftest import CITUS, NOW, build_town, fill, partition_events, register
from tests.integration.test_bundle_and_cli import run_cli
from tests.integration.test_citus import _plans, _record_statements, on_cluster  # noqa: F401 - the fixture
from tests.integration.test_partitions import LATER, _blocks, _breaks, _env, _grow

pytestmark = pytest.mark.skipif(not CITUS, reason="no Citus cluster: set LEDGER_TEST_CITUS (.ci/citus-cluster)")

WIDTH = 16


@pytest.fixture
def ledger(on_cluster):
    partition_events(on_cluster.db, WIDTH, ahead=3)
    return on_cluster


def _layout(ledger: Ledger) -> dict[str, str]:
    """Each distributed table of the ledger's schema: method, distribution column, co-location group."""
    with ledger.db.reading() as c:
        return dict(c.exec_driver_sql(
            "SELECT logicalrelid::regclass::text, partmethod::text || ':' || COALESCE(column_to_column_name("
            "logicalrelid, partkey), '') || ':' || colocationid FROM pg_dist_partition "
            "WHERE logicalrelid::regclass::text NOT LIKE '%%.%%'").all())


def test_init_partitions_the_distributed_events_and_create_distributes_new_blocks(on_cluster, tmp_path):
    town = build_town(on_cluster)
    codes = register(on_cluster, town, 3)  # rows stored before the partitioning are carried over
    init = run_cli("init", "--db", on_cluster.settings.database_url, "--partition-events", "16", env=_env(on_cluster))
    assert init.returncode == 0, init.stderr
    assert "events partitioned by 16 log positions; 3 block(s) ready" in init.stderr
    layout = _layout(on_cluster)
    anchor = layout["cylinders"].split(":")[2]
    blocks = [f"events_{n:06d}" for n in range(3)]
    for table in ("events", partitions.UNSEQUENCED, *blocks, "event_keys", "event_archive_heads"):
        assert layout[table] == f"h:cylinder:{anchor}", table
    assert layout["event_archives"].startswith("n:") and layout["event_partitioning"].startswith("n:")
    with on_cluster.db.reading() as c:
        assert c.exec_driver_sql("SELECT width FROM event_partitioning").scalar() == 16
        assert c.exec_driver_sql("SELECT COUNT(*) FROM events_000000").scalar() == 3
        assert c.exec_driver_sql("SELECT COUNT(*) FROM event_keys").scalar() == 3
        assert sorted(r[0] for r in c.exec_driver_sql("SELECT cylinder FROM events")) == sorted(codes)
    again = run_cli("init", "--db", on_cluster.settings.database_url, "--partition-events", "32", env=_env(on_cluster))
    assert again.returncode == 2 and "already partitioned by 16 positions" in again.stderr

    made = run_cli("partitions", "create", "--ahead", "5", "--db", on_cluster.settings.database_url)
    assert made.returncode == 0, made.stderr
    assert "created events_000003, events_000004, events_000005" in made.stdout
    layout = _layout(on_cluster)
    assert layout["events_000005"] == f"h:cylinder:{anchor}"
    listed = run_cli("partitions", "list", "--db", on_cluster.settings.database_url)
    assert listed.returncode == 0, listed.stderr
    assert "events_000000\t0..15\t3 events" in listed.stdout and "events_000005\t80..95\t0 events" in listed.stdout


def test_the_cluster_refuses_duplicates_and_changes_across_blocks(ledger):
    town = build_town(ledger)
    a, b = register(ledger, town, 2)
    _grow(ledger, town, [a, b], 20)  # positions 0..21: two blocks
    with ledger.db.reading() as c:
        first = c.exec_driver_sql(f"SELECT {event_rows.COLUMNS} FROM events WHERE cylinder = %s AND seq = 0",
                                  (a,)).one()
        assert c.exec_driver_sql("SELECT COUNT(*) FROM events_000001").scalar() == 6
    insert = f"INSERT INTO events ({event_rows.COLUMNS}) VALUES ({', '.join(['%s'] * 14)})"
    # a second event 0 of cylinder a, at a position in another block: (cylinder, seq) stays unique
    with pytest.raises(sa.exc.DatabaseError, match="uq_events_cylinder_seq"):
        with ledger.db.writing() as c:
            c.exec_driver_sql(insert, (40, *first[1:11], str(uuid.uuid4()), *first[12:]))
    # a new seq under the idempotency key of an event in block 0
    with pytest.raises(sa.exc.DatabaseError, match="uq_events_idempotency_key"):
        with ledger.db.writing() as c:
            c.exec_driver_sql(insert, (40, first[1], 99, *first[3:]))
    for statement in (f"DELETE FROM events WHERE cylinder = '{a}' AND id = 20",
                      f"UPDATE events SET kind = 'scrap' WHERE cylinder = '{a}'",
                      "TRUNCATE events_000001", "TRUNCATE events", "DELETE FROM event_keys",
                      "UPDATE event_partitioning SET width = 32"):
        with pytest.raises(sa.exc.DatabaseError, match="append-only"):
            with ledger.db.writing() as c:
                c.exec_driver_sql(statement)
    # A pending event may leave its partition only for its position: a plain DELETE fails at commit.
    with ledger.db.writing() as c:
        (pending,) = event_rows.append(c, [event_rows.prepare(fill(a, town, NOW + timedelta(days=2)))], LATER,
                                       later=True)
    assert pending.id < 0
    # The shard's deferred check refuses its commit; the coordinator reports that the shard did not commit.
    with pytest.raises(sa.exc.DatabaseError, match="append-only: DELETE refused|could not commit transaction for shard"):
        with ledger.db.writing() as c:
            c.exec_driver_sql(f"DELETE FROM events WHERE cylinder = '{a}' AND id = {pending.id}")
    with ledger.db.reading() as c:
        assert c.exec_driver_sql(f"SELECT COUNT(*) FROM {partitions.UNSEQUENCED}").scalar() == 1
    assert sequencer.run(ledger.db) == {pending.id: 22}
    with ledger.db.reading() as c:
        assert [r[0] for r in c.exec_driver_sql("SELECT id FROM events ORDER BY id")] == list(range(23))
        assert c.exec_driver_sql(f"SELECT COUNT(*) FROM {partitions.UNSEQUENCED}").scalar() == 0
        assert c.exec_driver_sql("SELECT id FROM events_000001 WHERE cylinder = %s AND seq = %s",
                                 (a, pending.seq)).scalar() == 22
        assert c.exec_driver_sql("SELECT COUNT(*) FROM event_keys").scalar() == 23
    assert _breaks(ledger) == []


def test_what_concerns_one_cylinder_stays_on_one_shard(ledger):
    town = build_town(ledger)
    codes = register(ledger, town, 6)
    target = codes[3]
    _grow(ledger, town, [target], 14)  # positions 0..19: the chain spans two blocks
    ledger.checkpoint()

    seen, listener = _record_statements(ledger)
    try:
        with ledger.db.writing() as c:
            outcome = ledger.record(c, town.at_station, fill(target, town, NOW + timedelta(days=1)),
                                    now=NOW + timedelta(days=1, hours=1))
        appending = list(seen)
        seen.clear()
        with ledger.db.reading() as c:
            ledger.trace(c, target)
            ledger.event(c, outcome.event.log_index)
            ledger.history(c, target)
        reading = list(seen)
        seen.clear()
        with ledger.db.writing() as c:
            (pending,) = ledger.record_batch(c, town.at_station, [fill(target, town, NOW + timedelta(days=2))],
                                             NOW + timedelta(days=2, hours=1), defer_review=True,
                                             sequence_after_commit=True)
        ingesting = list(seen)
        seen.clear()
        moved = sequencer.run(ledger.db, [pending.event.id])  # the move from events_unsequenced to its block
        sequencing = list(seen)
    finally:
        sa.event.remove(ledger.db.writer, "before_cursor_execute", listener)

    assert moved == {pending.event.id: outcome.event.log_index + 1}
    with ledger.db.reading() as c:
        assert c.exec_driver_sql("SELECT seq FROM events_000001 WHERE cylinder = %s AND id = %s",
                                 (target, moved[pending.event.id])).scalar() == pending.event.seq
    for name, statements in (("append", appending), ("trace, proof lookup, history", reading),
                             ("ingest append", ingesting), ("sequencing", sequencing)):
        plans = _plans(ledger, statements)
        assert plans, f"{name}: no statement reached a distributed table"
        fanned_out = [(sql, tasks) for sql, tasks, subplan in plans if subplan or any(n != 1 for n in tasks)]
        assert fanned_out == [], f"{name} sent multi-shard statements: {fanned_out}"


def test_an_archived_block_on_the_cluster_leaves_proofs_appends_and_verify_working(ledger, tmp_path):
    town = build_town(ledger)
    a, b, c, dormant = register(ledger, town, 4)
    _grow(ledger, town, [a, b, c], 37)  # positions 0..40; the dormant cylinder's chain lies in block 0
    ledger.checkpoint()
    with ledger.db.reading() as conn:
        old = ledger.tree(conn).get_size()
        old_root = ledger.tree(conn).get_root(old)
    with pytest.raises(InvalidInput, match="still being filled"):
        archive(ledger.db, ledger.verifier, "events_000002", tmp_path)
    archived = run_cli("partitions", "archive", "events_000000", "--to", str(tmp_path), "--db",
                       ledger.settings.database_url, env=_env(ledger))
    assert archived.returncode == 0, archived.stderr
    assert "archived positions 0..15 (16 events" in archived.stdout
    file = tmp_path / "events_000000.jsonl.gz"
    assert _blocks(ledger)[0] == ("events_000000", 0, 16, True)
    assert "events_000000" not in _layout(ledger)
    with ledger.db.reading() as conn:
        assert conn.exec_driver_sql("SELECT COUNT(*) FROM events WHERE id < 16").scalar() == 0
        assert conn.exec_driver_sql("SELECT to_regclass('events_000000')").scalar() is None
        assert conn.exec_driver_sql("SELECT COUNT(*) FROM log_index").scalar() == old  # the keys stay claimed

    # a retried key of an archived event is told so, and nothing is written
    with ledger.db.reading() as conn:
        key = conn.exec_driver_sql("SELECT idempotency_key FROM event_keys WHERE cylinder = %s AND seq = 1",
                                   (a,)).scalar()
    with ledger.db.writing() as conn:
        (late,) = ledger.record_batch(conn, town.at_station, [dataclasses.replace(
            fill(a, town, NOW + timedelta(hours=1)), idempotency_key=key)], now=LATER)
    assert late.status == "rejected" and late.error.code == "idempotency-conflict"

    # the dormant chain's next event links to the head kept of it, through the ingest path and its sequencing
    with ledger.db.writing() as conn:
        batch = ledger.record_batch(conn, town.at_station, [fill(dormant, town, NOW + timedelta(hours=50)),
                                                           fill(a, town, NOW + timedelta(hours=51))],
                                    LATER, sequence_after_commit=True)
    assert [o.status for o in batch] == ["created", "created"]
    sequencer.run(ledger.db)
    checkpoint = ledger.checkpoint()
    assert checkpoint.size == old + 2
    with ledger.db.reading() as conn:
        chain = ledger.history(conn, dormant)
        assert [e.seq for e in chain] == [1]
        kept = conn.exec_driver_sql("SELECT hash FROM event_archive_heads WHERE cylinder = %s", (dormant,)).scalar()
        assert chain[0].prev_hash == bytes(kept)
        event = chain[0]
        proof = ledger.inclusion(conn, event.id, checkpoint.size)
        verify_inclusion(leaf_hash(event.hash), event.log_index, checkpoint.size,
                         [bytes.fromhex(n) for n in proof["audit_path"]], checkpoint.root)
        consistency = ledger.consistency(conn, old, checkpoint.size)
        verify_consistency(old, checkpoint.size, old_root, checkpoint.root,
                           [bytes.fromhex(n) for n in consistency["proof"]])
        with pytest.raises(Archived, match="event 3 was archived"):
            ledger.inclusion(conn, 3)
    with pytest.raises(Archived, match=f"of {a} were archived"):
        ledger.bundle(a)
    (fresh,) = register(ledger, town, 1, at=NOW + timedelta(days=3))
    ledger.checkpoint()
    assert verify_bundle(ledger.bundle(fresh), ledger.verifier).events == 1
    assert _breaks(ledger) == []
    assert verify_archive(ledger.db, ledger.verifier, file).events == 16
    checked = run_cli("verify", "--db", ledger.settings.database_url, "--archive", str(file), env=_env(ledger))
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "positions 0..15: file checked" in checked.stdout
