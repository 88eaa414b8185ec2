"""`ledger report`: the bureau's day / week / month report as an XLSX and a PDF (docs/reports.md)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console

err = Console(stderr=True)


def report_command(
    period: Annotated[str, typer.Option("--period", help="day, week (Monday to Sunday) or month")],
    out: Annotated[Path, typer.Option("--out", help="Folder to write the .xlsx and .pdf into")],
    region: Annotated[Optional[str], typer.Option("--region", help="A 6-digit district code (default: the whole city)")] = None,
    at: Annotated[Optional[str], typer.Option("--at", help="A local day in the period, e.g. 2026-12-05 (default: the last complete period)")] = None,
    db: Annotated[Optional[str], typer.Option("--db", help="Database URL (default: LEDGER_DATABASE_URL or sqlite:///ledger.db)")] = None,
) -> None:
    """Write the supervision report (new / closed / overdue cases, enterprise colours, risk lists) for one period."""
    from api.report_files import to_pdf, to_xlsx
    from ledger.config import Settings
    from ledger.errors import LedgerError
    from ledger.reports import check_region, period as find_period
    from ledger.reports import build
    from ledger.service import Ledger

    ledger = Ledger(Settings.from_env(database_url=db))
    try:
        find_period(period, at, ledger.rules_config.local_offset)  # refuse bad input before touching anything
        check_region(region)
        if out.exists() and not out.is_dir():
            raise typer.BadParameter(f"{out} is not a folder", param_hint="--out")
        with ledger.db.reading() as connection:
            report = build(ledger, connection, period, at=at, region=region)
        files = {"xlsx": to_xlsx(report), "pdf": to_pdf(report)}
    except LedgerError as exc:
        err.print(f"[red]error:[/red] {exc.message}")
        raise typer.Exit(2) from exc
    finally:
        ledger.db.dispose()
    out.mkdir(parents=True, exist_ok=True)
    stem = f"report-{period}-{report.period.first.isoformat()}" + (f"-{region}" if region else "")
    for suffix, content in files.items():
        (out / f"{stem}.{suffix}").write_bytes(content)
        typer.echo(str(out / f"{stem}.{suffix}"))
