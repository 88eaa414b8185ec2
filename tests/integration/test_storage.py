"""The storage suite: runs on SQLite and on PostgreSQL (the ``ledger`` fixture)."""

from __future__ import annotations

import threading
import uuid
from datetime import timedelta

import pytest
import sqlalchemy as sa

from ledger.domain import EventKind, NewEvent
from ledger.errors import IdempotencyConflict, InvalidInput, NotFound, PermissionDenied
from ledger.log import SubrootCache, LogTree
from ledger.storage import citus
from ledger.storage.events import Prepared
from ledger.verify import audit
from tests.conftest import NOW, build_town, fill, register
from tests.integration.test_supervision import event


def breaks(ledger):
    with ledger.db.reading() as c:
        return list(audit(c, ledger.verifier))


def test_appends_link_each_chain_and_fill_the_log_contiguously(ledger):
    town = build_town(ledger)
    a, b = register(ledger, town, 2)
    with ledger.db.writing() as c:
        out = ledger.record_batch(c, town.at_station, [fill(a, town, NOW + timedelta(hours=h)) for h in range(1, 4)]
                                  + [fill(b, town, NOW + timedelta(hours=1))], now=NOW + timedelta(hours=5))
    assert [o.status for o in out] == ["created"] * 4
    with ledger.db.reading() as c:
        chain = ledger.history(c, a)
    assert [e.seq for e in chain] == [0, 1, 2, 3]
    assert chain[0].kind is EventKind.REGISTER and chain[0].prev_hash is None
    for earlier, later in zip(chain, chain[1:]):
        assert later.prev_hash == earlier.hash
    with ledger.db.reading() as c:
        ids = [row[0] for row in c.exec_driver_sql("SELECT id FROM events ORDER BY id")]
    assert ids == list(range(6))
    assert breaks(ledger) == []


@pytest.mark.parametrize("statement", [
    "UPDATE events SET kind = 'scrap' WHERE id = 0",
    "DELETE FROM events WHERE id = 0",
    "UPDATE checkpoints SET size = 99",
    "DELETE FROM checkpoints",
])
def test_the_database_refuses_to_change_history(ledger, statement):
    town = build_town(ledger)
    register(ledger, town)
    ledger.checkpoint()
    with pytest.raises(sa.exc.DatabaseError, match="append-only"):
        with ledger.db.writing() as c:
            c.exec_driver_sql(statement)
    assert breaks(ledger) == []


def drop_triggers(ledger):
    with ledger.db.writing() as c:
        if ledger.db.is_sqlite:
            for (name,) in c.exec_driver_sql("SELECT name FROM sqlite_master WHERE type = 'trigger'").fetchall():
                c.exec_driver_sql(f"DROP TRIGGER {name}")
        else:
            if citus.distributed(c):  # Citus alters a distributed table's triggers only when told to
                c.exec_driver_sql("SET LOCAL citus.enable_unsafe_triggers = on")
            for table in ("events", "checkpoints"):
                c.exec_driver_sql(f"ALTER TABLE {table} DISABLE TRIGGER USER")


def test_a_changed_byte_is_found_and_named(ledger):
    town = build_town(ledger)
    a, b = register(ledger, town, 2)
    with ledger.db.writing() as c:
        ledger.record_batch(c, town.at_station, [fill(a, town, NOW + timedelta(hours=1), 14.5)], now=NOW + timedelta(hours=2))
    drop_triggers(ledger)
    with ledger.db.writing() as c:
        c.exec_driver_sql("UPDATE events SET data = replace(data, '14.5', '14.4') WHERE cylinder = %s AND seq = 1"
                          .replace("%s", f"'{a}'"))
    found = breaks(ledger)
    assert [(f.kind, f.cylinder, f.seq) for f in found] == [("chain_tampered", a, 1)]


def test_a_deleted_event_is_a_sequence_gap_and_a_log_gap(ledger):
    town = build_town(ledger)
    (a,) = register(ledger, town)
    with ledger.db.writing() as c:
        ledger.record_batch(c, town.at_station, [fill(a, town, NOW + timedelta(hours=h)) for h in (1, 2, 3)], now=NOW + timedelta(hours=4))
    drop_triggers(ledger)
    with ledger.db.writing() as c:
        c.exec_driver_sql(f"DELETE FROM events WHERE cylinder = '{a}' AND seq = 2")
    kinds = {(f.kind, f.cylinder, f.seq) for f in breaks(ledger)}
    assert ("sequence_gap", a, 3) in kinds
    assert ("log_gap", a, 3) in kinds


def test_a_rewritten_history_disagrees_with_the_signed_checkpoint(ledger):
    """Someone rewrites an event *and* its hash consistently: only the checkpoint can tell."""
    town = build_town(ledger)
    (a,) = register(ledger, town)
    ledger.checkpoint()
    drop_triggers(ledger)
    from ledger.canonical import event_bytes, event_hash
    with ledger.db.writing() as c:
        row = c.exec_driver_sql("SELECT cylinder, seq, kind, occurred_at, recorded_at, party, person, to_ref, "
                                "location, data, idempotency_key FROM events WHERE id = 0").one()
        forged_data = row.data.replace('"YSP-15"', '"YSP-50"')
        digest = event_hash(event_bytes(cylinder=row.cylinder, seq=row.seq, kind=row.kind, occurred_at=row.occurred_at,
                                        recorded_at=row.recorded_at, party=row.party, person=row.person, to=row.to_ref,
                                        location_json=row.location, data_json=forged_data,
                                        idempotency_key=row.idempotency_key, prev_hash_hex=None))
        c.execute(sa.text("UPDATE events SET data = :d, hash = :h WHERE id = 0"), {"d": forged_data, "h": digest})
    assert [f.kind for f in breaks(ledger)] == ["checkpoint_mismatch"]


def test_a_forged_checkpoint_signature_is_found(ledger):
    town = build_town(ledger)
    register(ledger, town)
    ledger.checkpoint()
    drop_triggers(ledger)
    with ledger.db.writing() as c:
        c.exec_driver_sql("UPDATE checkpoints SET note = replace(note, 'test.cylinder-ledger/log\n1', 'test.cylinder-ledger/log\n2')")
    assert [f.kind for f in breaks(ledger)] == ["checkpoint_mismatch"]


def test_retries_are_recorded_once_and_reused_keys_conflict(ledger):
    town = build_town(ledger)
    (a,) = register(ledger, town)
    first = fill(a, town, NOW + timedelta(hours=1), key="key-0001")
    with ledger.db.writing() as c:
        created = ledger.record(c, town.at_station, first, now=NOW + timedelta(hours=2))
    with ledger.db.writing() as c:
        again = ledger.record(c, town.at_station, first, now=NOW + timedelta(hours=3))
    assert created.status == "created" and again.status == "duplicate" and again.event.hash == created.event.hash
    with pytest.raises(IdempotencyConflict):
        with ledger.db.writing() as c:
            ledger.record(c, town.at_station, fill(a, town, NOW + timedelta(hours=1), 14.0, key="key-0001"), now=NOW + timedelta(hours=3))
    with ledger.db.reading() as c:
        assert len(ledger.history(c, a)) == 2


def test_a_batch_records_each_valid_item_once_and_reports_each_bad_one(ledger):
    town = build_town(ledger)
    (a,) = register(ledger, town)
    same = fill(a, town, NOW + timedelta(hours=1), key="batch-dup-1")
    items = [
        same,
        same,  # repeated inside the batch: one event
        fill("ZZZZZZZZZZZ", town, NOW + timedelta(hours=1)),  # unregistered code
        fill(a, town, NOW + timedelta(hours=1), 13.0, key="batch-dup-1"),  # same key, other content
        NewEvent(a, EventKind.FILL, NOW + timedelta(days=400), town.station, str(uuid.uuid4())),  # far future
        fill(a, town, NOW + timedelta(hours=2)),
    ]
    with ledger.db.writing() as c:
        out = ledger.record_batch(c, town.at_station, items, now=NOW + timedelta(hours=3))
    assert [o.status for o in out] == ["created", "duplicate", "rejected", "rejected", "rejected", "created"]
    assert isinstance(out[2].error, NotFound) and isinstance(out[3].error, IdempotencyConflict)
    assert out[1].event.id == out[0].event.id
    with ledger.db.reading() as c:
        assert [e.seq for e in ledger.history(c, a)] == [0, 1, 2]
    assert breaks(ledger) == []


def test_admitted_items_are_recorded_as_the_events_they_were_made_from(ledger):
    town = build_town(ledger)
    (a,) = register(ledger, town)
    station = town.at_station
    now = NOW + timedelta(hours=2)
    fill = event(a, EventKind.FILL, town.station, NOW + timedelta(hours=1), data={"net_kg": 14.5})
    foreign = event(a, EventKind.RECEIVE, town.shop, NOW + timedelta(hours=1))  # not the station's to record
    future = event(a, EventKind.FILL, town.station, NOW + timedelta(days=400), data={"net_kg": 14.5})
    with ledger.db.reading() as c:
        admitted = ledger.admit(c, station, [fill, foreign, future], now)
    assert isinstance(admitted[0], Prepared) and admitted[0].event == fill
    assert isinstance(admitted[1], PermissionDenied) and isinstance(admitted[2], InvalidInput)
    with ledger.db.writing() as c:
        outcomes = ledger.record_batch(c, station, [*admitted, fill], now)
    assert [o.status for o in outcomes] == ["created", "rejected", "rejected", "duplicate"]
    assert outcomes[3].event == outcomes[0].event
    assert outcomes[0].event.data == {"net_kg": 14.5} and outcomes[0].event.seq == 1


def test_concurrent_writers_never_fork_a_chain_nor_lose_an_event(ledger):
    town = build_town(ledger)
    codes = register(ledger, town, 4)
    writers, per_writer = 8, 25
    errors: list[BaseException] = []
    start = threading.Barrier(writers)

    def write(worker: int) -> None:
        try:
            start.wait()
            for n in range(per_writer):
                cylinder = codes[(worker + n) % len(codes)]
                with ledger.db.writing() as c:
                    ledger.record(c, town.at_station, fill(cylinder, town, NOW + timedelta(minutes=n)), now=NOW + timedelta(hours=1))
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(w,)) for w in range(writers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    with ledger.db.reading() as c:
        total = c.exec_driver_sql("SELECT COUNT(*) FROM events").scalar_one()
        lengths = [len(ledger.history(c, code)) for code in codes]
    assert total == len(codes) + writers * per_writer
    assert sum(lengths) == total
    assert breaks(ledger) == []


def test_a_rolled_back_append_leaves_no_wrong_root_behind(ledger):
    town = build_town(ledger)
    (a,) = register(ledger, town)
    with ledger.db.writing() as c:
        ledger.record_batch(c, town.at_station, [fill(a, town, NOW + timedelta(minutes=m)) for m in range(300)], now=NOW + timedelta(hours=9))
    ledger.checkpoint()

    class Abort(Exception):
        pass

    with pytest.raises(Abort):
        with ledger.db.writing() as c:
            ledger.record_batch(c, town.at_station, [fill(a, town, NOW + timedelta(hours=1, minutes=m), 14.0) for m in range(300)],
                                now=NOW + timedelta(hours=9))
            ledger.tree(c).get_root()  # computes, and may cache, roots over uncommitted leaves
            raise Abort

    with ledger.db.writing() as c:
        ledger.record_batch(c, town.at_station, [fill(a, town, NOW + timedelta(hours=2, minutes=m), 14.2) for m in range(300)],
                            now=NOW + timedelta(hours=9))
    checkpoint = ledger.checkpoint()
    with ledger.db.reading() as c:
        fresh = LogTree(c, SubrootCache()).get_root(checkpoint.size)
    assert checkpoint.root == fresh
    assert breaks(ledger) == []


def test_without_the_guard_a_rollback_would_poison_the_cache(ledger):
    """The control experiment for the test above: an unguarded cache keeps the stale roots."""
    town = build_town(ledger)
    (a,) = register(ledger, town)
    ledger.cache.settle(10**9)  # pretend every range is committed: pymerkle's default behaviour
    with pytest.raises(RuntimeError):
        with ledger.db.writing() as c:
            ledger.record_batch(c, town.at_station, [fill(a, town, NOW + timedelta(minutes=m), 14.0) for m in range(300)],
                                now=NOW + timedelta(hours=9))
            ledger.tree(c).get_root()
            raise RuntimeError
    with ledger.db.writing() as c:
        ledger.record_batch(c, town.at_station, [fill(a, town, NOW + timedelta(minutes=m), 14.2) for m in range(300)],
                            now=NOW + timedelta(hours=9))
    with ledger.db.reading() as c:
        poisoned = ledger.tree(c).get_root()
        fresh = LogTree(c, SubrootCache()).get_root()
    assert poisoned != fresh


def test_proofs_hold_between_every_pair_of_signed_checkpoints(ledger):
    from ledger.proofs import leaf_hash, verify_consistency, verify_inclusion
    from ledger.signednote import open_checkpoint

    town = build_town(ledger)
    codes = register(ledger, town, 3)
    signed = [ledger.checkpoint()]
    for round_ in range(4):
        with ledger.db.writing() as c:
            ledger.record_batch(c, town.at_station, [fill(x, town, NOW + timedelta(hours=round_ + 1)) for x in codes] * (round_ + 1),
                                now=NOW + timedelta(hours=9))
        signed.append(ledger.checkpoint())
    checkpoints = [open_checkpoint(ledger.verifier, cp.note) for cp in signed]
    with ledger.db.reading() as c:
        for old in checkpoints:
            for new in checkpoints:
                if old.size <= new.size:
                    proof = ledger.consistency(c, old.size, new.size)
                    verify_consistency(old.size, new.size, old.root, new.root, [bytes.fromhex(h) for h in proof["proof"]])
        for event_id in range(checkpoints[-1].size):
            for checkpoint in checkpoints:
                if event_id < checkpoint.size:
                    proof = ledger.inclusion(c, event_id, checkpoint.size)
                    assert proof["leaf_hash"] == leaf_hash(bytes.fromhex(proof["entry_hash"])).hex()
                    verify_inclusion(bytes.fromhex(proof["leaf_hash"]), event_id, checkpoint.size,
                                     [bytes.fromhex(h) for h in proof["audit_path"]], checkpoint.root)


def test_the_log_refuses_to_sign_a_checkpoint_inconsistent_with_the_last(ledger):
    from ledger.errors import CheckpointMismatch

    town = build_town(ledger)
    (a,) = register(ledger, town)
    first = ledger.checkpoint()
    drop_triggers(ledger)
    with ledger.db.writing() as c:  # history rewritten under the signed log
        c.execute(sa.text("UPDATE events SET hash = :h WHERE id = 0"), {"h": b"\x11" * 32})
    with ledger.db.writing() as c:
        ledger.record(c, town.at_station, fill(a, town, NOW + timedelta(hours=1)), now=NOW + timedelta(hours=2))
    with pytest.raises(CheckpointMismatch):
        ledger.checkpoint()
    from ledger.log import checkpoints
    with ledger.db.reading() as c:
        assert [cp.size for cp in checkpoints(c)] == [first.size]


def test_the_parallel_audit_finds_exactly_what_the_sequential_one_finds(ledger):
    town = build_town(ledger)
    a, b = register(ledger, town, 2)
    with ledger.db.writing() as c:
        ledger.record_batch(c, town.at_station, [fill(x, town, NOW + timedelta(minutes=m)) for m in range(1, 40) for x in (a, b)],
                            now=NOW + timedelta(hours=2))
    ledger.checkpoint()
    drop_triggers(ledger)
    with ledger.db.writing() as c:
        c.exec_driver_sql(f"DELETE FROM events WHERE cylinder = '{b}' AND seq = 20")
        c.exec_driver_sql(f"UPDATE events SET data = replace(data, '14.5', '15.5') WHERE cylinder = '{a}' AND seq = 7")
    with ledger.db.reading() as c:
        sequential = set(audit(c, ledger.verifier))
        parallel = set(audit(c, ledger.verifier, database_url=ledger.settings.database_url, workers=2))
    assert parallel == sequential
    assert {(f.kind, f.cylinder, f.seq) for f in parallel} >= {("chain_tampered", a, 7), ("sequence_gap", b, 21)}


def test_a_retry_carrying_a_large_integral_double_is_not_a_conflict(ledger):
    # Canonical text writes 1.2345678901234568e20 as 123456789012345680000; read back as that exact
    # integer it no longer equalled the double sent, and an honest retry looked like other content.
    from ledger.storage import events as event_rows

    town = build_town(ledger)
    (cylinder,) = register(ledger, town)
    sent = NewEvent(cylinder, EventKind.FILL, NOW + timedelta(hours=1), town.station, "fill-large-double",
                    data={"net_kg": 14.5, "meter": 1.2345678901234568e20, "count": 2.0**60, "small": 10**15})
    with ledger.db.writing() as c:
        event_rows.append(c, [event_rows.prepare(sent)], NOW + timedelta(hours=2))
    with ledger.db.reading() as c:
        stored = event_rows.by_idempotency_keys(c, ["fill-large-double"])["fill-large-double"]
    assert stored.same_content(sent)
    assert stored.data["meter"] == 1.2345678901234568e20 and stored.data["small"] == 10**15
