"""`ledger keys rotate-personal`, and the sealing of end users' plaintext rows that `init` and `serve` run.

The personal-data key file (LEDGER_PERSONAL_KEY_FILE) seals end users' name, phone and
address (ledger.sealing, docs/privacy.md). A rotation adds a new key version, re-seals every
row with it and recomputes every phone's lookup hash; with ``--retire`` it then drops the
versions no row uses any more.
"""

from __future__ import annotations

from typing import Annotated, Optional

import typer
from rich.console import Console

from ledger.config import Settings
from ledger.errors import LedgerError
from ledger.sealing import add_version, ensure_personal_keys, retire_versions
from ledger.service.endusers import reseal_all, seal_plaintext_rows, versions_in_use
from ledger.storage import Database
from ledger.storage.endusers import compact

__all__ = ["app", "seal_plaintext"]

err = Console(stderr=True)
app = typer.Typer(help="The keys kept outside the database.", no_args_is_help=True)
DbOption = Annotated[Optional[str], typer.Option("--db", help="Database URL (default: LEDGER_DATABASE_URL or sqlite:///ledger.db)")]


def seal_plaintext(settings: Settings, database: Database) -> tuple[bool, int]:
    """Create the personal-data key if missing, then seal the rows still in plaintext (rows from
    before schema revision 0015) and compact the table they were in. Returns (key created, rows sealed)."""
    keys, created = ensure_personal_keys(settings.personal_key_file)
    with database.writing() as connection:
        sealed = seal_plaintext_rows(connection, keys)
    if sealed:
        compact(database)
    return created, sealed


@app.command("rotate-personal")
def rotate_personal(
    db: DbOption = None,
    retire: Annotated[bool, typer.Option("--retire", help="Afterwards drop every older key version from the file")] = False,
) -> None:
    """Add a personal-data key version and re-seal every end user with it (phone lookup hashes too)."""
    settings = Settings.from_env(database_url=db)
    database = Database(settings.database_url)
    try:
        if not settings.personal_key_file.exists():
            raise LedgerError(f"no personal-data key at {settings.personal_key_file}: run `ledger init` first")
        keys = add_version(settings.personal_key_file)
        with database.writing() as connection:
            resealed = reseal_all(connection, keys) + seal_plaintext_rows(connection, keys)
        if resealed:
            compact(database)
        note = ""
        if retire:
            with database.reading() as connection:
                used = versions_in_use(connection)
            keys = retire_versions(settings.personal_key_file, used)
            note = f"; versions kept: {', '.join(map(str, keys.versions))}"
    except LedgerError as exc:
        err.print(f"[red]error:[/red] {exc.message}")
        raise typer.Exit(2) from exc
    finally:
        database.dispose()
    err.print(f"personal-data key version {keys.current} at {settings.personal_key_file}; "
              f"{resealed} end user(s) re-sealed{note}")
