"""The witnesses' keys on the command line: ``ledger verify-bundle --witness-key``, and ``ledger serve``'s list."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console

from ledger import outbound
from ledger.config import Settings
from ledger.cosigning import WitnessKey, read_witnesses
from ledger.errors import LedgerError

err = Console(stderr=True)


def witness_keys(values: list[str], quorum: int | None) -> list[WitnessKey]:
    """Each value a witness verifier key or a file holding one; exits 2 on a bad key or an impossible quorum."""
    keys = []
    for value in values:
        path = Path(value)
        try:
            text = path.read_text() if "+" not in value and path.exists() else value
            keys.append(WitnessKey.from_vkey(text))
        except LedgerError as exc:
            err.print(f"[red]error:[/red] --witness-key {value[:60]}: {exc.message}")
            raise typer.Exit(2) from None
    if quorum is not None and quorum > len(keys):
        err.print(f"[red]error:[/red] --quorum {quorum} needs at least {quorum} --witness-key (got {len(keys)})")
        raise typer.Exit(2)
    return keys


def check_witnesses(settings: Settings) -> None:
    """``ledger serve``: exit 2 naming what is wrong with ``LEDGER_WITNESSES`` or ``LEDGER_WITNESS_QUORUM``."""
    try:
        witnesses = read_witnesses(settings.witnesses_file, settings.witness_quorum)
    except LedgerError as exc:
        err.print(f"[red]error:[/red] {exc.message}")
        raise typer.Exit(2) from None
    if witnesses:
        quorum = settings.witness_quorum or len(witnesses)
        err.print(f"checkpoints go to {len(witnesses)} witness(es), quorum {quorum}: "
                  + ", ".join(w.name for w in witnesses))


def witnessed(settings: Settings, witnesses_file: Path | None, log_verifier) -> tuple[list, list[str]]:
    """``ledger verify``: each listed witness's newest cosigned checkpoint of this log, and the witnesses that
    could not be asked (named with the reason). Exits 2 on a broken witness list."""
    from ledger.witness_client import WitnessFailed, latest_cosigned

    if witnesses_file is None:
        return [], []
    try:
        witnesses = read_witnesses(witnesses_file, None)
    except LedgerError as exc:
        err.print(f"[red]error:[/red] {exc.message}")
        raise typer.Exit(2) from None
    found, unasked = [], []
    with outbound.client(timeout=10) as client:
        for witness in witnesses:
            try:
                checkpoint = latest_cosigned(client, witness, settings.log_origin, log_verifier)
            except WitnessFailed as exc:
                unasked.append(f"{witness.name}: {exc}")
                continue
            if checkpoint is not None:
                found.append((witness.name, checkpoint))
    return found, unasked
