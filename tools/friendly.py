"""The command line's last word on errors a person can fix: what to do, not a traceback.

The mistakes a new operator makes first: running a command before ``ledger init``
made the schema, giving a PostgreSQL URL on an install without the driver, a URL
that cannot be read, a server that does not answer (``ledger.storage.explain``
names each). They exit 2 with one line saying what to do. A SQLite file the
failed command created (connecting creates it) is removed again, so the mistake
changes nothing.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from pathlib import Path

from rich.console import Console
from rich.markup import escape

from ledger.storage import explain, problems

__all__ = ["run", "NO_SCHEMA", "NO_DRIVER"]

NO_SCHEMA = "the database has no ledger schema yet: run `ledger init` first (with the same --db)"
NO_DRIVER = "PostgreSQL needs its driver: pip install 'cylinder-ledger[postgres]'"
_DRIVERS = frozenset({"psycopg", "psycopg2", "psycopg_binary", "asyncpg", "pg8000"})

err = Console(stderr=True)


def run(app: Callable[[], object], argv: list[str] | None = None) -> None:
    """Run the typer ``app``; the two fixable mistakes end in one line and exit status 2."""
    files = _sqlite_files(sys.argv[1:] if argv is None else argv)
    existed = {path: path.exists() for path in files}
    try:
        app()
    except ModuleNotFoundError as exc:
        if (exc.name or "").split(".")[0] not in _DRIVERS:
            raise
        _fail(NO_DRIVER)
    except Exception as exc:
        reason = NO_SCHEMA if problems.no_schema(exc) else explain(exc)
        if reason is None:
            raise
        for path, was in existed.items():
            if not was and path.exists():
                path.unlink()  # the failed command's empty database file: leave the folder as it was
        _fail(reason)


def _sqlite_files(argv: list[str]) -> list[Path]:
    """The SQLite files the command will open, when its database is a SQLite file."""
    url = os.environ.get("LEDGER_DATABASE_URL", "sqlite:///ledger.db")
    for i, arg in enumerate(argv):
        if arg == "--db" and i + 1 < len(argv):
            url = argv[i + 1]
        elif arg.startswith("--db="):
            url = arg.split("=", 1)[1]
    return problems.sqlite_files(url)


def _fail(message: str) -> None:
    err.print(f"[red]error:[/red] {escape(message)}", soft_wrap=True)
    raise SystemExit(2)
