"""``ledger export-epcis``: the ledger's events as one GS1 EPCIS 2.0 document, streamed to a file."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from ledger.config import Settings
from ledger.domain import parse_time
from ledger.errors import InvalidInput
from ledger.service.epcis import count_events, write_document
from ledger.storage import Database

__all__ = ["export_epcis"]

err = Console(stderr=True)


def export_epcis(
    out: Annotated[Path, typer.Option("--out", help="The EPCISDocument to write (JSON-LD)")],
    since: Annotated[Optional[str], typer.Option("--since", help="Only events recorded at or after this RFC 3339 time")] = None,
    until: Annotated[Optional[str], typer.Option("--until", help="Only events recorded before this RFC 3339 time")] = None,
    db: Annotated[Optional[str], typer.Option("--db", help="Database URL (default: LEDGER_DATABASE_URL or sqlite:///ledger.db)")] = None,
) -> None:
    """Write every event recorded in [--since, --until) as one GS1 EPCIS 2.0 EPCISDocument (docs/epcis.md).

    Streams in log order in constant memory; a progress bar on a terminal. The file appears only once complete.
    """
    try:
        start = None if since is None else parse_time(since, "--since")
        end = None if until is None else parse_time(until, "--until")
    except InvalidInput as exc:
        err.print(f"[red]error:[/red] {exc.message}")
        raise typer.Exit(2) from exc
    if start is not None and end is not None and start >= end:
        err.print("[red]error:[/red] --since must be before --until")
        raise typer.Exit(2)
    partial = out.with_name(out.name + ".partial")
    database = Database(Settings.from_env(database_url=db).database_url)
    try:
        ready = database.is_migrated()
    except Exception as exc:  # noqa: BLE001 - any failure to reach the database is the user's to fix
        database.dispose()
        err.print(f"[red]error:[/red] cannot read the ledger's database: {str(exc).splitlines()[0]}")
        raise typer.Exit(2) from exc
    if not ready:
        database.dispose()
        err.print("[red]error:[/red] this database holds no ledger (or an older schema): run `ledger init` first")
        raise typer.Exit(2)
    try:
        with database.reading() as connection, open(partial, "w", encoding="utf-8") as file:
            total = count_events(connection, start, end)
            with Progress(TextColumn("exporting"), BarColumn(), MofNCompleteColumn(), TextColumn("events"),
                          TimeElapsedColumn(), TimeRemainingColumn(), console=err,
                          disable=not sys.stderr.isatty()) as progress:
                task = progress.add_task("events", total=total)
                written = write_document(connection, file, since=start, until=end,
                                         progress=lambda n: progress.update(task, completed=n))
        os.replace(partial, out)
    except OSError as exc:
        partial.unlink(missing_ok=True)
        err.print(f"[red]error:[/red] cannot write {out}: {exc.strerror}")
        raise typer.Exit(2) from exc
    finally:
        database.dispose()
    typer.echo(f"{written} events written to {out}")
