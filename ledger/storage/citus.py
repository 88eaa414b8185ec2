"""The ledger on a Citus cluster: which tables are distributed, and the guards that keep the schema's
guarantees where Citus cannot enforce a constraint across shards (docs/scale.md).

``distribute`` runs once, after the migrations, when ``ledger init`` finds the ``citus`` extension:

* ``cylinders`` is distributed by its id; ``events`` and ``review_queue`` by ``cylinder``, co-located
  with it, so everything about one cylinder lives on one shard and a trace, an append or a chain
  head is a single-shard (router) query.
* The registry, accounts, sessions, findings and their actions, notes, checkpoints and erasures
  are reference tables: a copy on every node, joinable with any shard.
* Citus enforces a unique constraint of a distributed table only if it holds the distribution
  column. The log position (``events.id``) and the idempotency key are unique across the whole
  ledger through ``log_index`` on the coordinator (position → cylinder and idempotency key), which
  also says which shard holds a position. A writer claims each new event's key there under the
  event's pending id, in its own transaction and without the log lock (``claim``); ``sequence``
  moves claims and events together from pending ids to positions after commit. On the shards the
  events' primary key becomes (cylinder, id) and the key is unique per cylinder. The leaves'
  hashes are read from the events themselves, never from a copy.
* The stamp of a cylinder is unique through ``stamp_index``, a reference table (stamp key and
  manufacturer's serial → cylinder), which every cylinder row must refer to with its own id: a
  second row of one stamp has no claim to refer to, so the database itself refuses it.

Everything else in the schema stays as the migrations made it, including the triggers that refuse
UPDATE and DELETE of events, checkpoints, finding actions and erasures: they run on every shard
and every reference table's copy (``citus.enable_unsafe_triggers``; they write nothing).
"""

from __future__ import annotations

import weakref
from collections.abc import Iterable, Mapping, Sequence

from sqlalchemy import Connection, Engine

__all__ = ["available", "distributed", "distribute", "before_writing", "log_table", "positions", "claims", "claim",
           "any_claim_pending", "sequence", "claim_stamp", "DISTRIBUTED", "REFERENCE"]

# Distributed by cylinder, in co-location order: the first is the group's anchor.
DISTRIBUTED = (("cylinders", "id"), ("events", "cylinder"), ("review_queue", "cylinder"), ("foreign_events", "cylinder"),
               ("foreign_proofs", "cylinder"))
# In foreign-key order: a reference table refers only to reference tables made before it.
REFERENCE = ("parties", "people", "accounts", "page_sessions", "end_users", "checkpoints",
             "findings", "finding_actions", "notes", "erasures", "stamp_index",
             # what the trust, exchange and case workers keep: small, read with the registry
             "cosignatures", "witness_states", "mirrored_log", "audits", "audit_chunks",
             "capture_jobs", "capture_results", "case_photos", "webhook_outbox", "webhook_jobs",
             "webhook_deliveries", "personal_data_views", "end_user_codes", "rate_windows",
             "citizen_reports", "delivery_photos")

_CHILDREN = tuple(table for table, _ in DISTRIBUTED[1:])

_known: weakref.WeakKeyDictionary[Engine, bool] = weakref.WeakKeyDictionary()

_GUARDS = (
    # One row per log position (or pending id, until sequenced); the position, the idempotency key are
    # unique across the ledger.
    """CREATE TABLE log_index (
        id BIGINT PRIMARY KEY,
        cylinder VARCHAR(16) NOT NULL,
        idempotency_key VARCHAR(128) NOT NULL UNIQUE)""",
    # The one change a row admits, as an event's (migration 0019): its pending id replaced by a position.
    """CREATE FUNCTION log_index_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        IF TG_OP = 'UPDATE' AND OLD.id < 0 AND NEW.id >= 0 AND NEW.cylinder = OLD.cylinder
                AND NEW.idempotency_key = OLD.idempotency_key THEN
            RETURN NEW;
        END IF;
        RAISE EXCEPTION 'log_index is append-only: %% refused', TG_OP USING ERRCODE = 'insufficient_privilege';
    END $$""",
    "CREATE TRIGGER log_index_append_only BEFORE UPDATE OR DELETE ON log_index "
    "FOR EACH ROW EXECUTE FUNCTION log_index_append_only()",
    "CREATE TRIGGER log_index_no_truncate BEFORE TRUNCATE ON log_index "
    "FOR EACH STATEMENT EXECUTE FUNCTION log_index_append_only()",
    "INSERT INTO log_index (id, cylinder, idempotency_key) SELECT id, cylinder, idempotency_key FROM events",
    # One physical cylinder, one code: the stamp key and the manufacturer's serial are unique.
    """CREATE TABLE stamp_index (
        stamp_key VARCHAR(64) PRIMARY KEY,
        manufacturer VARCHAR(200) NOT NULL,
        serial VARCHAR(64) NOT NULL,
        cylinder VARCHAR(16) NOT NULL UNIQUE,
        UNIQUE (manufacturer, serial),
        UNIQUE (stamp_key, cylinder))""",
    "INSERT INTO stamp_index (stamp_key, manufacturer, serial, cylinder) "
    "SELECT stamp_key, manufacturer, serial, id FROM cylinders",
)

_RESHAPE = (
    # notes is a reference table, and a reference table cannot refer to a distributed one
    "ALTER TABLE notes DROP CONSTRAINT fk_notes_event_events",
    # a local table may not refer to a distributed one: dropped here, made again once all are distributed
    *(f"ALTER TABLE {table} DROP CONSTRAINT fk_{table}_cylinder_cylinders" for table in _CHILDREN),
    "ALTER TABLE events DROP CONSTRAINT pk_events",
    "ALTER TABLE events ADD CONSTRAINT pk_events PRIMARY KEY (cylinder, id)",
    "ALTER TABLE events DROP CONSTRAINT uq_events_idempotency_key",
    "ALTER TABLE events ADD CONSTRAINT uq_events_idempotency_key UNIQUE (cylinder, idempotency_key)",
    "CREATE INDEX ix_events_id ON events (id)",
    "ALTER TABLE cylinders DROP CONSTRAINT uq_cylinders_manufacturer_serial",
    "DROP INDEX ux_cylinders_stamp_key",
    "CREATE INDEX ix_cylinders_stamp_key ON cylinders (stamp_key)",
)


def available(connection: Connection) -> bool:
    """Whether the database has the ``citus`` extension (a Citus coordinator)."""
    if connection.dialect.name != "postgresql":
        return False
    return connection.exec_driver_sql("SELECT 1 FROM pg_extension WHERE extname = 'citus'").first() is not None


def distributed(connection: Connection) -> bool:
    """Whether this database's events are distributed by ``distribute``; asked once per engine."""
    if connection.dialect.name != "postgresql":
        return False
    engine = connection.engine
    known = _known.get(engine)
    if known is None:
        known = _known[engine] = _is_distributed(connection)
    return known


def before_writing(connection: Connection) -> None:
    """Prepare a write transaction on a cluster: one connection per worker for all of it.

    A transaction that read several shards in parallel (one connection per shard) may then not
    write a reference table that others refer to: Citus must see both over the same connection.
    Sequential mode keeps every statement of the transaction on one connection per node."""
    if distributed(connection):
        connection.exec_driver_sql("SET LOCAL citus.multi_shard_modify_mode = 'sequential'")


def log_table(connection: Connection) -> str:
    """The table whose rows number the log's positions: ``log_index`` on a cluster, else ``events``."""
    return "log_index" if distributed(connection) else "events"


def positions(connection: Connection, column: str, values: Iterable[object]) -> list[tuple[str, int]]:
    """(cylinder, log position) of the events whose ``column`` (``id`` or ``idempotency_key``) is
    among ``values``, read from the coordinator's ``log_index``."""
    assert column in ("id", "idempotency_key")
    wanted = sorted(set(values))
    found: list[tuple[str, int]] = []
    for start in range(0, len(wanted), 500):
        chunk = wanted[start : start + 500]
        marks = ", ".join(["%s"] * len(chunk))
        found.extend((str(c), int(i)) for c, i in connection.exec_driver_sql(
            f"SELECT cylinder, id FROM log_index WHERE {column} IN ({marks}) ORDER BY id", tuple(chunk)))
    return found


def claims(connection: Connection, keys: Iterable[str]) -> list[tuple[str, str]]:
    """(cylinder, idempotency key) of the claimed keys among ``keys``, pending or placed."""
    found: list[tuple[str, str]] = []
    wanted = sorted(set(keys))
    for start in range(0, len(wanted), 500):
        chunk = wanted[start : start + 500]
        marks = ", ".join(["%s"] * len(chunk))
        found.extend((str(c), str(k)) for c, k in connection.exec_driver_sql(
            f"SELECT cylinder, idempotency_key FROM log_index WHERE idempotency_key IN ({marks})", tuple(chunk)))
    return found


def claim(connection: Connection, rows: Sequence[tuple[int, str, str]]) -> None:
    """Claim (id, cylinder, idempotency key) in ``log_index``, in the writer's transaction: a key claimed
    already, by a committed event or by a writer still in its transaction (this insert waits for its
    end), is refused by the unique index, whichever cylinder wrote it. ``id`` is a log position, or a
    pending id that ``sequence`` later replaces."""
    connection.exec_driver_sql("INSERT INTO log_index (id, cylinder, idempotency_key) VALUES (%s, %s, %s)", rows)


def any_claim_pending(connection: Connection) -> bool:
    """Whether a committed claim waits for its position (a seek on the coordinator's primary key)."""
    return connection.exec_driver_sql("SELECT 1 FROM log_index WHERE id < 0 LIMIT 1").first() is not None


def sequence(connection: Connection, limit: int, *, adopt: bool = False) -> dict[int, int]:
    """The cluster's sequencer, in the caller's write transaction, the log lock held: the next positions
    for up to ``limit`` committed pending events; returns ``pending id -> position``.

    The coordinator's committed claims say which events are pending, in the order their numbers were
    drawn. A writer's claim commits on the coordinator at the same time as its events on their shard,
    but not at the same instant: with one worker in the transaction the shard commits first, with
    several (two-phase) the coordinator does. So each claim's event is looked up on its shard, and
    only those committed there are moved, a cylinder's events in order: one not visible yet holds
    back the later ones of its chain (there are none: a chain's next writer waits for its row lock,
    released when the shard commits). Claims, events and notes move in one transaction, which always
    commits in two phases (the notes are a reference table): the coordinator records the commit
    before any worker makes it, and Citus's recovery finishes it on a worker should the coordinator
    stop in between, so no event is ever moved without its claim.

    ``adopt``: first give a claim to every pending event on the shards that has none (a single-worker
    write whose coordinator stopped between the shard's commit and its own); an in-flight writer's
    claim is waited for instead."""
    if adopt:
        _adopt(connection)
    rows = connection.exec_driver_sql(
        f"SELECT id, cylinder, idempotency_key FROM log_index WHERE id < 0 ORDER BY id DESC LIMIT {int(limit)}").all()
    if not rows:
        return {}
    committed = _committed_pending(connection, [(int(pending), str(cylinder)) for pending, cylinder, _ in rows])
    ready: list[tuple[int, str]] = []
    held: set[str] = set()
    for pending, cylinder, _ in rows:
        if int(pending) in committed and cylinder not in held:
            ready.append((int(pending), str(cylinder)))
        else:
            held.add(cylinder)
    if not ready:
        return {}
    start = connection.exec_driver_sql("SELECT COALESCE(MAX(id) + 1, 0) FROM log_index WHERE id >= 0").scalar_one()
    moves = {pending: start + offset for offset, (pending, _) in enumerate(ready)}
    for chunk_start in range(0, len(ready), 500):
        chunk = ready[chunk_start : chunk_start + 500]
        values = ", ".join(f"({pending}, {moves[pending]})" for pending, _ in chunk)
        cylinders = sorted({cylinder for _, cylinder in chunk})
        marks = ", ".join(["%s"] * len(cylinders))
        connection.exec_driver_sql(
            f"UPDATE log_index SET id = v.position FROM (VALUES {values}) AS v(pending, position) "
            "WHERE log_index.id = v.pending")
        # Filtered on the cylinders as well: Citus sends it only to the shards that hold them.
        moved = connection.exec_driver_sql(
            f"UPDATE events SET id = v.position FROM (VALUES {values}) AS v(pending, position) "
            f"WHERE events.id = v.pending AND events.cylinder IN ({marks})", tuple(cylinders)).rowcount
        if moved != len(chunk):  # under the log lock nothing else moves them: refuse rather than leave a gap
            raise RuntimeError(f"sequencing moved {moved} events of {len(chunk)} claimed; nothing was moved")
        # Notes have no foreign key on a cluster to follow their event by: moved here, in every run
        # (also when none matches) so that the commit is always two-phase.
        connection.exec_driver_sql(
            f"UPDATE notes SET event = v.position FROM (VALUES {values}) AS v(pending, position) "
            "WHERE notes.event = v.pending")
    return moves


def _committed_pending(connection: Connection, claimed: list[tuple[int, str]]) -> set[int]:
    """Which of the claimed (pending id, cylinder) are committed events on their shards."""
    found: set[int] = set()
    for start in range(0, len(claimed), 500):
        chunk = claimed[start : start + 500]
        cylinders = sorted({cylinder for _, cylinder in chunk})
        marks = ", ".join(["%s"] * len(cylinders))
        found.update(int(i) for (i,) in connection.exec_driver_sql(
            f"SELECT id FROM events WHERE id IN ({', '.join(str(p) for p, _ in chunk)}) AND cylinder IN ({marks})",
            tuple(cylinders)))
    return found


def _adopt(connection: Connection) -> None:
    orphans = connection.exec_driver_sql(
        "SELECT id, cylinder, idempotency_key FROM events WHERE id < 0 ORDER BY id DESC").all()
    if not orphans:
        return
    marks = ", ".join(str(int(pending)) for pending, _, _ in orphans)
    claimed = {int(i) for (i,) in connection.exec_driver_sql(f"SELECT id FROM log_index WHERE id IN ({marks})")}
    unclaimed = [(int(i), str(c), str(k)) for i, c, k in orphans if int(i) not in claimed]
    if unclaimed:
        # An in-flight writer's own claim (same pending id) is waited for, then this one is left out. A key
        # whose claim already moved to a position (a sequencing whose workers have not all committed yet)
        # is left out as well.
        connection.exec_driver_sql(
            "INSERT INTO log_index (id, cylinder, idempotency_key) VALUES (%s, %s, %s) ON CONFLICT DO NOTHING",
            unclaimed)


def claim_stamp(connection: Connection, row: Mapping[str, object]) -> bool:
    """Record a new cylinder's stamp in ``stamp_index``; False if another cylinder holds it (a racing
    registration's insert waits for the first one's commit, then finds it taken)."""
    return connection.exec_driver_sql(
        "INSERT INTO stamp_index (stamp_key, manufacturer, serial, cylinder) VALUES (%s, %s, %s, %s) "
        "ON CONFLICT DO NOTHING RETURNING cylinder",
        (row["stamp_key"], row["manufacturer"], row["serial"], row["id"]),
    ).first() is not None


def _is_distributed(connection: Connection) -> bool:
    if not available(connection):
        return False
    return connection.exec_driver_sql(
        "SELECT 1 FROM pg_dist_partition WHERE logicalrelid = to_regclass('events')"
    ).first() is not None


def distribute(connection: Connection) -> bool:
    """Distribute the migrated schema over the cluster, in the caller's transaction; returns False
    when it already is. Tables keep their rows (Citus copies them into the shards)."""
    if _is_distributed(connection):
        _known[connection.engine] = True
        return False
    # The append-only triggers only raise: safe to run on the shards. One connection per node keeps
    # the DDL of one transaction visible to what follows it.
    connection.exec_driver_sql("SET LOCAL citus.enable_unsafe_triggers = on")
    connection.exec_driver_sql("SET LOCAL citus.multi_shard_modify_mode = 'sequential'")
    _run(connection, _RESHAPE)
    _run(connection, _GUARDS)
    for table in REFERENCE:
        connection.exec_driver_sql(f"SELECT create_reference_table('{table}')")
    anchor = DISTRIBUTED[0][0]
    for table, column in DISTRIBUTED:
        colocate = "none" if table == anchor else anchor
        connection.exec_driver_sql(
            f"SELECT create_distributed_table('{table}', '{column}', colocate_with => '{colocate}')"
        )
    for table in _CHILDREN:
        connection.exec_driver_sql(
            f"ALTER TABLE {table} ADD CONSTRAINT fk_{table}_cylinder_cylinders "
            "FOREIGN KEY (cylinder) REFERENCES cylinders (id)"
        )
    # Every cylinder row needs its own claim on its stamp: a second row of one stamp has none.
    connection.exec_driver_sql(
        "ALTER TABLE cylinders ADD CONSTRAINT fk_cylinders_stamp_key_stamp_index "
        "FOREIGN KEY (stamp_key, id) REFERENCES stamp_index (stamp_key, cylinder)"
    )
    _known[connection.engine] = True
    return True


def _run(connection: Connection, statements: Sequence[str]) -> None:
    for statement in statements:
        connection.exec_driver_sql(statement)
