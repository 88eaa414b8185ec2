"""Connections to the ledger's database: SQLite (embedded default) or PostgreSQL.

Two engines share one URL: a *writer* whose transactions on SQLite begin with
``BEGIN IMMEDIATE`` (so concurrent writers queue on the busy timeout instead of
failing on a lock upgrade), and a *reader* for queries. On PostgreSQL both are
pooled; appends serialise per cylinder with row locks and on the log with an
advisory lock (see ``ledger.storage.events``).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Connection, Engine, create_engine, event, inspect, text
from sqlalchemy.engine import make_url

__all__ = ["Database", "LOG_LOCK"]

# Key of the PostgreSQL advisory lock that guards log positions.
LOG_LOCK = 0x6C6F67  # "log"

_MIGRATIONS = Path(__file__).parent / "migrations"


class Database:
    """The ledger's database; use ``writing()`` and ``reading()`` for transactions."""

    def __init__(self, url: str, *, pool_size: int = 10, echo: bool = False) -> None:
        self.url = make_url(url)
        self.dialect = self.url.get_backend_name()
        if self.dialect == "sqlite":
            self.writer = self._sqlite_engine(immediate=True, echo=echo)
            self.reader = self._sqlite_engine(immediate=False, echo=echo)
        elif self.dialect == "postgresql":
            if self.url.drivername == "postgresql":
                self.url = self.url.set(drivername="postgresql+psycopg")
            self.writer = create_engine(
                self.url, pool_size=pool_size, max_overflow=pool_size, pool_pre_ping=True, echo=echo
            )
            self.reader = self.writer
        else:
            raise ValueError(f"unsupported database {self.dialect!r}: use sqlite or postgresql")

    @property
    def is_sqlite(self) -> bool:
        return self.dialect == "sqlite"

    def _sqlite_engine(self, *, immediate: bool, echo: bool) -> Engine:
        engine = create_engine(
            self.url, echo=echo, connect_args={"check_same_thread": False, "timeout": 60}
        )

        @event.listens_for(engine, "connect")
        def _configure(dbapi_connection, _record) -> None:
            # Let SQLAlchemy's "begin" event decide how transactions start.
            dbapi_connection.isolation_level = None
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            # FULL: a commit survives power loss, not just a killed process.
            cursor.execute("PRAGMA synchronous=FULL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA busy_timeout=60000")
            # 256 MiB of page cache: the (cylinder, seq) and key indexes stay in memory at a province's scale.
            cursor.execute("PRAGMA cache_size=-262144")
            cursor.close()

        @event.listens_for(engine, "begin")
        def _begin(connection) -> None:
            connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

        return engine

    @contextlib.contextmanager
    def writing(self) -> Iterator[Connection]:
        """A write transaction: committed when the block ends, rolled back on error."""
        with self.writer.begin() as connection:
            yield connection

    @contextlib.contextmanager
    def reading(self) -> Iterator[Connection]:
        """A read transaction over one consistent snapshot."""
        with self.reader.connect() as connection:
            with connection.begin():
                yield connection

    def migrate(self) -> str:
        """Create or upgrade the schema to the newest revision; returns that revision."""
        config = Config()
        config.set_main_option("script_location", str(_MIGRATIONS))
        with self.writer.begin() as connection:
            config.attributes["connection"] = connection
            command.upgrade(config, "head")
        with self.reader.connect() as connection:
            return connection.execute(text("SELECT version_num FROM alembic_version")).scalar_one()

    def is_migrated(self) -> bool:
        with self.reader.connect() as connection:
            return inspect(connection).has_table("events")

    def dispose(self) -> None:
        self.writer.dispose()
        if self.reader is not self.writer:
            self.reader.dispose()
