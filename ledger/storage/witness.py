"""A witness's own database: the logs it watches and the latest checkpoint it cosigned for each.

The witness's database is not a ledger's: it holds two small tables made from
their own metadata here, not by the ledger's Alembic chain. ``create`` makes
any that are missing and records ``SCHEMA_VERSION`` in ``witness_meta``; it is
safe to run again. A later change of these tables raises the version and adds
its step to ``_UPGRADES``; a database written by a newer version is refused
rather than misread.

Never cosigning two inconsistent checkpoints of one log, nor a smaller after a
larger, rests on ``advance``: the stored state is read and replaced in one write
transaction, with the log's row locked (``SELECT ... FOR UPDATE`` on
PostgreSQL; on SQLite the transaction begins with ``BEGIN IMMEDIATE``, so one
writer at a time), and the row is replaced only where it still holds the size
that was read. The transaction commits before the cosignature is returned
(c2sp.org/tlog-witness: "The witness MUST persist the new checkpoint before
responding", and the check and the update "must be performed atomically").
"""

from __future__ import annotations

import time
from collections.abc import Callable

from sqlalchemy import BigInteger, Column, LargeBinary, MetaData, String, Table, Text, insert, select, update

from ..errors import Conflict, InvalidInput
from ..witness import Cosigned, LogState, origin_hash
from .db import Database

__all__ = ["WitnessStore", "SCHEMA_VERSION"]

SCHEMA_VERSION = 1
_UPGRADES: dict[int, Callable[[object], None]] = {}  # version n -> the step from n to n + 1

metadata = MetaData()

meta = Table(
    "witness_meta", metadata,
    Column("key", String(64), primary_key=True),
    Column("value", Text, nullable=False),
)

logs = Table(
    "witness_logs", metadata,
    Column("origin", Text, primary_key=True),
    Column("origin_hash", String(64), nullable=False, unique=True),
    Column("vkey", Text, nullable=False),
    Column("size", BigInteger, nullable=False),
    Column("root", LargeBinary, nullable=True),
    Column("note", Text, nullable=True),
    Column("cosigned_at", BigInteger, nullable=True),
    Column("added_at", BigInteger, nullable=False),
)


class WitnessStore:
    """The witness's state on SQLite (a file) or PostgreSQL."""

    def __init__(self, url: str) -> None:
        self.db = Database(url, pool_size=8)

    def dispose(self) -> None:
        self.db.dispose()

    def create(self) -> None:
        """Create the tables if missing and check the schema version; safe to run again."""
        with self.db.writing() as connection:
            metadata.create_all(connection, checkfirst=True)
            stored = connection.execute(select(meta.c.value).where(meta.c.key == "schema_version")).scalar()
            if stored is None:
                connection.execute(insert(meta).values(key="schema_version", value=str(SCHEMA_VERSION)))
                return
            version = int(stored)
            if version > SCHEMA_VERSION:
                raise InvalidInput(f"this witness database has schema version {version}, newer than this program's")
            while version < SCHEMA_VERSION:
                _UPGRADES[version](connection)
                version += 1
            connection.execute(update(meta).where(meta.c.key == "schema_version").values(value=str(version)))

    def setting(self, key: str) -> str | None:
        with self.db.reading() as connection:
            return connection.execute(select(meta.c.value).where(meta.c.key == key)).scalar()

    def settle(self, key: str, value: str) -> bool:
        """Store ``key`` once; the same value again is fine (False), another one is a ``Conflict``."""
        with self.db.writing() as connection:
            stored = connection.execute(select(meta.c.value).where(meta.c.key == key).with_for_update()).scalar()
            if stored is None:
                connection.execute(insert(meta).values(key=key, value=value))
                return True
            if stored != value:
                raise Conflict(f"this witness already has {key} {stored!r}, not {value!r}")
            return False

    def add_log(self, origin: str, vkey: str) -> bool:
        """Watch ``origin`` under ``vkey``; True if added, False if already watched with that key."""
        with self.db.writing() as connection:
            stored = connection.execute(select(logs.c.vkey).where(logs.c.origin == origin).with_for_update()).scalar()
            if stored is None:
                connection.execute(insert(logs).values(origin=origin, origin_hash=origin_hash(origin), vkey=vkey,
                                                       size=0, root=None, note=None, added_at=int(time.time())))
                return True
            if stored != vkey:
                raise Conflict(f"the log {origin!r} is already watched with another key: {stored}")
            return False

    def log(self, origin: str) -> LogState | None:
        with self.db.reading() as connection:
            row = connection.execute(select(logs).where(logs.c.origin == origin)).first()
        return None if row is None else _state(row)

    def logs(self) -> list[LogState]:
        with self.db.reading() as connection:
            return [_state(row) for row in connection.execute(select(logs).order_by(logs.c.origin))]

    def latest_note(self, hashed_origin: str) -> str | None:
        """The latest cosigned checkpoint of the log whose origin hashes to ``hashed_origin``."""
        with self.db.reading() as connection:
            return connection.execute(select(logs.c.note).where(logs.c.origin_hash == hashed_origin)).scalar()

    def advance(self, origin: str, step: Callable[[LogState | None], Cosigned]) -> Cosigned:
        """Lock the log's row, let ``step`` decide on its state, store what it returns; one transaction.

        ``step`` raises to refuse, and then nothing changes.
        """
        with self.db.writing() as connection:
            row = connection.execute(select(logs).where(logs.c.origin == origin).with_for_update()).first()
            state = None if row is None else _state(row)
            outcome = step(state)
            assert state is not None  # a step cosigns only a log it knows
            done = connection.execute(
                update(logs).where(logs.c.origin == origin, logs.c.size == state.size)
                .values(size=outcome.size, root=outcome.root, note=outcome.note, cosigned_at=outcome.timestamp))
            if done.rowcount != 1:
                raise RuntimeError(f"the state of {origin!r} changed under its lock")  # rolls back: nothing cosigned
        return outcome


def _state(row) -> LogState:
    return LogState(row.origin, row.vkey, row.size, None if row.root is None else bytes(row.root), row.note)
