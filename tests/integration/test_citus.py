"""The ledger on a Citus cluster (``LEDGER_TEST_CITUS``; skipped when unset): the layout ``ledger init``
makes, and that what concerns one cylinder is planned as a router query, one task on one shard.

The routing test records every statement the service sends while it traces a cylinder, records one
event for it (inline, and on the ingest path with its sequencing after commit) and looks up an
event's proof, then has the coordinator ``EXPLAIN`` each one that
reads or writes a distributed table. A statement Citus would fan out to every shard shows
``Task Count`` above 1, or a distributed subplan.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import event as sa_event
from sqlalchemy.exc import IntegrityError

from ledger import sequencer
from ledger.service import Ledger
from ledger.storage import citus
from tests.conftest import CITUS, NOW, build_town, create_citus_schema, drop_database, fill, migrated_ledger, register

pytestmark = pytest.mark.skipif(not CITUS, reason="no Citus cluster: set LEDGER_TEST_CITUS (.ci/citus-cluster)")

_DISTRIBUTED = re.compile(r"\b(events|cylinders|review_queue)\b", re.IGNORECASE)
_TASKS = re.compile(r"Task Count: (\d+)")


@pytest.fixture
def on_cluster(tmp_path: Path) -> Iterator[Ledger]:
    url = create_citus_schema()
    ledger = migrated_ledger(url, tmp_path)
    try:
        yield ledger
    finally:
        ledger.db.dispose()
        drop_database(url)


def test_init_distributes_by_cylinder_and_replicates_the_registry(on_cluster):
    with on_cluster.db.reading() as c:
        assert citus.distributed(c)
        layout = dict(c.exec_driver_sql(
            "SELECT logicalrelid::regclass::text, partmethod::text || ':' || COALESCE(column_to_column_name(logicalrelid, "
            "partkey), '') || ':' || colocationid FROM pg_dist_partition "
            "WHERE logicalrelid::regclass::text NOT LIKE '%%.%%'").all())
        local = {name for (name,) in c.exec_driver_sql(
            "SELECT tablename FROM pg_tables WHERE schemaname = current_schema()")} - set(layout)
    anchor = layout["cylinders"].split(":")[2]
    assert layout["cylinders"] == f"h:id:{anchor}"
    assert layout["events"] == layout["review_queue"] == f"h:cylinder:{anchor}"
    assert {name for name, shape in layout.items() if shape.startswith("n:")} == set(citus.REFERENCE)
    assert local == {"alembic_version", "log_index"}
    with on_cluster.db.writing() as c:  # a second init changes nothing
        assert citus.distribute(c) is False


def test_ledger_wide_keys_hold_across_shards(on_cluster):
    """The guards on the coordinator refuse what a per-shard constraint could not see."""
    town = build_town(on_cluster)
    first, second = register(on_cluster, town, 2)  # two cylinders, on different shards or not
    key = f"key-{uuid.uuid4()}"
    with on_cluster.db.writing() as c:
        on_cluster.record(c, town.at_station, fill(first, town, NOW + timedelta(hours=1), key=key), now=NOW + timedelta(hours=2))
    with pytest.raises(IntegrityError), on_cluster.db.writing() as c:
        c.exec_driver_sql("INSERT INTO log_index (id, cylinder, idempotency_key) VALUES (99, %s, %s)", (second, key))
    with pytest.raises(IntegrityError), on_cluster.db.writing() as c:
        c.exec_driver_sql("INSERT INTO log_index (id, cylinder, idempotency_key) VALUES (0, %s, 'another-key')", (second,))
    with on_cluster.db.reading() as c:
        stamp = c.exec_driver_sql("SELECT stamp_key, manufacturer, serial FROM cylinders WHERE id = %s", (first,)).one()
    with pytest.raises(IntegrityError), on_cluster.db.writing() as c:
        c.exec_driver_sql("INSERT INTO stamp_index VALUES (%s, %s, %s, 'XNEWCODE')", tuple(stamp))
    with pytest.raises(Exception, match="append-only"), on_cluster.db.writing() as c:
        c.exec_driver_sql("DELETE FROM log_index")


def _record_statements(ledger: Ledger) -> tuple[list[tuple[str, object]], object]:
    seen: list[tuple[str, object]] = []

    def before(_conn, _cursor, statement, parameters, _context, executemany) -> None:
        seen.append((statement, parameters[0] if executemany and parameters else parameters))

    sa_event.listen(ledger.db.writer, "before_cursor_execute", before)
    return seen, before


def _plans(ledger: Ledger, statements: list[tuple[str, object]]) -> list[tuple[str, list[int], bool]]:
    """(statement, task counts, has a distributed subplan) of each statement on a distributed table."""
    planned = []
    with ledger.db.reading() as c:
        for statement, parameters in statements:
            verb = statement.lstrip().split(None, 1)[0].upper()
            if verb not in ("SELECT", "INSERT", "UPDATE", "DELETE") or not _DISTRIBUTED.search(statement):
                continue
            plan = "\n".join(row[0] for row in c.exec_driver_sql(f"EXPLAIN {statement}", parameters or ()))
            planned.append((statement, [int(n) for n in _TASKS.findall(plan)], "Distributed Subplan" in plan))
    return planned


def test_what_concerns_one_cylinder_runs_on_one_shard(on_cluster):
    ledger = on_cluster
    town = build_town(ledger)
    codes = register(ledger, town, 6)  # six cylinders: with 2+ shards, some live apart
    target = codes[3]
    with ledger.db.writing() as c:
        ledger.record(c, town.at_station, fill(target, town, NOW + timedelta(hours=1)), now=NOW + timedelta(hours=2))
    ledger.checkpoint()

    seen, listener = _record_statements(ledger)
    try:
        with ledger.db.writing() as c:  # the append of one cylinder's event
            outcome = ledger.record(c, town.at_station, fill(target, town, NOW + timedelta(hours=3)),
                                    now=NOW + timedelta(hours=4))
        appending = list(seen)
        seen.clear()
        with ledger.db.reading() as c:  # the trace
            ledger.trace(c, target)
        tracing = list(seen)
        seen.clear()
        with ledger.db.reading() as c:  # the proof's lookup of the event, and the chain a bundle carries
            ledger.event(c, outcome.event.log_index)
            ledger.history(c, target)
        proving = list(seen)
        seen.clear()
        with ledger.db.writing() as c:  # the ingest path's append: pending, its key claimed, no log lock
            (pending,) = ledger.record_batch(c, town.at_station, [fill(target, town, NOW + timedelta(hours=5))],
                                             NOW + timedelta(hours=6), defer_review=True, sequence_after_commit=True)
        ingesting = list(seen)
        seen.clear()
        moved = sequencer.run(ledger.db, [pending.event.id])  # its sequencing, after the commit
        sequencing = list(seen)
    finally:
        sa_event.remove(ledger.db.writer, "before_cursor_execute", listener)

    assert pending.event.log_index is None and moved == {pending.event.id: outcome.event.log_index + 1}
    assert not any("pg_advisory" in statement for statement, _ in ingesting)  # no log lock in the write
    for name, statements in (("append", appending), ("trace", tracing), ("proof lookup", proving),
                             ("ingest append", ingesting), ("sequencing", sequencing)):
        plans = _plans(ledger, statements)
        assert plans, f"{name}: no statement reached a distributed table"
        fanned_out = [(sql, tasks) for sql, tasks, subplan in plans if subplan or any(n != 1 for n in tasks)]
        assert fanned_out == [], f"{name} sent multi-shard statements: {fanned_out}"


def test_a_query_without_the_cylinder_fans_out(on_cluster):
    """The check above can fail: the same EXPLAIN shows every shard for a query across cylinders."""
    town = build_town(on_cluster)
    register(on_cluster, town, 2)
    with on_cluster.db.reading() as c:
        shards = c.exec_driver_sql("SELECT count(*) FROM pg_dist_shard WHERE logicalrelid = 'events'::regclass").scalar_one()
    [(_, tasks, _)] = _plans(on_cluster, [("SELECT count(*) FROM events WHERE kind = %s", ("fill",))])
    assert tasks == [shards] and shards > 1
