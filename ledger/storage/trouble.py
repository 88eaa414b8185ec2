"""A database that cannot be used, said as one sentence an operator can act on (no traceback).

``explain(exc)`` answers for the failures a first run meets: a URL that is not one, a PostgreSQL
URL without its driver installed, a database nobody has run ``ledger init`` on, a server that does
not answer. Anything else is ``None``: a real fault, left to show itself in full.
"""

from __future__ import annotations

from sqlalchemy import exc as sa

__all__ = ["explain"]

EXAMPLES = "e.g. sqlite:///ledger.db or postgresql://ledger@127.0.0.1/ledger"
# Python modules SQLAlchemy imports for a PostgreSQL URL's driver (postgresql+<driver>://).
POSTGRES_DRIVERS = {"psycopg", "psycopg2", "pg8000", "asyncpg", "psycopg2cffi", "pgdb"}
MISSING_TABLE = ("no such table", "undefinedtable", "does not exist")


def explain(error: BaseException) -> str | None:
    """The plain reason ``error`` stops a command, or ``None`` if it is not one of the known ones."""
    if isinstance(error, sa.ArgumentError) and "url" in str(error).lower():
        return f"the database URL cannot be read ({_first_line(error)}): {EXAMPLES}"
    if isinstance(error, sa.NoSuchModuleError):
        return f"the database URL names an unknown database or driver ({_first_line(error)}): {EXAMPLES}"
    if isinstance(error, ModuleNotFoundError) and (error.name or "").split(".")[0] in POSTGRES_DRIVERS:
        return (f"PostgreSQL needs its driver, which is not installed (no module {error.name!r}): "
                "pip install 'cylinder-ledger[postgres]'")
    if isinstance(error, ValueError) and str(error).startswith("unsupported database"):
        return f"{error}; {EXAMPLES}"
    if isinstance(error, sa.DBAPIError):
        text = f"{type(error.orig).__name__} {error.orig}".lower()
        if isinstance(error, (sa.OperationalError, sa.ProgrammingError)) and any(m in text for m in MISSING_TABLE) \
                and ("table" in text or "relation" in text):
            return "the database has no ledger schema yet: run `ledger init` first"
        if isinstance(error, sa.OperationalError):
            return f"cannot use the database: {_first_line(error.orig)}"
    return None


def _first_line(error: BaseException | None) -> str:
    return str(error).strip().splitlines()[0] if error is not None and str(error).strip() else type(error).__name__
