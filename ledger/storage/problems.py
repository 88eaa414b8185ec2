"""Database errors a person can fix, recognised where SQLAlchemy is (the command line asks here).

``no_schema``: a statement met a table that is not there, so ``ledger init`` has not
made the schema (SQLite "no such table"; PostgreSQL SQLSTATE 42P01, undefined_table).
``sqlite_files``: the files a SQLite URL's database lives in, so a command that failed
before the schema existed can remove the empty file its connection created.
"""

from __future__ import annotations

from pathlib import Path

from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, DBAPIError

__all__ = ["no_schema", "sqlite_files"]

_UNDEFINED_TABLE = "42P01"


def no_schema(exc: BaseException) -> bool:
    if not isinstance(exc, DBAPIError):
        return False
    code = getattr(exc.orig, "sqlstate", None) or getattr(exc.orig, "pgcode", None)
    return code == _UNDEFINED_TABLE or (code is None and "no such table" in str(exc.orig))


def sqlite_files(url: str) -> list[Path]:
    """The database file with the writer's turn file and SQLite's own beside it; none for other URLs."""
    try:
        parsed = make_url(url)
    except ArgumentError:
        return []
    if parsed.get_backend_name() != "sqlite" or not parsed.database or parsed.database == ":memory:":
        return []
    return [Path(parsed.database + suffix) for suffix in ("", "-writer", "-wal", "-shm", "-journal")]
