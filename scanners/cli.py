"""``ledger scan``: the driver's commands on a handheld terminal.

Scans go into the outbox on the device first (``add``), and to the ledger
when there is a network (``sync``). Exit status: 0 done, 1 refused or
stopped (the message says why; nothing was lost).
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Annotated, Any, Optional

import typer
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import load_pem_public_key
from rich.console import Console

from ledger import tracecode
from ledger.domain import Location
from ledger.errors import InvalidInput, LedgerError

from .decode import decode_qr
from .outbox import UNCHANGED, Outbox
from .payload import parse_scan
from .report import scans_table, warnings
from .sync import DEFAULT_BATCH, sync as send_pending

__all__ = ["app"]

app = typer.Typer(
    help="Scan cylinders, keep the scans on this device, and send them to the ledger.",
    no_args_is_help=True,
    add_completion=False,
)
console = Console(highlight=False)

OutboxPath = Annotated[
    Path, typer.Option("--outbox", envvar="LEDGER_OUTBOX", help="Scan store on this device.", show_default=True)
]
LabelKey = Annotated[
    Optional[Path],
    typer.Option("--label-key", envvar="LEDGER_LABEL_PUBLIC_KEY", help="Label public key (PEM): checks labels offline."),
]
DataPairs = Annotated[list[str], typer.Option("--data", help="A fact as key=value, e.g. net_kg=14.5 (repeat).")]


def _fail(message: str) -> typer.Exit:
    console.print(f"[bold red]Error:[/] {message}")
    return typer.Exit(1)


def _open(path: Path) -> Outbox:
    try:
        return Outbox(path)
    except sqlite3.Error as error:
        raise _fail(f"cannot open the scan store {path}: {error}") from None


def _public_key(path: Path | None) -> Ed25519PublicKey | None:
    if path is None:
        return None
    try:
        key = load_pem_public_key(path.read_bytes())
    except (OSError, ValueError) as error:
        raise _fail(f"cannot read the label key {path}: {error}") from None
    if not isinstance(key, Ed25519PublicKey):
        raise _fail(f"{path} is not an Ed25519 public key")
    return key


def _data(pairs: list[str]) -> dict[str, Any]:
    facts: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise InvalidInput(f"--data must be key=value, got {pair!r}", field="data")
        try:  # numbers, true/false and null keep their type: 14.5 is a weight, not text
            parsed = json.loads(value)
            facts[key.strip()] = parsed if isinstance(parsed, (int, float, bool)) or parsed is None else value
        except ValueError:
            facts[key.strip()] = value
    return facts


def _location(lat: float | None, lon: float | None) -> Location | None:
    if (lat is None) != (lon is None):
        raise InvalidInput("give both --lat and --lon, or neither", field="location")
    return None if lat is None else Location(lat, lon)


def _short(text: str) -> str:
    text = text.encode("unicode_escape").decode("ascii")
    return text if len(text) <= 48 else text[:45] + "..."


@app.command()
def add(
    codes: Annotated[list[str], typer.Argument(help="QR URLs or printed codes (7K3Q-9XZ2-ABM).")],
    kind: Annotated[str, typer.Option("--kind", help="dispatch, receive, deliver, collect, return, ...")],
    to: Annotated[Optional[str], typer.Option("--to", help="Receiving party or end-user ref.")] = None,
    person: Annotated[Optional[str], typer.Option("--person", help="Your person ID.")] = None,
    lat: Annotated[Optional[float], typer.Option("--lat")] = None,
    lon: Annotated[Optional[float], typer.Option("--lon")] = None,
    data: DataPairs = [],
    skip_bad: Annotated[bool, typer.Option("--skip-bad", help="Save the good codes even if some are bad.")] = False,
    label_key: LabelKey = None,
    outbox: OutboxPath = Path("outbox.db"),
) -> None:
    """Save scans (a whole truckload at once) for one event. Nothing is sent yet."""
    public_key = _public_key(label_key)
    scans, bad = [], []
    for text in codes:
        try:
            scans.append(parse_scan(text, public_key))
        except LedgerError as error:
            bad.append((text, error.message))
    for text, reason in bad:
        console.print(f"[bold red]BAD CODE[/] {_short(text)}: {reason}")
    if bad and not skip_bad:
        raise _fail(f"{len(bad)} bad code(s): nothing saved. Scan or type them again, or add --skip-bad.")
    if not scans:
        raise _fail("no good codes to save")
    try:
        with _open(outbox) as box:
            stored = box.add(scans, kind, to=to, person=person, location=_location(lat, lon), data=_data(data))
    except LedgerError as error:
        raise _fail(f"{error.message}. Nothing saved.") from None
    console.print(f"[green]Saved {len(stored)} scan(s)[/] for {kind}. Not sent yet: run [bold]ledger scan sync[/].")
    if len(stored) < len(scans):
        console.print(f"{len(scans) - len(stored)} repeated scan(s) of the same cylinder ignored.")
    if bad:
        console.print(f"[yellow]{len(bad)} bad code(s) skipped[/] (listed above).")


@app.command("list")
def list_scans(
    status: Annotated[Optional[str], typer.Option("--status", help="pending, recorded, duplicate or rejected.")] = None,
    outbox: OutboxPath = Path("outbox.db"),
) -> None:
    """Show the scans on this device."""
    try:
        with _open(outbox) as box:
            scans = box.list(status)
    except LedgerError as error:
        raise _fail(error.message) from None
    if not scans:
        console.print("No scans." if status is None else f"No {status} scans.")
        return
    console.print(scans_table(scans))


@app.command()
def sync(
    server: Annotated[str, typer.Option("--server", envvar="LEDGER_SERVER", help="Ledger URL.")],
    token: Annotated[str, typer.Option("--token", envvar="LEDGER_TOKEN", help="Your access token.", show_default=False)],
    batch_size: Annotated[int, typer.Option("--batch-size", min=1, max=1000)] = DEFAULT_BATCH,
    outbox: OutboxPath = Path("outbox.db"),
) -> None:
    """Send every scan not sent yet. Safe to repeat or interrupt: nothing is lost or recorded twice."""
    with _open(outbox) as box:
        report = send_pending(box, server, token, batch_size=batch_size)
    if report.answered:
        console.print(scans_table(report.answered, title="Sent"))
        warnings(console, report.answered)
        counts = {s: sum(1 for scan in report.answered if scan.status == s) for s in ("recorded", "duplicate", "rejected")}
        console.print(
            f"Recorded {counts['recorded'] + counts['duplicate']}"
            f" ({counts['duplicate']} were already on the server), rejected {counts['rejected']}."
        )
    elif report.stopped is None:
        console.print("Nothing to send.")
    if report.stopped is not None:
        raise _fail(f"{report.stopped.message}. {report.still_pending} scan(s) kept on this device; run sync again.")


@app.command()
def fix(
    scan_id: Annotated[int, typer.Argument(metavar="ID", help="Scan ID from `ledger scan list`.")],
    code: Annotated[Optional[str], typer.Option("--code", help="The right cylinder code.")] = None,
    kind: Annotated[Optional[str], typer.Option("--kind")] = None,
    to: Annotated[Optional[str], typer.Option("--to")] = None,
    person: Annotated[Optional[str], typer.Option("--person")] = None,
    data: DataPairs = [],
    outbox: OutboxPath = Path("outbox.db"),
) -> None:
    """Correct a rejected scan; it is sent again as a new scan with the next sync."""
    changes: dict[str, Any] = {"cylinder": code, "kind": kind, "to": to, "person": person}
    try:
        with _open(outbox) as box:
            changes["data"] = {**box.get(scan_id).data, **_data(data)} if data else None
            fixed = box.fix(scan_id, **{k: (UNCHANGED if v is None else v) for k, v in changes.items()})
    except LedgerError as error:
        raise _fail(error.message) from None
    console.print(f"Scan {fixed.id} ({tracecode.printed(fixed.cylinder)} {fixed.kind}) will be sent again at the next sync.")


@app.command()
def drop(
    scan_id: Annotated[int, typer.Argument(metavar="ID", help="Scan ID from `ledger scan list`.")],
    outbox: OutboxPath = Path("outbox.db"),
) -> None:
    """Delete a rejected scan (or one never sent)."""
    try:
        with _open(outbox) as box:
            dropped = box.drop(scan_id)
    except LedgerError as error:
        raise _fail(error.message) from None
    console.print(f"Dropped scan {dropped.id} ({tracecode.printed(dropped.cylinder)} {dropped.kind}).")


@app.command()
def decode(
    image: Annotated[Path, typer.Argument(help="Photo of one or more labels (PNG, JPEG).")],
    label_key: LabelKey = None,
) -> None:
    """Read the labels in a photo and check them."""
    public_key = _public_key(label_key)
    try:
        texts = decode_qr(image.read_bytes())
    except OSError as error:
        raise _fail(f"cannot open {image}: {error.strerror}") from None
    except LedgerError as error:
        raise _fail(error.message) from None
    if not texts:
        raise _fail("no QR code found in the photo. Take it again closer, or type the printed code")
    refused = 0
    for text in texts:
        try:
            scan = parse_scan(text, public_key)
        except LedgerError as error:
            refused += 1
            console.print(f"[bold red]BAD CODE[/] {_short(text)}: {error.message}")
            continue
        check = "label signature OK" if scan.verified else "signature not checked (no --label-key)"
        console.print(f"[bold]{scan.printed}[/]  {check}")
    if refused:
        raise typer.Exit(1)


def main() -> None:  # pragma: no cover - `python -m scanners.cli`
    app(prog_name="ledger scan")


if __name__ == "__main__":  # pragma: no cover
    main()
