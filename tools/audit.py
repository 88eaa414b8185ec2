"""``ledger audit``: one round of the incremental audit from the command line (docs/audit.md).

What the server's auditor does every interval, for a ledger no server is
serving, or from a cron job: sign a checkpoint if the log grew, audit what is
new since the audited position plus the rolling share of the rest, store the
position and a finding per broken cylinder. Exit 0: nothing found; exit 1: each
defect is printed (cylinder, seq, kind).
"""

from __future__ import annotations

import json
from typing import Annotated, Optional

import typer

from api.auditor import Auditor
from ledger.config import Settings
from ledger.service import Ledger


def audit_command(
    db: Annotated[Optional[str], typer.Option("--db", help="Database URL (default: LEDGER_DATABASE_URL)")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per defect, then a summary")] = False,
) -> None:
    """One round of the incremental audit: new events, a rolling re-check, projections. Exit 1 on any defect."""
    settings = Settings.from_env(database_url=db)
    ledger = Ledger(settings)
    try:
        auditor = Auditor(ledger)
        done = auditor.audit_once()
        for item in auditor.found:
            if as_json:
                typer.echo(json.dumps(item.as_dict(), ensure_ascii=False))
            else:
                where = f"{item.cylinder} seq {item.seq}" if item.cylinder else "log"
                typer.echo(f"DISPUTED {where}: {item.kind} — {item.detail}")
        summary = {"status": "disputed" if done.breaks else "consistent", "new_events": done.new_events,
                   "rechecked": done.rechecked, "breaks": done.breaks, "findings_raised": done.raised}
        typer.echo(json.dumps(summary) if as_json else
                   f"{summary['status']}: {done.new_events} new events audited, {done.rechecked} re-checked, "
                   f"{done.breaks} defects, {len(done.raised)} findings raised")
    finally:
        ledger.db.dispose()
    raise typer.Exit(1 if done.breaks else 0)
