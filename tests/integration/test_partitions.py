"""Events partitioned by log position, and old blocks archived (docs/scale.md, "Partitioning and archival").

On a real PostgreSQL server, in blocks of 16 positions: the database still refuses every change to
history and every duplicate across blocks; once a block is archived, proofs, new checkpoints, appends
to a chain whose events all left, ``ledger verify`` and the archive file itself still check, bundles
that would need archived events say so, and an archive command that is unsafe changes nothing.
"""

from __future__ import annotations

import dataclasses
import gzip
import json
import uuid
from datetime import date, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from ledger.archival import archive, verify_archive
from ledger.bundle import verify_bundle
from ledger.errors import Archived, CheckpointMismatch, Conflict, IdempotencyConflict, InvalidInput, ProofInvalid
from ledger.proofs import leaf_hash, verify_consistency, verify_inclusion
from ledger.service import Ledger, Registration
from ledger.storage import events as event_rows
from ledger.storage import partitions
from ledger import verify as verify_module
from ledger.verify import audit
from tests.conftest import ADMIN, BACKENDS, NOW, build_town, create_postgres_database, drop_postgres_database, fill, \
    migrated_ledger, partition_events, register
from tests.integration.test_bundle_and_cli import run_cli

pytestmark = pytest.mark.skipif("postgresql" not in BACKENDS, reason="partitioning is PostgreSQL's (its own run)")

WIDTH = 16
LATER = NOW + timedelta(days=1)


def _ledger(tmp_path: Path, width: int | None) -> Ledger:
    ledger = migrated_ledger(create_postgres_database(), tmp_path)
    if width is not None:
        partition_events(ledger.db, width, ahead=3)
    return ledger


@pytest.fixture
def ledger(tmp_path: Path):
    instance = _ledger(tmp_path, WIDTH)
    try:
        yield instance
    finally:
        instance.db.dispose()
        drop_postgres_database(instance.settings.database_url)


def _env(ledger: Ledger) -> dict[str, str]:
    return {"LEDGER_KEY_FILE": str(ledger.settings.key_file), "LEDGER_LOG_ORIGIN": ledger.settings.log_origin}


def _breaks(ledger: Ledger) -> list:
    with ledger.db.reading() as c:
        return list(audit(c, ledger.verifier))


def _grow(ledger: Ledger, town, cylinders: list[str], count: int, start: int = 1) -> None:
    with ledger.db.writing() as c:
        done = ledger.record_batch(c, town.at_station, [fill(cylinders[n % len(cylinders)], town,
                                                             NOW + timedelta(hours=start + n)) for n in range(count)],
                                   now=LATER)
    assert [o.status for o in done] == ["created"] * count, [getattr(o, "error", o) for o in done]


def _blocks(ledger: Ledger) -> list[tuple]:
    with ledger.db.reading() as c:
        return [(b.name, b.first, b.rows, b.archive is not None) for b in partitions.blocks(c)]


def test_the_partitioned_table_refuses_duplicates_and_changes_across_blocks(ledger):
    town = build_town(ledger)
    a, b = register(ledger, town, 2)
    _grow(ledger, town, [a, b], 20)  # positions 0..21: two blocks
    with ledger.db.reading() as c:
        first = c.exec_driver_sql("SELECT * FROM events WHERE id = 0").one()
        assert c.exec_driver_sql("SELECT tableoid::regclass::text FROM events WHERE id = 21").scalar() == "events_000001"
    columns = "id, cylinder, seq, kind, occurred_at, recorded_at, party, person, to_ref, location, data, " \
              "idempotency_key, prev_hash, hash"
    insert = f"INSERT INTO events ({columns}) VALUES ({', '.join(['%s'] * 14)})"
    # a second event 0 of cylinder a, at a position in another block: (cylinder, seq) stays unique ledger-wide
    with pytest.raises(sa.exc.IntegrityError, match="uq_events_cylinder_seq"):
        with ledger.db.writing() as c:
            c.exec_driver_sql(insert, (40, *first[1:11], str(uuid.uuid4()), *first[12:]))
    # a new seq under an idempotency key already used in block 0
    with pytest.raises(sa.exc.IntegrityError, match="uq_events_idempotency_key"):
        with ledger.db.writing() as c:
            c.exec_driver_sql(insert, (40, first[1], 99, *first[3:]))
    for statement in ("DELETE FROM events WHERE id = 21", "UPDATE events SET kind = 'scrap' WHERE id = 3",
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
    with pytest.raises(sa.exc.DatabaseError, match="append-only: DELETE refused"):
        with ledger.db.writing() as c:
            c.exec_driver_sql(f"DELETE FROM events WHERE id = {pending.id}")
    with ledger.db.writing() as c:
        moved = event_rows.sequence(c)
    assert moved == {pending.id: 22}
    with ledger.db.reading() as c:
        assert [row[0] for row in c.exec_driver_sql("SELECT id FROM events ORDER BY id")] == list(range(23))
        assert c.exec_driver_sql("SELECT COUNT(*) FROM event_keys").scalar() == 23
    assert _breaks(ledger) == []


def _archived_city(ledger: Ledger):
    """Four cylinders registered at positions 0..3, then fills of three of them up to position 40; the
    fourth's whole chain lies in block 0."""
    town = build_town(ledger)
    a, b, c, dormant = register(ledger, town, 4)
    _grow(ledger, town, [a, b, c], 37)
    ledger.checkpoint()
    return town, (a, b, c, dormant)


def test_an_archived_block_leaves_proofs_checkpoints_appends_and_verify_working(ledger, tmp_path):
    town, (a, b, c, dormant) = _archived_city(ledger)
    with ledger.db.reading() as conn:
        old = ledger.tree(conn).get_size()
        old_root = ledger.tree(conn).get_root(old)
    archived = run_cli("partitions", "archive", "events_000000", "--to", str(tmp_path), "--db",
                       ledger.settings.database_url, env=_env(ledger))
    assert archived.returncode == 0, archived.stderr
    assert "archived positions 0..15 (16 events" in archived.stdout
    file = tmp_path / "events_000000.jsonl.gz"
    assert file.exists()
    assert _blocks(ledger)[0] == ("events_000000", 0, 16, True)
    with ledger.db.reading() as conn:
        assert conn.exec_driver_sql("SELECT COUNT(*) FROM events WHERE id < 16").scalar() == 0
        assert conn.exec_driver_sql("SELECT to_regclass('events_000000')").scalar() is None
    # an archived event cannot come back at another position, not even as its exact copy
    _, rows = partitions.read_archive(file)
    copy = next(row for row in rows if row[1] == dormant)
    with pytest.raises(sa.exc.IntegrityError, match="duplicate key value violates unique constraint"):
        with ledger.db.writing() as conn:
            conn.exec_driver_sql(f"INSERT INTO events VALUES ({', '.join(['%s'] * 14)})", (45, *copy[1:]))

    # a client retrying, long after, the key of an event that left with its block is told so; nothing is written
    with ledger.db.reading() as conn:
        fill_key, register_key = (conn.exec_driver_sql(
            f"SELECT idempotency_key FROM event_keys WHERE cylinder = '{a}' AND seq = {seq}").scalar() for seq in (1, 0))
    with ledger.db.writing() as conn:
        (late,) = ledger.record_batch(conn, town.at_station, [dataclasses.replace(
            fill(a, town, NOW + timedelta(hours=1)), idempotency_key=fill_key)], now=LATER)
    assert late.status == "rejected" and late.error.code == "idempotency-conflict"
    assert "has since archived" in str(late.error)
    with ledger.db.reading() as conn:
        assert conn.exec_driver_sql("SELECT COUNT(*) FROM event_keys").scalar() == old
    with pytest.raises(IdempotencyConflict, match="has since archived"):
        with ledger.db.writing() as conn:
            ledger.register(conn, ADMIN, Registration(
                town.company, "SN-retried", "Zhejiang Steel", date(2022, 3, 1), "YSP-15", 15.2, 8, date(2024, 3, 1),
                date(2028, 3, 1), occurred_at=NOW, idempotency_key=register_key), now=LATER)
    with ledger.db.reading() as conn:
        assert conn.exec_driver_sql("SELECT COUNT(*) FROM event_keys").scalar() == old

    # the dormant cylinder's chain left whole: its next event links to the head kept of it
    _grow(ledger, town, [dormant, a], 10, start=38)
    checkpoint = ledger.checkpoint()
    assert checkpoint.size == old + 10
    with ledger.db.reading() as conn:
        chain = ledger.history(conn, dormant)
        assert [e.seq for e in chain] == [1, 2, 3, 4, 5]
        kept = conn.exec_driver_sql(f"SELECT hash FROM event_archive_heads WHERE cylinder = '{dormant}'").scalar()
        assert chain[0].prev_hash == bytes(kept)
        # inclusion of an event after the archived block, and consistency from the older checkpoint
        event = chain[-1]
        proof = ledger.inclusion(conn, event.id, checkpoint.size)
        verify_inclusion(leaf_hash(event.hash), event.log_index, checkpoint.size,
                         [bytes.fromhex(n) for n in proof["audit_path"]], checkpoint.root)
        consistency = ledger.consistency(conn, old, checkpoint.size)
        verify_consistency(old, checkpoint.size, old_root, checkpoint.root,
                           [bytes.fromhex(n) for n in consistency["proof"]])
        # what needs a node inside the archived block says so
        with pytest.raises(Archived, match="log positions 0 to 15 are archived"):
            ledger.consistency(conn, 7, checkpoint.size)
        with pytest.raises(Archived, match="event 3 was archived"):
            ledger.inclusion(conn, 3)
    # a bundle of a cylinder whose register event left is refused with the reason; the others' bundles verify
    with pytest.raises(Archived, match=f"the first 5 event\\(s\\) of {a} were archived"):
        ledger.bundle(a)
    (fresh,) = register(ledger, town, 1, at=NOW + timedelta(days=3))
    ledger.checkpoint()
    assert verify_bundle(ledger.bundle(fresh), ledger.verifier).events == 1
    assert _breaks(ledger) == []
    with ledger.db.reading() as conn:  # a parallel audit's range may begin inside the archived block
        assert list(verify_module._events(conn, None, 5, 30)) == []

    url = ledger.settings.database_url
    plain = run_cli("verify", "--db", url, env=_env(ledger))
    assert plain.returncode == 0, plain.stdout + plain.stderr
    assert f"intact: {checkpoint.size + 1 - 16} events checked, 0 breaks" in plain.stdout
    assert "archived: 16 events in 1 block(s)" in plain.stdout and "not checked (give --archive" in plain.stdout
    assert verify_archive(ledger.db, ledger.verifier, file).events == 16

    # a changed archive file is named; the true one is checked beside it
    forged = tmp_path / "forged" / file.name
    forged.parent.mkdir()
    with gzip.open(file, "rb") as original:
        lines = original.read().splitlines()
    row = json.loads(lines[5])
    row[10] = row[10].replace("14.5", "4.5")
    lines[5] = json.dumps(row).encode()
    with gzip.open(forged, "wb") as out:
        out.write(b"\n".join(lines) + b"\n")
    with pytest.raises(ProofInvalid, match="SHA-256 differs"):
        verify_archive(ledger.db, ledger.verifier, forged)
    both = run_cli("verify", "--db", url, "--archive", str(file), "--archive", str(forged), env=_env(ledger))
    assert both.returncode == 1 and f"BROKEN archive: {forged}" in both.stdout
    assert "positions 0..15: file checked" in both.stdout


def test_unsafe_archive_commands_are_refused_and_change_nothing(ledger, tmp_path):
    town = build_town(ledger)
    a, b = register(ledger, town, 2)
    _grow(ledger, town, [a, b], 18)  # positions 0..19; no checkpoint yet
    before = _blocks(ledger)
    out = tmp_path / "out"
    out.mkdir()

    def refused(which: str, error: type, message: str, folder: Path = out) -> None:
        with pytest.raises(error, match=message):
            archive(ledger.db, ledger.verifier, which, folder)
        assert _blocks(ledger) == before and list(out.iterdir()) == []

    refused("events_000000", InvalidInput, "no signed checkpoint covers events_000000")
    ledger.checkpoint()
    refused("events_000001", InvalidInput, "still being filled: it holds 4 of 16")
    refused(partitions.UNSEQUENCED, InvalidInput, "waiting for their log position")
    refused("events_000042", InvalidInput, "no partition 'events_000042'")
    refused("0", InvalidInput, "is not a directory", out / "missing")
    # a log that no longer reproduces its checkpoint is not archived
    with ledger.db.writing() as c:
        c.exec_driver_sql("ALTER TABLE events DISABLE TRIGGER USER")
        c.exec_driver_sql("UPDATE events SET hash = decode(repeat('00', 32), 'hex') WHERE id = 4")
        c.exec_driver_sql("ALTER TABLE events ENABLE TRIGGER USER")
    refused("0", CheckpointMismatch, "no longer reproduces its signed checkpoint at size 20")

    cli = run_cli("partitions", "archive", "events_000001", "--to", str(out), "--db",
                  ledger.settings.database_url, env=_env(ledger))
    assert cli.returncode == 2 and "still being filled" in cli.stderr
    assert _blocks(ledger) == before and list(out.iterdir()) == []
    empty = create_postgres_database()  # a width that is no power of two: refused before the schema is made
    try:
        init = run_cli("init", "--db", empty, "--partition-events", "100", env=_env(ledger))
        assert init.returncode == 2 and "must be a power of two" in init.stderr
        engine = sa.create_engine(empty.replace("postgresql://", "postgresql+psycopg://"))
        with engine.connect() as c:
            assert c.exec_driver_sql("SELECT to_regclass('events')").scalar() is None
        engine.dispose()
    finally:
        drop_postgres_database(empty)


def test_an_archive_is_refused_twice_and_on_an_unpartitioned_ledger(ledger, tmp_path):
    town = build_town(ledger)
    (a,) = register(ledger, town, 1)
    _grow(ledger, town, [a], 15)  # positions 0..15: block 0 is full and holds the log's newest event
    ledger.checkpoint()
    with pytest.raises(InvalidInput, match="holds the log's newest event \\(position 15\\)"):
        archive(ledger.db, ledger.verifier, "events_000000", tmp_path)
    assert not list(tmp_path.glob("*.jsonl.gz"))
    _grow(ledger, town, [a], 1, start=20)
    ledger.checkpoint()
    archive(ledger.db, ledger.verifier, "events_000000", tmp_path)
    _grow(ledger, town, [a], 1, start=21)  # the next position follows the log, not the events left in the table
    with ledger.db.reading() as c:
        assert c.exec_driver_sql("SELECT MAX(id) FROM events").scalar() == 17
    with pytest.raises(Conflict, match="was archived at"):
        archive(ledger.db, ledger.verifier, "0", tmp_path)
    plain = _ledger(tmp_path / "plain", None) if (tmp_path / "plain").mkdir() is None else None
    try:
        with pytest.raises(InvalidInput, match="not partitioned"):
            archive(plain.db, plain.verifier, "0", tmp_path)
    finally:
        plain.db.dispose()
        drop_postgres_database(plain.settings.database_url)
    with ledger.db.writing() as c:  # blocks 0..3 were made with the layout; 1 is being filled
        assert partitions.create_ahead(c, 5) == ["events_000004", "events_000005", "events_000006"]
    with ledger.db.writing() as c:
        assert partitions.create_ahead(c, 5) == []
    listed = run_cli("partitions", "list", "--db", ledger.settings.database_url)
    assert listed.returncode == 0
    assert "events_000000\t0..15\t16 events" in listed.stdout and "archived" in listed.stdout
    assert "events_000001\t16..31\t2 events" in listed.stdout and "events_000006\t96..111\t0 events" in listed.stdout
