"""`ledger accounts list|disable|rotate`: what an operator does with the accounts after creating them."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from typing import Annotated, Optional

import typer
from rich.console import Console

from ledger.config import Settings
from ledger.errors import LedgerError

__all__ = ["install"]

err = Console(stderr=True)
DbOption = Annotated[Optional[str], typer.Option("--db", help="Database URL (default: LEDGER_DATABASE_URL or sqlite:///ledger.db)")]
AccountId = Annotated[int, typer.Argument(metavar="ACCOUNT_ID", help="The account's id (`ledger accounts list`)")]


def _ledger(db: str | None):
    from ledger.service import Ledger

    return Ledger(Settings.from_env(database_url=db), rules=False)


def _fail(exc: LedgerError) -> None:
    err.print(f"[red]error:[/red] {exc.message}")
    raise typer.Exit(2)


def list_accounts(
    db: DbOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per account")] = False,
) -> None:
    """List every account: id, role, party, holder's name, created, disabled (never a token)."""
    ledger = _ledger(db)
    try:
        with ledger.db.reading() as connection:
            rows = ledger.accounts(connection)
    finally:
        ledger.db.dispose()
    if as_json:
        for row in rows:
            typer.echo(json.dumps(row, ensure_ascii=False))
        return
    typer.echo(f"{'id':>5}  {'role':<11} {'party':<22} {'name':<24} {'created':<20} disabled")
    for row in rows:
        typer.echo(f"{row['id']:>5}  {row['role']:<11} {row['party'] or '-':<22} {row['name']:<24} "
                   f"{row['created'][:19]:<20} {'yes' if row['disabled'] else 'no'}")


def disable(account: AccountId, db: DbOption = None) -> None:
    """Disable an account: its token is refused and its page sign-ins end. There is no undo: create a new one."""
    from ledger import sessions

    ledger = _ledger(db)
    try:
        with ledger.db.writing() as connection:
            sessions.disable_account(connection, account, datetime.now(timezone.utc))
    except LedgerError as exc:
        _fail(exc)
    finally:
        ledger.db.dispose()
    err.print(f"account {account} disabled; a running server refuses its token within seconds")


def rotate(account: AccountId, db: DbOption = None) -> None:
    """Print a new token for the account once, alone on stdout; the old token stops working."""
    ledger = _ledger(db)
    try:
        with ledger.db.writing() as connection:
            token = ledger.rotate_token(connection, account)
    except LedgerError as exc:
        _fail(exc)
    finally:
        ledger.db.dispose()
    err.print(f"account {account} has a new token; the old one and its page sign-ins no longer work")
    typer.echo(token)


def install(accounts: typer.Typer) -> None:
    """Add the commands to the `ledger accounts` group."""
    accounts.command("list")(list_accounts)
    accounts.command("disable")(disable)
    accounts.command("rotate")(rotate)
