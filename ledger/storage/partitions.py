"""The events table partitioned by log position, and the archival of old partitions (docs/scale.md,
"Partitioning and archival").

An operator's choice on PostgreSQL, one node or a Citus cluster (``ledger init --partition-events WIDTH``;
the cluster's layout is ``_partition_cluster``); SQLite and an unpartitioned database never reach this
module's DDL.

* ``events`` is partitioned by RANGE of ``id``, the log position: a partition holds the positions
  ``[k·W, (k+1)·W)`` for a power of two ``W``, so each partition is one node of the Merkle tree, and
  leaves one hash behind when it leaves the database. Committed events waiting for their position
  (negative pending ids) live in ``events_unsequenced`` (``MINVALUE`` to 0); the sequencer's UPDATE
  moves each to its block, which PostgreSQL runs as a DELETE and an INSERT.
* The primary key ``id`` holds the partition key and stays unique ledger-wide. ``(cylinder, seq)`` and
  the idempotency key cannot be unique on a partitioned table: ``event_keys``, an unpartitioned table
  that never leaves, holds them under real unique constraints, written by a trigger on every insert
  into ``events``.
* ``event_archive_heads`` keeps, for each archived block, each cylinder's last event in it (seq and
  hash): the next event of its chain links to it, and a chain whose events all left has its head there.
* The append-only trigger admits a pending event's DELETE only as the first half of its move: a deferred
  constraint trigger checks at commit that the same event (cylinder, seq, hash) holds a position.
* ``event_archives`` records each archived block: its positions, its Merkle root, the file it went to
  and that file's SHA-256. ``ledger.log.LogTree`` uses the root in place of the block's leaves.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import weakref
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import Connection, Engine

from . import citus

__all__ = ["FORMAT", "Archive", "Block", "partitioned", "archived_keys", "width", "check_width", "partition_events", "create_ahead", "blocks",
           "archives", "block_rows", "record_archive", "keep_heads", "drop_block", "keys_before", "archived_heads", "block_name",
           "write_archive", "read_archive", "row_json"]

FORMAT = "cylinder-ledger/events-archive/1"
MIN_WIDTH, MAX_WIDTH = 1 << 4, 1 << 40
UNSEQUENCED = "events_unsequenced"

_known: weakref.WeakKeyDictionary[Engine, bool] = weakref.WeakKeyDictionary()

_COLUMNS = ("cylinder", "seq", "kind", "occurred_at", "recorded_at", "party", "person", "to_ref", "location",
            "data", "idempotency_key", "prev_hash", "hash")
_SEQUENCING = " AND ".join(["OLD.id < 0", "NEW.id >= 0"] + [f"NEW.{c} IS NOT DISTINCT FROM OLD.{c}" for c in _COLUMNS])
_ROW = ("id, cylinder, seq, kind, occurred_at, recorded_at, party, person, to_ref, "
        "location, data, idempotency_key, prev_hash, hash")


def _raising(table: str) -> tuple[str, ...]:
    return (
        f"""CREATE OR REPLACE FUNCTION {table}_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            RAISE EXCEPTION '{table} is append-only: %% refused', TG_OP USING ERRCODE = 'insufficient_privilege';
        END $$""",
        f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
        f"FOR EACH ROW EXECUTE FUNCTION {table}_append_only()",
        f"CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table} "
        f"FOR EACH STATEMENT EXECUTE FUNCTION {table}_append_only()",
    )


def _event_keys(unique: str) -> str:
    """The table of every event's keys and hash, kept for as long as the ledger lives; its idempotency keys
    unique over ``unique`` (the ledger on one node; per cylinder on a cluster, where ``log_index`` holds
    them unique ledger-wide)."""
    return f"""CREATE TABLE event_keys (
        cylinder VARCHAR(16) NOT NULL,
        seq INTEGER NOT NULL,
        idempotency_key VARCHAR(128) NOT NULL,
        hash BYTEA NOT NULL,
        CONSTRAINT pk_event_keys PRIMARY KEY (cylinder, seq),
        CONSTRAINT uq_event_keys_idempotency_key UNIQUE ({unique}))"""


_LAYOUT = (
    # What must stay unique ledger-wide, and each event's hash, for as long as the ledger lives.
    _event_keys("idempotency_key"),
    *_raising("event_keys"),
    """CREATE TABLE event_archives (
        first BIGINT PRIMARY KEY,
        "end" BIGINT NOT NULL,
        root BYTEA NOT NULL,
        events BIGINT NOT NULL,
        first_recorded VARCHAR(27) NOT NULL,
        last_recorded VARCHAR(27) NOT NULL,
        checkpoint_size BIGINT NOT NULL,
        file TEXT NOT NULL,
        file_sha256 BYTEA NOT NULL,
        archived_at VARCHAR(27) NOT NULL)""",
    *_raising("event_archives"),
    # Each cylinder's last event in each archived block: what the next event of its chain links to, and the
    # head of a chain whose events all left.
    """CREATE TABLE event_archive_heads (
        first BIGINT NOT NULL,
        cylinder VARCHAR(16) NOT NULL,
        seq INTEGER NOT NULL,
        hash BYTEA NOT NULL,
        CONSTRAINT pk_event_archive_heads PRIMARY KEY (cylinder, seq))""",
    *_raising("event_archive_heads"),
    "CREATE TABLE event_partitioning (width BIGINT NOT NULL)",
    *_raising("event_partitioning"),
    # The partitioned table, as events was, but for the constraints event_keys now holds.
    "CREATE TABLE events_partitioned (LIKE events INCLUDING DEFAULTS) PARTITION BY RANGE (id)",
    "ALTER TABLE events_partitioned ADD CONSTRAINT pk_events_partitioned PRIMARY KEY (id)",
    f"CREATE TABLE {UNSEQUENCED} PARTITION OF events_partitioned FOR VALUES FROM (MINVALUE) TO (0)",
)

def _append_only(options: str = "", moving: str = "") -> str:
    """The row trigger's function of partitioned events: ``options`` of the function (a cluster's search path),
    ``moving`` what else the sequencer's move does (on one node, a note follows its event)."""
    return f"""CREATE OR REPLACE FUNCTION events_partitioned_append_only() RETURNS trigger LANGUAGE plpgsql {options} AS $$
    BEGIN
        IF TG_OP = 'UPDATE' AND {_SEQUENCING} THEN
            {moving}
            RETURN NEW;
        END IF;
        IF TG_OP = 'DELETE' AND OLD.id < 0 THEN
            RETURN OLD;  -- a pending event leaving for its block: events_moved holds it to that at commit
        END IF;
        RAISE EXCEPTION 'events is append-only: %% refused', TG_OP USING ERRCODE = 'insufficient_privilege';
    END $$"""


_TRIGGERS = (
    _append_only(moving="UPDATE notes SET event = NEW.id WHERE event = OLD.id;  -- a note follows its event"),
    "CREATE TRIGGER events_append_only BEFORE UPDATE OR DELETE ON events "
    "FOR EACH ROW EXECUTE FUNCTION events_partitioned_append_only()",
    """CREATE OR REPLACE FUNCTION events_moved() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        IF NOT EXISTS (SELECT 1 FROM events WHERE id >= 0 AND cylinder = OLD.cylinder AND seq = OLD.seq
                       AND hash = OLD.hash) THEN
            RAISE EXCEPTION 'events is append-only: DELETE refused' USING ERRCODE = 'insufficient_privilege';
        END IF;
        RETURN NULL;
    END $$""",
    "CREATE CONSTRAINT TRIGGER events_moved AFTER DELETE ON events DEFERRABLE INITIALLY DEFERRED "
    "FOR EACH ROW WHEN (OLD.id < 0) EXECUTE FUNCTION events_moved()",
    """CREATE OR REPLACE FUNCTION events_keys() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        INSERT INTO event_keys (cylinder, seq, idempotency_key, hash)
        VALUES (NEW.cylinder, NEW.seq, NEW.idempotency_key, NEW.hash) ON CONFLICT DO NOTHING;
        IF FOUND THEN
            RETURN NEW;
        END IF;
        -- The second half of a pending event's move: its own keys are there, no other row holds them, and
        -- the event was not archived (a chain's events take positions in seq order, so an archived head at
        -- this seq or later means this seq left with its block).
        IF NEW.id >= 0 AND EXISTS (SELECT 1 FROM event_keys WHERE cylinder = NEW.cylinder AND seq = NEW.seq
                                   AND idempotency_key = NEW.idempotency_key AND hash = NEW.hash)
           AND NOT EXISTS (SELECT 1 FROM events WHERE cylinder = NEW.cylinder AND seq = NEW.seq)
           AND NOT EXISTS (SELECT 1 FROM event_archive_heads WHERE cylinder = NEW.cylinder AND seq >= NEW.seq) THEN
            RETURN NEW;
        END IF;
        IF EXISTS (SELECT 1 FROM event_keys WHERE idempotency_key = NEW.idempotency_key) THEN
            RAISE EXCEPTION 'duplicate key value violates unique constraint "uq_events_idempotency_key"'
                USING ERRCODE = 'unique_violation', CONSTRAINT = 'uq_events_idempotency_key';
        END IF;
        RAISE EXCEPTION 'duplicate key value violates unique constraint "uq_events_cylinder_seq"'
            USING ERRCODE = 'unique_violation', CONSTRAINT = 'uq_events_cylinder_seq';
    END $$""",
    "CREATE TRIGGER events_keys BEFORE INSERT ON events FOR EACH ROW EXECUTE FUNCTION events_keys()",
    "CREATE TRIGGER events_no_truncate BEFORE TRUNCATE ON events FOR EACH STATEMENT EXECUTE FUNCTION events_append_only()",
    f"CREATE TRIGGER events_no_truncate BEFORE TRUNCATE ON {UNSEQUENCED} "
    "FOR EACH STATEMENT EXECUTE FUNCTION events_append_only()",
)


@dataclass(frozen=True)
class Block:
    """A partition of positions ``[first, end)``: attached (``rows`` held) or archived."""

    name: str
    first: int
    end: int
    rows: int
    first_recorded: str | None
    last_recorded: str | None
    archive: Archive | None = None


@dataclass(frozen=True)
class Archive:
    first: int
    end: int
    root: bytes
    events: int
    first_recorded: str
    last_recorded: str
    checkpoint_size: int
    file: str
    file_sha256: bytes
    archived_at: str


def block_name(first: int, size: int) -> str:
    return f"events_{first // size:06d}"


def partitioned(connection: Connection) -> bool:
    """Whether ``events`` is partitioned by this module (asked once per engine)."""
    if connection.dialect.name != "postgresql":
        return False
    known = _known.get(connection.engine)
    if known is None:
        known = _known[connection.engine] = connection.exec_driver_sql(
            "SELECT to_regclass('event_partitioning') IS NOT NULL").scalar_one()
    return known


def width(connection: Connection) -> int:
    return int(connection.exec_driver_sql("SELECT width FROM event_partitioning").scalar_one())


def check_width(size: int) -> None:
    """Raise ``ValueError`` unless ``size`` may be a block's width: a power of two from 2^4 to 2^40."""
    if size < MIN_WIDTH or size > MAX_WIDTH or size & (size - 1):
        raise ValueError(f"--partition-events must be a power of two from {MIN_WIDTH} to 2^40, not {size}")


def partition_events(connection: Connection, size: int, ahead: int = 2) -> int:
    """Partition ``events`` into blocks of ``size`` positions, in the caller's transaction; returns the number
    of blocks made. Rows already stored are copied into the new table (for a large table, do it at
    ``ledger init`` before traffic). Raises ``ValueError`` where the layout cannot be made."""
    if connection.dialect.name != "postgresql":
        raise ValueError("events are partitioned on PostgreSQL only; SQLite keeps one table")
    check_width(size)
    if partitioned(connection):
        current = width(connection)
        if current != size:
            raise ValueError(f"events are already partitioned by {current} positions; a ledger keeps its width")
        return len(create_ahead(connection, ahead))
    connection.exec_driver_sql(f"SELECT pg_advisory_xact_lock({0x6C6F67})")  # no sequencer meanwhile
    if citus.distributed(connection):
        return _partition_cluster(connection, size, ahead)
    for statement in _LAYOUT:
        connection.exec_driver_sql(statement)
    connection.exec_driver_sql(f"INSERT INTO event_partitioning (width) VALUES ({int(size)})")
    top = connection.exec_driver_sql("SELECT COALESCE(MAX(id) + 1, 0) FROM events").scalar_one()
    for index in range(top // size + ahead + 1):
        _create(connection, "events_partitioned", index * size, size)
    connection.exec_driver_sql(
        "INSERT INTO event_keys (cylinder, seq, idempotency_key, hash) SELECT cylinder, seq, idempotency_key, hash "
        "FROM events")
    connection.exec_driver_sql("INSERT INTO events_partitioned SELECT * FROM events")
    # A note's event may leave the database with its block: the note stays (it is erasable), unbound.
    connection.exec_driver_sql("ALTER TABLE notes DROP CONSTRAINT IF EXISTS fk_notes_event_events")
    connection.exec_driver_sql("DROP TABLE events")
    connection.exec_driver_sql("ALTER TABLE events_partitioned RENAME TO events")
    connection.exec_driver_sql("ALTER TABLE events RENAME CONSTRAINT pk_events_partitioned TO pk_events")
    for columns, name in (("cylinder, seq", "ix_events_cylinder_seq"), ("idempotency_key", "ix_events_idempotency_key"),
                          ("party", "ix_events_party")):
        connection.exec_driver_sql(f"CREATE INDEX {name} ON events ({columns})")
    connection.exec_driver_sql("ALTER TABLE events ADD CONSTRAINT fk_events_cylinder_cylinders "
                               "FOREIGN KEY (cylinder) REFERENCES cylinders (id)")
    for statement in _TRIGGERS:
        connection.exec_driver_sql(statement)
    _known[connection.engine] = True
    return top // size + ahead + 1


# -- on a Citus cluster -------------------------------------------------------------------------
#
# ``events`` is distributed by cylinder (``citus.py``); partitioned by position under that distribution,
# each shard of it is a partitioned table whose partitions are the shards of the blocks, co-located with
# the cylinders. What differs from one node (docs/scale.md, "Partitioning on a Citus cluster"):
#
# * the primary key is (cylinder, id), as on the unpartitioned cluster: it holds both the distribution
#   column and the partition key. The log position and the idempotency key stay unique ledger-wide through
#   the coordinator's ``log_index``, which is not partitioned and never leaves.
# * ``event_keys`` and ``event_archive_heads`` are distributed by cylinder, co-located: the insert trigger of
#   an event's shard writes and reads the rows of its own cylinder, on the same node. ``event_archives`` and
#   ``event_partitioning`` are reference tables.
# * the trigger functions run on the workers, so they name their tables by schema (a worker's connection
#   does not carry the client's ``search_path``), and they write nothing but ``event_keys``: a note follows
#   its event by the sequencer's own statement (``citus.sequence``).

_CLUSTER_TABLES = (
    _event_keys("cylinder, idempotency_key"),
    *_raising("event_keys"),
    # event_archives, event_archive_heads, event_partitioning and their triggers, as on one node
    *(statement for statement in _LAYOUT if "event_keys" not in statement and "events_" not in statement),
)


def _cluster_triggers(schema: str) -> tuple[str, ...]:
    path = f"SET search_path = {schema}"
    return (
        _append_only(path),
        *_TRIGGERS[1:2],
        # Every query of a shard's trigger names its cylinder: Citus runs it on that shard, on the same node,
        # and refuses one that would reach other shards. The idempotency key is unique ledger-wide through
        # log_index; event_keys holds it unique per cylinder.
        *(statement.replace("RETURNS trigger LANGUAGE plpgsql AS", f"RETURNS trigger LANGUAGE plpgsql {path} AS")
          .replace("FROM event_keys WHERE idempotency_key = NEW.idempotency_key",
                   "FROM event_keys WHERE cylinder = NEW.cylinder AND idempotency_key = NEW.idempotency_key")
          for statement in _TRIGGERS[2:]),
    )


def _partition_cluster(connection: Connection, size: int, ahead: int) -> int:
    schema = connection.exec_driver_sql("SELECT quote_ident(current_schema())").scalar_one()
    connection.exec_driver_sql("SET LOCAL citus.enable_unsafe_triggers = on")
    connection.exec_driver_sql("SET LOCAL citus.multi_shard_modify_mode = 'sequential'")
    for statement in _CLUSTER_TABLES:
        connection.exec_driver_sql(statement)
    for table in ("event_partitioning", "event_archives"):
        connection.exec_driver_sql(f"SELECT create_reference_table('{table}')")
    for table in ("event_keys", "event_archive_heads"):
        connection.exec_driver_sql(
            f"SELECT create_distributed_table('{table}', 'cylinder', colocate_with => 'cylinders')")
    connection.exec_driver_sql(f"INSERT INTO event_partitioning (width) VALUES ({int(size)})")
    top = connection.exec_driver_sql("SELECT COALESCE(MAX(id) + 1, 0) FROM log_index WHERE id >= 0").scalar_one()
    connection.exec_driver_sql("CREATE TABLE events_partitioned (LIKE events INCLUDING DEFAULTS) PARTITION BY RANGE (id)")
    connection.exec_driver_sql(
        f"CREATE TABLE {UNSEQUENCED} PARTITION OF events_partitioned FOR VALUES FROM (MINVALUE) TO (0)")
    # Distributed with its partitions; a partition made later is distributed as it is made.
    connection.exec_driver_sql(
        "SELECT create_distributed_table('events_partitioned', 'cylinder', colocate_with => 'cylinders')")
    count = top // size + ahead + 1
    for index in range(count):
        _create(connection, "events_partitioned", index * size, size)
    connection.exec_driver_sql(
        "INSERT INTO event_keys (cylinder, seq, idempotency_key, hash) SELECT cylinder, seq, idempotency_key, hash "
        "FROM events")
    connection.exec_driver_sql(f"INSERT INTO events_partitioned ({_ROW}) SELECT {_ROW} FROM events")
    connection.exec_driver_sql("DROP TABLE events")
    connection.exec_driver_sql("ALTER TABLE events_partitioned RENAME TO events")
    # Made once the name is free: Citus renames no constraint of a distributed table.
    connection.exec_driver_sql("ALTER TABLE events ADD CONSTRAINT pk_events PRIMARY KEY (cylinder, id)")
    for columns, name in (("cylinder, seq", "ix_events_cylinder_seq"),
                          ("cylinder, idempotency_key", "ix_events_idempotency_key"),
                          ("id", "ix_events_id"), ("party", "ix_events_party")):
        connection.exec_driver_sql(f"CREATE INDEX {name} ON events ({columns})")
    _refer(connection, UNSEQUENCED)
    for statement in _cluster_triggers(schema):
        connection.exec_driver_sql(statement)
    _known[connection.engine] = True
    return count


def _refer(connection: Connection, partition: str) -> None:
    """A cluster's partition refers to its cylinder by a foreign key of its own: one on the partitioned table
    would be checked, for every partition made later, by a query Citus cannot plan on the workers."""
    connection.exec_driver_sql(f"ALTER TABLE {partition} ADD CONSTRAINT fk_{partition}_cylinder_cylinders "
                               "FOREIGN KEY (cylinder) REFERENCES cylinders (id)")


def _create(connection: Connection, parent: str, first: int, size: int) -> str:
    name = block_name(first, size)
    connection.exec_driver_sql(
        f"CREATE TABLE {name} PARTITION OF {parent} FOR VALUES FROM ({int(first)}) TO ({int(first + size)})")
    if citus.distributed(connection):
        _refer(connection, name)
    # Statement triggers stay on the table they are made on: TRUNCATE of a block is refused by its own.
    connection.exec_driver_sql(f"CREATE TRIGGER events_no_truncate BEFORE TRUNCATE ON {name} "
                               "FOR EACH STATEMENT EXECUTE FUNCTION events_append_only()")
    return name


def _attached(connection: Connection) -> dict[int, str]:
    """first position -> partition name, of the attached blocks (not the unsequenced one)."""
    rows = connection.exec_driver_sql(
        "SELECT c.relname, pg_get_expr(c.relpartbound, c.oid) FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
        "WHERE i.inhparent = 'events'::regclass")
    found = {}
    for name, bound in rows:
        if name == UNSEQUENCED:
            continue
        first = int(bound.split("FROM (", 1)[1].split(")", 1)[0].strip("'"))
        found[first] = name
    return found


def create_ahead(connection: Connection, ahead: int) -> list[str]:
    """Make blocks until ``ahead`` empty ones follow the block of the newest position; returns their names."""
    size = width(connection)
    connection.exec_driver_sql(f"SELECT pg_advisory_xact_lock({0x6C6F67})")
    if citus.distributed(connection):  # the new partition's TRUNCATE trigger goes to its shards
        connection.exec_driver_sql("SET LOCAL citus.enable_unsafe_triggers = on")
    top = connection.exec_driver_sql(
        f"SELECT COALESCE(MAX(id) + 1, 0) FROM {citus.log_table(connection)} WHERE id >= 0").scalar_one()
    attached = _attached(connection)
    done = {a.first for a in archives(connection)}
    made = []
    for index in range(top // size, top // size + ahead + 1):
        first = index * size
        if first not in attached and first not in done:
            made.append(_create(connection, "events", first, size))
    return made


def archives(connection: Connection) -> list[Archive]:
    rows = connection.exec_driver_sql(
        'SELECT first, "end", root, events, first_recorded, last_recorded, checkpoint_size, file, file_sha256, '
        "archived_at FROM event_archives ORDER BY first")
    return [Archive(r[0], r[1], bytes(r[2]), r[3], r[4], r[5], r[6], r[7], bytes(r[8]), r[9]) for r in rows]


def blocks(connection: Connection) -> list[Block]:
    """Every block, attached or archived, by position, with the recording times it spans."""
    found = [Block(block_name(a.first, a.end - a.first), a.first, a.end, a.events, a.first_recorded,
                   a.last_recorded, a) for a in archives(connection)]
    size = width(connection)
    for first, name in _attached(connection).items():
        # Index seeks only, whatever the block's size: positions are contiguous (a hole is ``ledger verify``'s
        # to find), and given in commit order, so the first and last positions hold the block's recording span.
        low, high = connection.exec_driver_sql(f"SELECT MIN(id), MAX(id) FROM {name}").one()
        span = [connection.exec_driver_sql(f"SELECT recorded_at FROM {name} WHERE id = {int(position)}").scalar()
                for position in (low, high) if position is not None]
        found.append(Block(name, first, first + size, 0 if low is None else high - low + 1,
                           *(span or [None, None])))
    return sorted(found, key=lambda block: block.first)


def unsequenced(connection: Connection) -> int:
    return connection.exec_driver_sql(f"SELECT COUNT(*) FROM {UNSEQUENCED}").scalar_one()


def block_rows(connection: Connection, first: int, end: int, page: int = 20_000) -> Iterator[list[tuple]]:
    """The rows at positions ``[first, end)`` in order, a page at a time."""
    last = first - 1
    while True:
        rows = connection.exec_driver_sql(
            f"SELECT {_ROW} FROM events WHERE id > {int(last)} AND id < {int(end)} ORDER BY id LIMIT {int(page)}").all()
        if not rows:
            return
        yield [tuple(row) for row in rows]
        last = rows[-1][0]


def record_archive(connection: Connection, archive: Archive) -> None:
    connection.exec_driver_sql(
        'INSERT INTO event_archives (first, "end", root, events, first_recorded, last_recorded, checkpoint_size, '
        "file, file_sha256, archived_at) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
        (archive.first, archive.end, archive.root, archive.events, archive.first_recorded, archive.last_recorded,
         archive.checkpoint_size, archive.file, archive.file_sha256, archive.archived_at))


def keep_heads(connection: Connection, name: str, first: int) -> None:
    """Keep each cylinder's last event (seq, hash) of the block about to leave."""
    connection.exec_driver_sql(
        f"INSERT INTO event_archive_heads (first, cylinder, seq, hash) SELECT DISTINCT ON (cylinder) {int(first)}, "
        f"cylinder, seq, hash FROM {name} ORDER BY cylinder, seq DESC")


def drop_block(connection: Connection, name: str) -> None:
    connection.exec_driver_sql(f"ALTER TABLE events DETACH PARTITION {name}")
    connection.exec_driver_sql(f"DROP TABLE {name}")


def keys_before(connection: Connection, cylinder: str, seq: int) -> int:
    """How many of the cylinder's events before ``seq`` the ledger recorded (archived ones included)."""
    return connection.exec_driver_sql(
        "SELECT COUNT(*) FROM event_keys WHERE cylinder = %s AND seq < %s", (cylinder, seq)).scalar_one()


def archived_keys(connection: Connection, keys: Iterable[str]) -> set[str]:
    """Which of ``keys`` name events the ledger recorded and has since archived (not in ``events`` any more).

    A client retrying such a key long after is told so rather than meeting ``event_keys``' refusal."""
    keys = list(keys)
    if not keys or not partitioned(connection):
        return set()
    if citus.distributed(connection):
        # A key never claimed in the coordinator's log_index (a new one) costs no shard a query; a claimed one
        # is looked up on its cylinder's shard.
        found = set()
        for cylinder, key in citus.claims(connection, keys):
            if connection.exec_driver_sql(
                    "SELECT 1 FROM event_keys k WHERE k.cylinder = %s AND k.idempotency_key = %s AND NOT EXISTS "
                    "(SELECT 1 FROM events e WHERE e.cylinder = k.cylinder AND e.seq = k.seq)", (cylinder, key)).first():
                found.add(key)
        return found
    rows = connection.exec_driver_sql(
        "SELECT k.idempotency_key FROM event_keys k WHERE k.idempotency_key = ANY(%s) "
        "AND NOT EXISTS (SELECT 1 FROM events e WHERE e.cylinder = k.cylinder AND e.seq = k.seq)", (keys,))
    return {row[0] for row in rows}


def archived_heads(connection: Connection, cylinders: list[str]) -> dict[str, tuple[int, bytes]]:
    """The chain head (seq, hash) of cylinders whose events no longer stay in ``events`` (all archived)."""
    result: dict[str, tuple[int, bytes]] = {}
    for cylinder in cylinders:
        row = connection.exec_driver_sql(
            "SELECT seq, hash FROM event_archive_heads WHERE cylinder = %s ORDER BY seq DESC LIMIT 1",
            (cylinder,)).first()
        if row is not None:
            result[cylinder] = (row[0], bytes(row[1]))
    return result


# -- archive files ------------------------------------------------------------------------------

def row_json(row: tuple) -> list:
    """A stored row as JSON values: its hashes in hex (the driver gives them as bytes)."""
    values = list(row)
    for index in (12, 13):
        if values[index] is not None:
            values[index] = bytes(values[index]).hex()
    return values


def _row(values: list) -> tuple:
    values = list(values)
    for index in (12, 13):
        if values[index] is not None:
            values[index] = bytes.fromhex(values[index])
    return tuple(values)


def write_archive(path: Path, header: dict, pages: Iterator[list[tuple]],
                  each: Callable[[tuple], None] | None = None) -> bytes:
    """Write a block's rows to ``path`` (gzip, one JSON header line, one JSON array per event), synced to
    disk; returns the file's SHA-256. Refuses to overwrite a file."""
    with open(path, "xb") as raw:
        # Level 6, zlib's default: level 9 took a third of the archiving time for a few per cent less.
        with gzip.GzipFile(fileobj=raw, mode="wb", mtime=0, compresslevel=6) as out:
            out.write(json.dumps(header, sort_keys=True).encode() + b"\n")
            encode = json.JSONEncoder(ensure_ascii=False).encode
            for rows in pages:
                if each is not None:
                    for row in rows:
                        each(row)
                out.write("".join(encode(row_json(row)) + "\n" for row in rows).encode())
        raw.flush()
        os.fsync(raw.fileno())
    digest = hashlib.sha256()
    with open(path, "rb") as done:
        for chunk in iter(lambda: done.read(1 << 20), b""):
            digest.update(chunk)
    return digest.digest()


def read_archive(path: Path) -> tuple[dict, Iterator[tuple]]:
    """An archive file's header and its rows (as ``events`` stores them); raises ``ValueError`` if it is no
    archive of this format."""
    handle = gzip.open(path, "rb")
    try:
        header = json.loads(handle.readline())
    except (OSError, ValueError) as exc:
        handle.close()
        raise ValueError(f"{path} is not an events archive ({exc})") from exc
    if not isinstance(header, dict) or header.get("format") != FORMAT:
        handle.close()
        raise ValueError(f"{path} is not an events archive of format {FORMAT}")

    def rows() -> Iterator[tuple]:
        with handle:
            for line in handle:
                yield _row(json.loads(line))

    return header, rows()
