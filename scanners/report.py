"""What the driver reads: scans as a table, and loud warnings for cylinders not to deliver.

Words are short and plain (drivers may read English as a second language);
anything that means "stop" is in capitals and red.
"""

from __future__ import annotations

from typing import Any, Iterable

from rich.console import Console
from rich.table import Table
from rich.text import Text

from ledger import tracecode
from ledger.domain import FindingKind, Severity

from .outbox import StoredScan

__all__ = ["finding_words", "must_not_deliver", "scans_table", "warnings"]

_WORDS = {
    FindingKind.CHAIN_TAMPERED: "its records were tampered with",
    FindingKind.SEQUENCE_GAP: "some of its records are missing",
    FindingKind.CHECKPOINT_MISMATCH: "its records do not match the signed log",
    FindingKind.CUSTODY_JUMP: "not in your custody (nobody handed it to you)",
    FindingKind.HANDOVER_UNCONFIRMED: "handover not confirmed",
    FindingKind.EVENT_AFTER_SCRAP: "SCRAPPED cylinder",
    FindingKind.FILLED_OVERDUE_INSPECTION: "inspection OVERDUE",
    FindingKind.FILLED_PAST_DESIGN_LIFE: "past its service life",
    FindingKind.FILLED_BY_NON_OWNER: "filled by a station that does not own it",
    FindingKind.UNLICENSED_PARTY: "a company in its chain has no valid licence",
    FindingKind.CERTIFICATE_EXPIRED: "a driver or escort certificate has expired",
    FindingKind.MISSING_ESCORT: "no escort on the trip",
    FindingKind.SHORT_WEIGHT: "SHORT WEIGHT (gas may be missing)",
    FindingKind.OVERFILL: "OVERFILLED",
    FindingKind.UNREGISTERED_CODE: "NOT REGISTERED (unknown cylinder)",
    FindingKind.VANISHED: "was missing for a long time",
    FindingKind.IMPOSSIBLE_MOVEMENT: "impossible movement",
    FindingKind.PROJECTION_EDITED: "RECORD ALTERED (disputed)",
    FindingKind.FINDING_STATUS_EDITED: "RECORD ALTERED (disputed)",
}
# The cylinder itself is unsafe or not the driver's to hand over (DOMAIN.md "broken chain").
_STOP = {
    FindingKind.CHAIN_TAMPERED,
    FindingKind.CUSTODY_JUMP,
    FindingKind.EVENT_AFTER_SCRAP,
    FindingKind.FILLED_OVERDUE_INSPECTION,
    FindingKind.FILLED_PAST_DESIGN_LIFE,
    FindingKind.FILLED_BY_NON_OWNER,
    FindingKind.SHORT_WEIGHT,
    FindingKind.OVERFILL,
    FindingKind.UNREGISTERED_CODE,
}
_RESULT = {"pending": "not sent", "recorded": "recorded", "duplicate": "recorded (again)", "rejected": "REJECTED"}
_STYLE = {"pending": "yellow", "recorded": "green", "duplicate": "green", "rejected": "bold red"}


def finding_words(finding: dict[str, Any]) -> str:
    try:
        return _WORDS[FindingKind(finding.get("kind"))]
    except ValueError:
        return str(finding.get("kind") or "a problem").replace("_", " ")


def must_not_deliver(finding: dict[str, Any]) -> bool:
    """True for findings about the cylinder itself, and for any high or critical finding."""
    try:
        if FindingKind(finding.get("kind")) in _STOP:
            return True
    except ValueError:
        pass
    try:
        return Severity(finding.get("severity")) >= Severity.HIGH
    except ValueError:
        return False


def scans_table(scans: Iterable[StoredScan], title: str | None = None) -> Table:
    table = Table(title=title, title_justify="left", header_style="bold")
    for column in ("ID", "Code", "Kind", "Scanned", "Result", "Note"):
        table.add_column(column, no_wrap=column in ("Code", "Scanned"))
    for scan in scans:
        note = scan.reason or "; ".join(finding_words(f) for f in scan.findings)
        table.add_row(
            str(scan.id),
            tracecode.printed(scan.cylinder),
            scan.kind + (f" → {scan.to}" if scan.to else ""),
            scan.occurred_at[5:16].replace("T", " "),
            Text(_RESULT[scan.status], style=_STYLE[scan.status]),
            note,
        )
    return table


def warnings(console: Console, scans: Iterable[StoredScan]) -> int:
    """Prints a DO NOT DELIVER (or CHECK) line per finding and per rejected scan; returns the stop count."""
    stops = 0
    for scan in scans:
        code = tracecode.printed(scan.cylinder)
        for finding in scan.findings:
            if must_not_deliver(finding):
                stops += 1
                console.print(f"[bold white on red] DO NOT DELIVER [/] {code}: {finding_words(finding)}")
            else:
                console.print(f"[bold yellow]CHECK[/] {code}: {finding_words(finding)}")
        if scan.status == "rejected":
            console.print(
                f"[bold red]REJECTED[/] {code} (scan {scan.id}): {scan.reason}."
                f" Fix it: ledger scan fix {scan.id} ...  or drop it: ledger scan drop {scan.id}"
            )
    return stops
