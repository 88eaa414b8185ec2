"""`ledger mirror follow`: keep a verified copy of a log in a database of one's own (docs/mirror.md).

Each round fetches the log's signed checkpoint, the consistency proof from the
checkpoint the mirror holds, and the entries between the two sizes, page by
page; ``ledger.service.mirror`` checks them all, and only then are the entries
and the checkpoint stored, in one transaction this command owns.
"""

from __future__ import annotations

import time
from typing import Annotated, Optional

import httpx
import typer
from pydantic_core import from_json
from rich.console import Console

from ledger import outbound
from ledger.errors import LedgerError
from ledger.service import mirror
from ledger.service.mirror import MirrorRefused
from ledger.signednote import NoteVerifier
from ledger.storage import Database

app = typer.Typer(help="Keep a verified copy of a ledger's log (c2sp.org/tlog-mirror in spirit).", no_args_is_help=True)
err = Console(stderr=True)


class Unreachable(Exception):
    """The log did not answer as a log does (network, status, body): nothing is concluded about it."""


class LogClient:
    """The log's public read API over HTTP."""

    def __init__(self, base: str, timeout: float = 30.0) -> None:
        self.base = base.rstrip("/")
        self.http = outbound.client(timeout=timeout, headers={"Accept-Encoding": "gzip"})

    def _get(self, path: str, **params: object) -> httpx.Response:
        try:
            response = self.http.get(f"{self.base}{path}", params=params or None)
        except httpx.HTTPError as exc:
            raise Unreachable(f"GET {path}: {exc}") from None
        if response.status_code != 200:
            raise Unreachable(f"GET {path} answered {response.status_code}: {response.text[:200]}")
        return response

    def checkpoint(self) -> str:
        return self._get("/v1/log/checkpoint").text

    def consistency(self, old: int, new: int) -> list[bytes]:
        try:
            return [bytes.fromhex(node) for node in self._get("/v1/log/consistency", old=old, new=new).json()["proof"]]
        except (ValueError, KeyError, TypeError) as exc:
            raise MirrorRefused(f"the log's consistency proof is malformed ({exc})") from None

    def entries(self, start: int, end: int) -> list[dict]:
        """Entries [start, end), fetched a page at a time."""
        found: list[dict] = []
        while start + len(found) < end:
            try:
                page = from_json(self._get("/v1/log/entries", start=start + len(found), end=end).content)
            except ValueError as exc:
                raise Unreachable(f"GET /v1/log/entries: the answer is not JSON ({exc})") from None
            items = page.get("entries") if isinstance(page, dict) else None
            if not isinstance(items, list) or not items:
                raise MirrorRefused(f"the log signed size {end} but serves no entry at position {start + len(found)}")
            found.extend(items)
        return found

    def close(self) -> None:
        self.http.close()


def follow_once(database: Database, client: LogClient, verifier: NoteVerifier,
                known: tuple | None = None) -> tuple[str, tuple]:
    """One round: returns what was done, and the (held checkpoint, frontier) to start the next round from.
    Raises ``MirrorRefused`` (nothing stored) or ``Unreachable``."""
    if known is None:
        with database.reading() as connection:
            known = mirror.held_state(connection, verifier)
    held, frontier = known
    checkpoint = mirror.open_new(verifier, client.checkpoint(), held)
    start = 0 if held is None else held.size
    if held is not None and checkpoint.size == held.size:
        return f"up to date: log {checkpoint.origin} at size {checkpoint.size}", known
    if held is not None and held.size > 0:
        mirror.check_consistency(held, checkpoint, client.consistency(held.size, checkpoint.size))
    entries = client.entries(start, checkpoint.size)
    with database.reading() as connection:
        update = mirror.verify_entries(connection, held, frontier, checkpoint, entries)
    try:
        with database.writing() as connection:
            mirror.store(connection, update, verifier, client.base)
    except LedgerError:
        raise
    except Exception as exc:  # the database's own keys refused a row: the log served what cannot be a log
        raise MirrorRefused(f"the mirror's database refused to store the entries ({type(exc).__name__}: "
                            f"{str(exc).splitlines()[0][:200]})") from exc
    return (f"verified and stored: log {checkpoint.origin} at size {checkpoint.size} "
            f"({checkpoint.size - start} new events)"), (checkpoint, update.frontier)


@app.command()
def follow(
    url: Annotated[str, typer.Argument(help="The log's base URL, e.g. https://ledger.example")],
    db: Annotated[str, typer.Option("--db", help="The mirror's own database URL (migrated first)")],
    log_key: Annotated[str, typer.Option("--log-key", help="The log's verifier key, or a file holding it")],
    once: Annotated[bool, typer.Option("--once", help="Catch up once and exit: 0 all verified, 1 refused")] = False,
    interval: Annotated[float, typer.Option("--interval", min=0.1, help="Seconds between polls when following")] = 10.0,
) -> None:
    """Follow a log: verify its signed checkpoint and every entry, then store them; refuse any inconsistency."""
    from pathlib import Path

    path = Path(log_key)
    try:
        verifier = NoteVerifier.from_vkey(path.read_text() if path.is_file() else log_key)
    except LedgerError as exc:
        err.print(f"[red]error:[/red] --log-key: {exc.message}")
        raise typer.Exit(2)
    try:
        database = Database(db)
        database.migrate()
    except LedgerError as exc:
        err.print(f"[red]error:[/red] {exc.message}")
        raise typer.Exit(2)
    except Exception as exc:  # a URL no database answers at
        err.print(f"[red]error:[/red] cannot open the mirror's database {db.split('@')[-1]}: {exc}")
        raise typer.Exit(2)
    client = LogClient(url)
    known, last = None, ""
    try:
        while True:
            try:
                said, known = follow_once(database, client, verifier, known)
                if said != last:  # an idle log is reported once, not at every poll
                    typer.echo(said)
                last = said
                if once:
                    return
            except MirrorRefused as exc:
                known, last = None, ""  # read afresh from the database next round
                typer.echo(f"REFUSED: {exc.message}; nothing stored")
                if once:
                    raise typer.Exit(1)
            except Unreachable as exc:
                known, last = None, ""
                err.print(f"[red]error:[/red] the log did not answer: {exc}")
                if once:
                    raise typer.Exit(2)
            time.sleep(interval)
    except KeyboardInterrupt:
        pass
    finally:
        client.close()
        database.dispose()
