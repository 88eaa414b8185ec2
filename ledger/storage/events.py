"""The append path and the queries of the event log.

``append`` is the only code that writes events. Within the caller's write
transaction it (1) locks the cylinders concerned (PostgreSQL row locks, in a
fixed order so two batches cannot deadlock; SQLite's ``BEGIN IMMEDIATE`` already
serialises writers), (2) reads each chain's head, (3) inserts the new events.

Their log positions are given in one of two ways (docs/architecture.md, "Sequencing"):

* **deferred** (PostgreSQL and a Citus cluster, for the ingest path, ``later=True``): the write
  transaction takes no log lock. Each new event is stored under a *pending* id, the negative of a
  number drawn from the ``events_pending`` sequence (no lock, drawn in append order), and
  ``log_index`` is null. After commit, ``sequence`` gives every committed pending event, in the
  order of its pending number, the next positions in one short transaction under the log lock.
  Writers of unrelated cylinders never wait for each other, and positions stay contiguous from 0: a
  rolled-back write has no position, and a crash between commit and sequencing leaves pending
  events that the next ``sequence`` takes. On a cluster the writer also claims each event's
  idempotency key in the coordinator's ``log_index`` under the pending id (``citus.py``), so the key
  stays unique ledger-wide before the event has a position; the sequencer moves the claim to the
  position with the event.
* **inline** (SQLite, where one writer holds the database anyway, and a caller that records outside
  the ingest path, such as a register's genesis): the write transaction takes the log lock, reads
  the log size and gives the new events the next positions itself.

Positions and sequence numbers are therefore contiguous whatever rolls back.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TypeVar

from pydantic_core import from_json
from sqlalchemy import Connection, text

from ..canonical import as_doubles, canonical_json, event_bytes, event_hash
from ..domain import Event, EventKind, Location, NewEvent, format_time
from ..notes import Note
from . import citus, partitions
from .checkpoints import take_log_lock

__all__ = ["Prepared", "prepare", "append", "lock_heads", "by_idempotency_keys", "get", "history", "every_history",
           "raw_history", "heads", "chain_heads", "log_size", "deferred", "sequence", "any_pending", "by_seq", "COLUMNS",
           "from_row", "marker", "placeholders", "chunks", "among", "unnested"]

COLUMNS = (
    "id, cylinder, seq, kind, occurred_at, recorded_at, party, person, to_ref, "
    "location, data, idempotency_key, prev_hash, hash"
)
_CHUNK = 500
_Id = TypeVar("_Id", str, int)


@dataclass(frozen=True, slots=True)
class Prepared:
    """A new event with its free-form parts already in canonical text."""

    event: NewEvent
    occurred_at: str
    location: str
    data: str
    note: Note | None = None  # a report's note, kept beside the chain; ``event.data`` holds its commitment
    segment: object = None  # another city's verified segment the event links to (``crossing.Segment``)


def prepare(event: NewEvent, note: Note | None = None) -> Prepared:
    location = "null" if event.location is None else canonical_json(event.location.as_dict(), "location")
    return Prepared(event, format_time(event.occurred_at), location, canonical_json(event.data), note)


def marker(connection: Connection) -> str:
    """The driver's parameter marker for plain SQL: ``?`` (sqlite3) or ``%s`` (psycopg)."""
    return "?" if connection.dialect.name == "sqlite" else "%s"


def placeholders(connection: Connection, count: int) -> str:
    """``count`` parameter markers, comma-separated, for a plain-SQL ``IN (...)`` or ``VALUES (...)``."""
    return ", ".join([marker(connection)] * count)


def chunks(values: Iterable[_Id]) -> Iterator[list[_Id]]:
    """The distinct ``values``, sorted, in lists short enough for one statement's parameters."""
    wanted = sorted(set(values))
    for start in range(0, len(wanted), _CHUNK):
        yield wanted[start : start + _CHUNK]


def among(connection: Connection, column: str, values: Iterable[_Id]) -> Iterator[tuple[str, tuple]]:
    """``column`` among the distinct ``values``: (condition, parameters) for each statement to run, in
    sorted order of the values.

    A single PostgreSQL node takes them all as one array (``= ANY``, which is what it makes of an
    ``IN`` list anyway): one statement text whatever their number, which the driver parses once and
    the server plans once, instead of a text of up to 500 markers that psycopg splits again on every
    call and the server plans again. The array goes in binary (``%b``), with nothing to quote.
    SQLite (no arrays) and a Citus cluster (whose shard pruning is checked on the ``IN`` lists) take
    chunks of markers.
    """
    wanted = sorted(set(values))
    if not wanted:
        return
    if unnested(connection):
        yield f"{column} = ANY(%b)", (wanted,)
        return
    for start in range(0, len(wanted), _CHUNK):
        chunk = wanted[start : start + _CHUNK]
        yield f"{column} IN ({placeholders(connection, len(chunk))})", tuple(chunk)


def unnested(connection: Connection) -> bool:
    """Whether many rows go in as one statement over arrays (``unnest``) rather than one row at a time.

    A single PostgreSQL node: ``executemany`` sends each row as a statement of its own (pipelined,
    but each bound, executed and answered, and for an ``UPDATE`` looked up, one by one); one
    ``INSERT ... SELECT FROM unnest(...)`` of column arrays is one statement. The arrays go in
    binary (``%b``): in text, psycopg quotes and escapes every element (JSON texts are full of
    quotes), which took longer than the statement. SQLite's ``executemany`` runs in-process and
    needs nothing else; a Citus cluster routes each row to its shard, which an ``INSERT ... SELECT``
    would not do as directly.
    """
    return connection.dialect.name == "postgresql" and not citus.distributed(connection)


def columns_of(rows: Sequence[Sequence]) -> tuple[list, ...]:
    """The rows as one list per column: the arrays ``unnest`` takes."""
    return tuple(list(column) for column in zip(*rows))


def lock_cylinders(connection: Connection, cylinders: Iterable[str]) -> None:
    """Lock the rows of the given cylinders for the rest of the transaction, in id order, the one
    order every writer takes them in. SQLite needs no row locks: ``BEGIN IMMEDIATE`` already
    made this the only writer."""
    if connection.dialect.name == "sqlite":
        return
    if citus.distributed(connection):
        # One row, one shard: a lock taken shard by shard in parallel would not keep the global order.
        for cylinder in sorted(set(cylinders)):
            connection.exec_driver_sql("SELECT id FROM cylinders WHERE id = %s FOR UPDATE", (cylinder,)).fetchall()
        return
    for condition, params in among(connection, "id", cylinders):
        connection.exec_driver_sql(f"SELECT id FROM cylinders WHERE {condition} ORDER BY id FOR UPDATE", params).fetchall()


def heads(connection: Connection, cylinders: Iterable[str]) -> dict[str, tuple[int, bytes]]:
    """The last (seq, hash) of each given cylinder's chain."""
    cylinders = set(cylinders)
    result: dict[str, tuple[int, bytes]] = {}
    if citus.distributed(connection):
        # One table, filtered on its distribution column: Citus sends it only to the shards holding these
        # cylinders (the correlated form below would go to every shard).
        for chunk in chunks(cylinders):
            sql = ("SELECT DISTINCT ON (cylinder) cylinder, seq, hash FROM events "
                   f"WHERE cylinder IN ({placeholders(connection, len(chunk))}) ORDER BY cylinder, seq DESC")
            for cylinder, seq, digest in connection.exec_driver_sql(sql, tuple(chunk)):
                result[cylinder] = (seq, bytes(digest))
    else:
        for condition, params in among(connection, "c.id", cylinders):
            # MAX over the (cylinder, seq) index is one seek per cylinder, whatever the chain's length.
            sql = (
                "SELECT e.cylinder, e.seq, e.hash FROM cylinders c JOIN events e ON e.cylinder = c.id AND e.seq = "
                f"(SELECT MAX(x.seq) FROM events x WHERE x.cylinder = c.id) WHERE {condition}"
            )
            for cylinder, seq, digest in connection.exec_driver_sql(sql, params):
                result[cylinder] = (seq, bytes(digest))
    if partitions.partitioned(connection):
        # A chain whose every event was archived with its partition has its head in event_archive_heads.
        dormant = sorted(cylinders - set(result))
        if dormant:
            result.update(partitions.archived_heads(connection, dormant))
    return result


# ``heads`` and ``foreign.heads`` at once, on a single PostgreSQL node.
_CHAIN_HEADS = (
    "SELECT e.cylinder, e.seq, e.hash FROM cylinders c JOIN events e ON e.cylinder = c.id AND e.seq = "
    "(SELECT MAX(x.seq) FROM events x WHERE x.cylinder = c.id) WHERE c.id = ANY(%b) UNION ALL "
    "SELECT f.cylinder, f.seq, f.hash FROM foreign_events f WHERE f.seq = "
    "(SELECT MAX(x.seq) FROM foreign_events x WHERE x.cylinder = f.cylinder) AND f.cylinder = ANY(%b)"
)


def chain_heads(connection: Connection, cylinders: Iterable[str]) -> dict[str, tuple[int, bytes]]:
    """``heads`` of chains that may have segments in other cities' logs: the newest of this ledger's own
    event and the other cities' events it verified (``foreign_events``, docs/regions.md)."""
    from .foreign import heads as foreign_heads

    wanted = set(cylinders)
    # Both in one statement, one round trip less on every write; a partitioned ledger also reads the heads
    # it kept of chains whose every event was archived (``heads``).
    if unnested(connection) and wanted and not partitions.partitioned(connection):
        found: dict[str, tuple[int, bytes]] = {}
        for cylinder, seq, digest in connection.exec_driver_sql(_CHAIN_HEADS, (sorted(wanted),) * 2):
            if cylinder not in found or found[cylinder][0] < seq:
                found[cylinder] = (seq, bytes(digest))
        return found
    result = heads(connection, wanted)
    for cylinder, (seq, digest) in foreign_heads(connection, wanted).items():
        if cylinder not in result or result[cylinder][0] < seq:
            result[cylinder] = (seq, digest)
    return result


def lock_heads(connection: Connection, cylinders: Iterable[str]) -> dict[str, tuple[int, bytes]]:
    """Lock the given cylinders and read their chain heads; unregistered codes are absent.

    Every registered cylinder has its ``register`` event, so the heads also say
    which codes exist.
    """
    wanted = set(cylinders)
    lock_cylinders(connection, wanted)
    return chain_heads(connection, wanted)


def log_size(connection: Connection) -> int:
    """How many events hold a log position (pending ids are negative and not counted)."""
    return connection.exec_driver_sql(
        f"SELECT COALESCE(MAX(id) + 1, 0) FROM {citus.log_table(connection)} WHERE id >= 0").scalar_one()


def deferred(connection: Connection) -> bool:
    """Whether this database sequences after commit (PostgreSQL, one node or a cluster) rather than in the write."""
    return connection.dialect.name == "postgresql"


def _pending_ids(connection: Connection, count: int) -> list[int]:
    """``count`` fresh pending ids, in drawing order (-1, -2, ... in magnitude order).

    The count is a parameter, not part of the text: one statement for every group size, which the
    driver prepares once per connection instead of parsing and planning each size anew."""
    drawn = connection.exec_driver_sql(
        "SELECT nextval('events_pending') FROM generate_series(1, %s)", (int(count),)).scalars().all()
    return [-number for number in sorted(drawn)]


# Every committed pending event, in the order its number was drawn: a chain's events in seq order.
_PENDING = "SELECT id FROM events WHERE id < 0 ORDER BY id DESC LIMIT {limit}"


# The pending events of ``_PENDING`` moved, in that order, to the positions after the log's last.
_MOVE = (
    "WITH pending AS (SELECT id, row_number() OVER (ORDER BY id DESC) - 1 AS n FROM ({pending}) AS p), "
    "size AS (SELECT COALESCE(MAX(id) + 1, 0) AS start FROM events WHERE id >= 0) "
    "UPDATE events SET id = size.start + pending.n FROM pending, size WHERE events.id = pending.id "
    "RETURNING pending.id, events.id"
)


def sequence(connection: Connection, limit: int = 10_000, *, adopt: bool = False) -> dict[int, int]:
    """Give committed pending events the next log positions, in the caller's (short) write transaction.

    Takes the log lock, so sequencers and the publisher take turns; reads, after
    the lock is held, the log size and up to ``limit`` committed pending events in
    the order their numbers were drawn, and moves each to its position. Returns
    ``pending id -> position``. A writer still in its transaction is not seen: its
    events are taken by the next run after its commit. On a cluster the coordinator's
    claims drive it (``citus.sequence``); ``adopt`` also looks on the shards for pending
    events whose claim a coordinator's crash in mid-commit lost.
    """
    if not deferred(connection):
        return {}
    take_log_lock(connection)
    if citus.distributed(connection):
        return citus.sequence(connection, limit, adopt=adopt)
    # One statement after the lock (whose snapshot sees every commit before it): which events wait,
    # the log's size and the moves, instead of three round trips.
    moved = connection.exec_driver_sql(_MOVE.format(pending=_PENDING.format(limit=int(limit)))).all()
    return dict(sorted(((int(old), int(new)) for old, new in moved), key=lambda move: move[1]))


def any_pending(connection: Connection) -> bool:
    """Whether a committed event waits for its log position (one seek on the primary key; on a cluster,
    the coordinator's claims first, then one seek per shard)."""
    if citus.distributed(connection) and citus.any_claim_pending(connection):
        return True
    return connection.exec_driver_sql("SELECT 1 FROM events WHERE id < 0 LIMIT 1").first() is not None


def by_seq(connection: Connection, pairs: Iterable[tuple[str, int]]) -> dict[tuple[str, int], int]:
    """The current ids of the given (cylinder, seq) events."""
    found: dict[tuple[str, int], int] = {}
    wanted = sorted(set(pairs))
    if citus.distributed(connection):  # one cylinder's statement, one shard
        for cylinder in sorted({cylinder for cylinder, _ in wanted}):
            seqs = [seq for c, seq in wanted if c == cylinder]
            sql = f"SELECT seq, id FROM events WHERE cylinder = %s AND seq IN ({placeholders(connection, len(seqs))})"
            found.update(((cylinder, seq), id_) for seq, id_ in connection.exec_driver_sql(sql, (cylinder, *seqs)))
        return found
    for start in range(0, len(wanted), _CHUNK):
        chunk = wanted[start : start + _CHUNK]
        marks = ", ".join(f"({marker(connection)}, {marker(connection)})" for _ in chunk)
        sql = f"SELECT cylinder, seq, id FROM events WHERE (cylinder, seq) IN ({marks})"
        params = tuple(value for pair in chunk for value in pair)
        found.update(((cylinder, seq), id_) for cylinder, seq, id_ in connection.exec_driver_sql(sql, params))
    return found


def append(
    connection: Connection, items: Sequence[Prepared], recorded_at: datetime,
    chain: dict[str, tuple[int, bytes]] | None = None, *, later: bool = False,
) -> list[Event]:
    """Sequence and insert ``items`` (in order) in the caller's transaction.

    The cylinders must exist. ``chain`` is what ``lock_heads`` returned for them
    in this transaction, if the caller already asked; it is updated in place.
    Returns the stored events with their ``seq``, hashes and log positions. With ``later``
    on PostgreSQL (one node or a cluster) no log lock is taken: the events are stored pending
    (null ``log_index``) for ``sequence`` to place after the commit.
    """
    if not items:
        return []
    if chain is None:
        chain = lock_heads(connection, (item.event.cylinder for item in items))
    recorded = format_time(recorded_at)
    if later and deferred(connection):
        ids = _pending_ids(connection, len(items))
    else:
        take_log_lock(connection)
        start = log_size(connection)
        ids = list(range(start, start + len(items)))
    rows = []
    stored: list[Event] = []
    for item, position in zip(items, ids):
        new = item.event
        head = chain.get(new.cylinder)
        seq, prev = (0, None) if head is None else (head[0] + 1, head[1])
        prev_hex = None if prev is None else prev.hex()
        digest = event_hash(
            event_bytes(
                cylinder=new.cylinder,
                seq=seq,
                kind=new.kind.value,
                occurred_at=item.occurred_at,
                recorded_at=recorded,
                party=new.party,
                person=new.person,
                to=new.to,
                location_json=item.location,
                data_json=item.data,
                idempotency_key=new.idempotency_key,
                prev_hash_hex=prev_hex,
            )
        )
        chain[new.cylinder] = (seq, digest)
        rows.append(
            (position, new.cylinder, seq, new.kind.value, item.occurred_at, recorded, new.party,
             new.person, new.to, item.location, item.data, new.idempotency_key, prev, digest)
        )
        stored.append(
            Event(new.cylinder, seq, new.kind, new.occurred_at, recorded_at, new.party, new.person,
                  new.to, new.location, new.data, new.idempotency_key, prev, digest, position,
                  position if position >= 0 else None)
        )
    if citus.distributed(connection):  # the position's or pending id's claim on the key, ledger-wide
        citus.claim(connection, [(row[0], row[1], row[11]) for row in rows])
    if unnested(connection):
        connection.exec_driver_sql(f"INSERT INTO events ({COLUMNS}) {_UNNEST_EVENTS}", columns_of(rows))
    else:
        connection.exec_driver_sql(f"INSERT INTO events ({COLUMNS}) VALUES ({placeholders(connection, 14)})", rows)
    return stored


# The events' columns in ``COLUMNS`` order, as arrays.
_UNNEST_EVENTS = ("SELECT * FROM unnest(%b::bigint[], %b::text[], %b::int[], %b::text[], %b::text[], %b::text[], "
                  "%b::text[], %b::text[], %b::text[], %b::text[], %b::text[], %b::text[], %b::bytea[], %b::bytea[])")

_KINDS = {kind.value: kind for kind in EventKind}
# Sixteen digits in a row may be an integral double beyond 2^53; anything shorter is exact as an int.
_LONG_NUMBER = re.compile(r"[0-9]{16}")


def _data(stored: str) -> dict:
    if stored == "{}":
        return {}
    data = from_json(stored)
    return as_doubles(data) if _LONG_NUMBER.search(stored) else data


def from_row(row: Sequence) -> Event:
    """The event a stored row holds. Its JSON parts are decoded by pydantic-core: the same values as
    ``json.loads`` gives for the canonical text stored, several times faster for short texts, with
    integers beyond ±2^53 read as the doubles they were written from (``canonical.as_doubles``)."""
    (id_, cylinder, seq, kind, occurred_at, recorded_at, party, person, to, location, data, key, prev, digest) = row
    loc = None if location == "null" else Location(**from_json(location))
    return Event(
        cylinder, seq, _KINDS[kind], datetime.fromisoformat(occurred_at), datetime.fromisoformat(recorded_at),
        party, person, to, loc, _data(data), key,
        None if prev is None else bytes(prev), bytes(digest), id_, id_ if id_ >= 0 else None,
    )


def by_idempotency_keys(connection: Connection, keys: Iterable[str]) -> dict[str, Event]:
    found: dict[str, Event] = {}
    if citus.distributed(connection):
        # The claim names the cylinder; the event is read by its key on that one shard, so a claim moved by
        # the sequencer meanwhile (pending id to position) cannot hide it.
        for cylinder, key in citus.claims(connection, keys):
            row = connection.exec_driver_sql(
                f"SELECT {COLUMNS} FROM events WHERE cylinder = %s AND idempotency_key = %s", (cylinder, key)).first()
            if row is not None:
                found[key] = from_row(row)
        return found
    for condition, params in among(connection, "idempotency_key", keys):
        for row in connection.exec_driver_sql(f"SELECT {COLUMNS} FROM events WHERE {condition}", params):
            event = from_row(row)
            found[event.idempotency_key] = event
    return found


def get(connection: Connection, event_id: int) -> Event | None:
    if citus.distributed(connection):
        located = citus.positions(connection, "id", [int(event_id)])
        return None if not located else _on_shard(connection, *located[0])
    row = connection.execute(text(f"SELECT {COLUMNS} FROM events WHERE id = :id"), {"id": event_id}).first()
    return None if row is None else from_row(row)


def _on_shard(connection: Connection, cylinder: str, event_id: int) -> Event | None:
    """The event at ``event_id`` of ``cylinder``'s chain: one shard's query on a Citus cluster."""
    row = connection.execute(text(f"SELECT {COLUMNS} FROM events WHERE cylinder = :c AND id = :id"),
                             {"c": cylinder, "id": event_id}).first()
    return None if row is None else from_row(row)


def raw_history(connection: Connection, cylinder: str) -> list[tuple]:
    """A cylinder's stored rows as they are, by seq (for re-hashing)."""
    return [tuple(row) for row in connection.execute(
        text(f"SELECT {COLUMNS} FROM events WHERE cylinder = :c ORDER BY seq"), {"c": cylinder})]


def history(connection: Connection, cylinder: str, after_seq: int = -1, limit: int | None = None) -> list[Event]:
    sql = f"SELECT {COLUMNS} FROM events WHERE cylinder = :c AND seq > :s ORDER BY seq"
    params: dict[str, object] = {"c": cylinder, "s": after_seq}
    if limit is not None:
        sql += " LIMIT :l"
        params["l"] = limit
    return [from_row(row) for row in connection.execute(text(sql), params)]


def every_history(connection: Connection) -> Iterator[Event]:
    """Every stored event, one cylinder's chain after another, each by seq."""
    for row in connection.exec_driver_sql(f"SELECT {COLUMNS} FROM events ORDER BY cylinder, seq"):
        yield from_row(row)
