"""``ledger partitions``: the blocks of a partitioned events table, and archiving old ones (docs/operations.md)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console

from ledger.config import Settings
from ledger.errors import LedgerError
from ledger.storage import Database
from ledger.storage import partitions

app = typer.Typer(help="Partitions of the events table by log position: list, create ahead, archive.",
                  no_args_is_help=True)
err = Console(stderr=True)

DbOption = Annotated[Optional[str], typer.Option("--db", help="Database URL (default: LEDGER_DATABASE_URL or sqlite:///ledger.db)")]
# Blocks kept empty ahead of the one being filled: the sequencer finds a partition for every new position.
AHEAD = 2


def _database(db: str | None) -> tuple[Settings, Database]:
    settings = Settings.from_env(database_url=db)
    database = Database(settings.database_url)
    with database.reading() as connection:
        if not partitions.partitioned(connection):
            database.dispose()
            err.print("[red]error:[/red] this ledger's events are not partitioned "
                      "(ledger init --partition-events WIDTH on PostgreSQL; docs/scale.md)")
            raise typer.Exit(2)
    return settings, database


@app.command("list")
def list_blocks(db: DbOption = None) -> None:
    """Every block of log positions: its partition, how many events it holds, when they were recorded, or its archive."""
    _, database = _database(db)
    try:
        with database.reading() as connection:
            found = partitions.blocks(connection)
            waiting = partitions.unsequenced(connection)
            top = connection.exec_driver_sql("SELECT COALESCE(MAX(id) + 1, 0) FROM events WHERE id >= 0").scalar_one()
    finally:
        database.dispose()
    for block in found:
        span = f"{block.first_recorded or '-'} .. {block.last_recorded or '-'}"
        where = f"archived {block.archive.archived_at} to {block.archive.file}" if block.archive else "attached"
        typer.echo(f"{block.name}\t{block.first}..{block.end - 1}\t{block.rows} events\t{span}\t{where}")
    typer.echo(f"{partitions.UNSEQUENCED}\t-\t{waiting} events waiting for a position\t\tattached")
    empty = sum(1 for block in found if block.archive is None and block.first >= top)
    if empty < AHEAD:
        err.print(f"[yellow]warning:[/yellow] only {empty} empty block(s) ahead of position {top}: "
                  "run `ledger partitions create` before the sequencer runs out")


@app.command("create")
def create(
    ahead: Annotated[int, typer.Option("--ahead", min=1, max=1000, help="Empty blocks to keep after the one being filled")] = AHEAD,
    db: DbOption = None,
) -> None:
    """Create the partitions of the next blocks of positions (run it from cron; safe to run twice)."""
    _, database = _database(db)
    try:
        with database.writing() as connection:
            made = partitions.create_ahead(connection, ahead)
    finally:
        database.dispose()
    typer.echo(f"created {', '.join(made)}" if made else "every block ahead exists; nothing created")


@app.command("archive")
def archive_command(
    partition: Annotated[str, typer.Argument(help="The partition's name (events_000012) or first log position")],
    to: Annotated[Path, typer.Option("--to", help="The directory the archive file is written to")],
    public_key: Annotated[Optional[str], typer.Option("--public-key", help="Log verifier key (default: from LEDGER_KEY_FILE)")] = None,
    db: DbOption = None,
) -> None:
    """Write a full, signed block's events to a file, keep its Merkle root, detach and drop its partition.

    Refused, with nothing changed, for the unsequenced partition, a block still being filled, a block no
    signed checkpoint covers, and a log that no longer reproduces that checkpoint."""
    from ledger.archival import archive
    from tools.cli import _verifier

    settings, database = _database(db)
    verifier = _verifier(settings, public_key)
    try:
        done = archive(database, verifier, partition, to)
    except LedgerError as exc:
        err.print(f"[red]error:[/red] {exc.message}")
        raise typer.Exit(2)
    finally:
        database.dispose()
    typer.echo(f"archived positions {done.first}..{done.end - 1} ({done.events} events, recorded "
               f"{done.first_recorded} .. {done.last_recorded}) to {done.file}; root {done.root.hex()} kept, "
               f"covered by the checkpoint at size {done.checkpoint_size}; sha256 {done.file_sha256.hex()}")
