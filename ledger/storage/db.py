"""Connections to the ledger's database: SQLite (embedded default) or PostgreSQL.

Two engines share one URL: a *writer* whose transactions on SQLite begin with
``BEGIN IMMEDIATE`` (so concurrent writers queue on the busy timeout instead of
failing on a lock upgrade), and a *reader* for queries. On PostgreSQL both are
pooled; appends serialise per cylinder with row locks and on the log with an
advisory lock (see ``ledger.storage.events``).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import select
import threading
import time
from collections.abc import Iterator
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Connection, Engine, create_engine, event, exc, inspect, text
from sqlalchemy.engine import make_url

__all__ = ["Database", "LOG_LOCK", "WriterTurn", "ping"]

# How often a process that writes a SQLite database copies its write-ahead log into it.
CHECKPOINT_SECONDS = 1.0
# A log this long (SQLite's own checkpoint threshold, in pages) is started again from its beginning
# once copied, and a restart waits at most this long for readers still in it.
RESTART_FRAMES = 1000
RESTART_WAIT_MS = 20
# How long a SQLite connection waits for a lock held by a writer that does not take the turn.
BUSY_TIMEOUT_MS = 60_000

# A pooled PostgreSQL connection idle longer than this is asked a trivial question before it is used.
PING_IDLE_SECONDS = 5.0

# Key of the PostgreSQL advisory lock that guards log positions.
LOG_LOCK = 0x6C6F67  # "log"

_MIGRATIONS = Path(__file__).parent / "migrations"


class WriterTurn:
    """Whose turn it is to write a SQLite database, across threads and processes.

    SQLite lets one writer in at a time, and a writer that finds the lock taken
    polls for it, sleeping longer and longer between tries (up to 100 ms), so
    under load the lock sits free while writers sleep. Writers of this ledger
    queue instead on an exclusive ``flock`` of a file beside the database (a
    thread lock within the process), which hands the turn over the moment it is
    released; ``BEGIN IMMEDIATE`` then finds the database free. The kernel drops
    the ``flock`` of a process that dies. One turn per file and process
    (``for_file``); a thread that waits longer than SQLite's busy timeout for
    another of its process gets ``TimeoutError``. The turn may be released by
    another thread than the one that took it (a web framework may enter and
    leave a request's transaction on different worker threads), so the thread
    lock is a plain lock, not one that belongs to a thread; a turn is not
    re-entrant, as SQLite's lock is not.
    """

    _open: dict[Path, WriterTurn] = {}
    _registry = threading.Lock()

    def __init__(self, path: Path, timeout: float = 60.0) -> None:
        self.path = path
        self.timeout = timeout
        self._threads = threading.Lock()
        self._users = 0
        self._fd: int | None = None
        self._pid = 0

    @classmethod
    def for_file(cls, path: Path) -> WriterTurn:
        """The process's turn for ``path``, shared by every ``Database`` on that file; ``release`` it after use."""
        path = path.resolve()
        with cls._registry:
            turn = cls._open.get(path)
            if turn is None:
                turn = cls._open[path] = cls(path)
            turn._users += 1
            return turn

    def release(self) -> None:
        with self._registry:
            self._users -= 1
            if self._users > 0:
                return
            self._open.pop(self.path, None)
        if self._threads.acquire(blocking=False):  # a writer still inside keeps the file open
            try:
                if self._fd is not None and self._pid == os.getpid():
                    os.close(self._fd)
                    self._fd = None
            finally:
                self._threads.release()

    def __enter__(self) -> None:
        if not self._threads.acquire(timeout=self.timeout):
            raise TimeoutError(f"another writer of this process has held {self.path.name} for {self.timeout:g} s")
        try:
            fcntl.flock(self._file(), fcntl.LOCK_EX)
        except BaseException:
            self._threads.release()
            raise

    def __exit__(self, *_exc: object) -> None:
        try:
            if self._fd is not None:
                fcntl.flock(self._fd, fcntl.LOCK_UN)
        finally:
            self._threads.release()

    def _file(self) -> int:
        if self._fd is None or self._pid != os.getpid():  # a forked child must not share the parent's lock
            self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
            self._pid = os.getpid()
        return self._fd


class Database:
    """The ledger's database; use ``writing()`` and ``reading()`` for transactions.

    Its engines never show a statement's parameters in an error's text: a refused write's
    traceback would otherwise print people's names and notes to the server's log.
    """

    def __init__(self, url: str, *, pool_size: int = 10, echo: bool = False) -> None:
        self.url = make_url(url)
        self.dialect = self.url.get_backend_name()
        self._turn: WriterTurn | None = None
        self._turn_file: Path | None = None
        self._checkpointing = threading.Lock()
        self._checkpointed = time.monotonic()
        if self.dialect == "sqlite":
            if self.url.database and self.url.database != ":memory:":
                self._turn_file = Path(self.url.database + "-writer")
            self.writer = self._sqlite_engine(immediate=True, echo=echo, pool_size=pool_size)
            self.reader = self._sqlite_engine(immediate=False, echo=echo, pool_size=pool_size)
        elif self.dialect == "postgresql":
            if self.url.drivername == "postgresql":
                self.url = self.url.set(drivername="postgresql+psycopg")
            self.writer = create_engine(
                self.url, pool_size=pool_size, max_overflow=pool_size, echo=echo, hide_parameters=True,
            )
            _check_on_checkout(self.writer)
            self.reader = self.writer
        else:
            raise ValueError(f"unsupported database {self.dialect!r}: use sqlite or postgresql")

    @property
    def is_sqlite(self) -> bool:
        return self.dialect == "sqlite"

    def _sqlite_engine(self, *, immediate: bool, echo: bool, pool_size: int) -> Engine:
        # A file's engines pool like PostgreSQL's; an in-memory database is one connection per thread.
        pool = {} if self._turn_file is None else {"pool_size": pool_size, "max_overflow": pool_size}
        engine = create_engine(
            self.url, echo=echo, connect_args={"check_same_thread": False, "timeout": BUSY_TIMEOUT_MS / 1000},
            hide_parameters=True, **pool
        )

        @event.listens_for(engine, "connect")
        def _configure(dbapi_connection, _record) -> None:
            # Let SQLAlchemy's "begin" event decide how transactions start.
            dbapi_connection.isolation_level = None
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            # FULL: a commit survives power loss, not just a killed process.
            cursor.execute("PRAGMA synchronous=FULL")
            # No checkpoint inside a commit, where it would hold the write turn: ``writing`` runs them after.
            cursor.execute("PRAGMA wal_autocheckpoint=0")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
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
        if self._turn_file is None:
            with self.writer.begin() as connection:
                if self.dialect == "postgresql":
                    from . import citus

                    citus.before_writing(connection)
                yield connection
            return
        if self._turn is None:  # taken on first use, and again after dispose()
            self._turn = WriterTurn.for_file(self._turn_file)
        with self._turn:
            with self.writer.begin() as connection:
                yield connection
        self._checkpoint_if_due()

    def _checkpoint_if_due(self) -> None:
        """Copy the write-ahead log into the database file at most once per ``CHECKPOINT_SECONDS``,
        and start a long log again from its beginning.

        SQLite would otherwise copy it inside whichever commit fills the log past
        1,000 pages, holding every other writer up for tens of milliseconds. A
        passive checkpoint needs no write lock: it runs here, after the turn is
        handed on, and copies what no reader still needs.

        But SQLite writes the log from its beginning again only if, when a write
        begins, everything in it has been copied and no reader is still in it,
        and under a steady stream of writes another process has always appended
        more while the passive copy ran: the log then only grows (700 MB in
        eight seconds of batches), and every commit extends the file, which the
        file system must allocate and zero. So once a long log has been copied
        but for what was appended meanwhile, the rest is copied holding the
        turn, where nobody appends, and ``RESTART`` waits briefly for readers
        to leave the log; the next commit then overwrites the file from its
        beginning. A reader that stays longer (an audit's snapshot) only makes
        the restart wait for a later round.
        """
        if time.monotonic() - self._checkpointed < CHECKPOINT_SECONDS:
            return
        if not self._checkpointing.acquire(blocking=False):
            return  # another thread of this process is at it
        try:
            self._checkpointed = time.monotonic()
            raw = self.reader.raw_connection()  # plain sqlite3: no transaction is begun around the pragma
            try:
                sqlite = raw.driver_connection
                _, frames, _ = sqlite.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
                if frames < RESTART_FRAMES:
                    return
                # Again, for what was appended during the first copy: less is left to copy in the turn.
                _, frames, copied = sqlite.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
                turn = self._turn
                if turn is None or frames - copied >= RESTART_FRAMES:
                    return  # disposed meanwhile, or a reader holds an old snapshot: no restart yet
                with turn:
                    sqlite.execute(f"PRAGMA busy_timeout={RESTART_WAIT_MS}")
                    try:
                        sqlite.execute("PRAGMA wal_checkpoint(RESTART)").fetchone()
                    finally:
                        sqlite.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
            finally:
                raw.close()
        finally:
            self._checkpointing.release()

    @contextlib.contextmanager
    def reading(self) -> Iterator[Connection]:
        """A read transaction over one consistent snapshot.

        SQLite's read transaction is one snapshot by itself. PostgreSQL's default, READ COMMITTED, takes a
        new snapshot for every statement, so two reads of one use case (the stored projection, then the chain
        it must match; a chain's head, then the segments kept of it) could straddle another transaction's
        commit: there the transaction is REPEATABLE READ, one snapshot from its first statement, which a
        read-only transaction gets without ever failing for it. A Citus cluster keeps its default (its
        snapshots are per node, not one across them)."""
        with self.reader.connect() as connection:
            if self.dialect == "postgresql":
                from . import citus

                one_node = not citus.distributed(connection)
                connection.rollback()  # asking may have begun a transaction; the level is set before one
                if one_node:
                    connection.execution_options(isolation_level="REPEATABLE READ")
            with connection.begin():
                yield connection

    def migrate(self) -> str:
        """Create or upgrade the schema to the newest revision; returns that revision."""
        config = Config()
        config.set_main_option("script_location", str(_MIGRATIONS))
        with self.writer.begin() as connection:
            config.attributes["connection"] = connection
            command.upgrade(config, "head")
        if self.dialect == "postgresql":
            from . import citus  # a Citus coordinator: the schema is then spread over its workers

            with self.writer.begin() as connection:
                if citus.available(connection):
                    citus.distribute(connection)
        with self.reader.connect() as connection:
            return connection.execute(text("SELECT version_num FROM alembic_version")).scalar_one()

    def is_migrated(self) -> bool:
        with self.reader.connect() as connection:
            return inspect(connection).has_table("events")

    def dispose(self) -> None:
        if self._turn is not None:
            self._turn.release()
            self._turn = None
        self.writer.dispose()
        if self.reader is not self.writer:
            self.reader.dispose()


def _check_on_checkout(engine: Engine) -> None:
    """Hand out only live PostgreSQL connections, without a round trip for each.

    SQLAlchemy's ``pool_pre_ping`` sends a statement before every transaction: a group of single events
    paid five round trips for them (one per transaction). A server that ends a connection (a restart,
    ``pg_terminate_backend``, an idle timeout) tells the client and closes the socket, so an idle
    connection with something to read has been ended or is about to be: it is asked first. So is one
    idle for longer than ``PING_IDLE_SECONDS``, which a network may have dropped without a word. A
    connection that fails the question makes the pool drop every connection it holds, as a failed
    pre-ping does, and the checkout goes on with a new one.
    """

    @event.listens_for(engine, "checkin")
    def _idle(_dbapi_connection, record) -> None:
        record.info["ledger.idle_since"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _check(dbapi_connection, record, _proxy) -> None:
        idle_since = record.info.pop("ledger.idle_since", None)
        if idle_since is None:  # new, or handed out again without a checkin in between
            return
        if time.monotonic() - idle_since <= PING_IDLE_SECONDS and not _has_news(dbapi_connection):
            return
        try:
            engine.dialect.do_ping(dbapi_connection)
        except Exception as error:
            if engine.dialect.is_disconnect(error, dbapi_connection, None):
                raise exc.InvalidatePoolError(f"the database ended a pooled connection: {error}") from error
            raise


def _has_news(dbapi_connection) -> bool:
    """Whether an idle psycopg connection has bytes waiting (the server's goodbye) or is known closed."""
    if dbapi_connection.closed or dbapi_connection.broken:
        return True
    try:
        readable, _, _ = select.select([dbapi_connection.pgconn.socket], [], [], 0)
    except Exception:  # noqa: BLE001 - no socket left to ask: the server is asked
        return True
    return bool(readable)


def ping(connection: Connection) -> str:
    """Ask the database for a trivial answer on ``connection``; returns its dialect ("sqlite" or "postgresql").

    Raises the driver's error if the database does not answer, so a health check fails with it.
    """
    connection.execute(text("SELECT 1"))
    return connection.dialect.name
