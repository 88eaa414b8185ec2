"""`ledger witness`: run a c2sp.org/tlog-witness witness (docs/witness.md).

    ledger witness init [--db URL] [--key FILE] --name NAME   prints the witness's verifier key (type 0x04)
    ledger witness add-log ORIGIN VKEY [--db URL]             watch a log whose checkpoints VKEY signs
    ledger witness logs [--db URL]                            what it watches and has cosigned
    ledger witness serve [--db URL] [--host] [--port]         POST /add-checkpoint

The key lives in a file outside the database (mode 0600), like the log's key;
the database remembers the name, the key file's path and the verifier key, so
``serve`` needs no more than ``--db``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Optional

import typer
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from rich.console import Console

from ledger.errors import LedgerError
from ledger.keys import ensure_key, load_key
from ledger.signednote import NoteVerifier
from ledger.storage.witness import WitnessStore
from ledger.witness import Cosigner

app = typer.Typer(help="Run a transparency-log witness (c2sp.org/tlog-witness) that cosigns other logs' checkpoints.",
                  no_args_is_help=True)
err = Console(stderr=True, soft_wrap=True)

DEFAULT_DB = "sqlite:///witness.db"
DEFAULT_KEY = "witness.key"
DbOption = Annotated[Optional[str], typer.Option(
    "--db", help=f"The witness's own database (default: LEDGER_WITNESS_DATABASE_URL or {DEFAULT_DB})")]


def _url(db: str | None) -> str:
    return db or os.environ.get("LEDGER_WITNESS_DATABASE_URL", DEFAULT_DB)


def _fail(message: str) -> None:
    err.print(f"[red]error:[/red] {message}")
    raise typer.Exit(2)


def _open(db: str | None) -> WitnessStore:
    try:
        store = WitnessStore(_url(db))
    except ValueError as exc:  # not a sqlite or postgresql URL
        _fail(str(exc))
    try:
        store.create()
    except LedgerError as exc:
        store.dispose()
        _fail(exc.message)
    except Exception as exc:  # noqa: BLE001 - the database does not answer: say why, in one line
        store.dispose()
        _fail(f"cannot open the witness database: {str(exc).splitlines()[0]}")
    return store


@app.command()
def init(
    name: Annotated[str, typer.Option("--name", help="The witness's name, a schema-less URL such as witness.example.org/w1")],
    db: DbOption = None,
    key: Annotated[Optional[Path], typer.Option(
        "--key", help=f"The witness's private key file (default: LEDGER_WITNESS_KEY_FILE or {DEFAULT_KEY})")] = None,
) -> None:
    """Create the witness's key and database; prints its verifier key alone on stdout. Safe to run twice."""
    key_file = (key or Path(os.environ.get("LEDGER_WITNESS_KEY_FILE", DEFAULT_KEY))).resolve()
    try:
        Cosigner(name, Ed25519PrivateKey.generate())  # a bad name is refused before any file is made
    except LedgerError as exc:
        _fail(exc.message)
    store = _open(db)
    try:
        private_key, created = ensure_key(key_file)
        cosigner = Cosigner(name, private_key)
        for setting, value in (("name", name), ("vkey", cosigner.vkey()), ("key_file", str(key_file))):
            store.settle(setting, value)
    except LedgerError as exc:
        _fail(exc.message)
    finally:
        store.dispose()
    err.print(f"witness {name}: key {'created' if created else 'kept'} at {key_file}")
    typer.echo(cosigner.vkey())


@app.command("add-log")
def add_log(
    origin: Annotated[str, typer.Argument(help="The log's origin, the first line of its checkpoints")],
    vkey: Annotated[str, typer.Argument(help="The log's verifier key (signed-note format, as GET /v1/log/public-key serves)")],
    db: DbOption = None,
) -> None:
    """Watch a log: cosign its checkpoints that VKEY signs and that extend what was cosigned before."""
    if not origin or origin != origin.strip() or "\n" in origin:
        _fail("the origin must be one non-empty line without surrounding spaces")
    store = _open(db)
    try:
        verifier = NoteVerifier.from_vkey(vkey)
        added = store.add_log(origin, verifier.vkey())
    except LedgerError as exc:
        _fail(exc.message)
    finally:
        store.dispose()
    typer.echo(f"{'watching' if added else 'already watching'} {origin} signed by {verifier.name}")


@app.command("logs")
def list_logs(db: DbOption = None) -> None:
    """Each watched log: origin, the latest cosigned size, its verifier key."""
    store = _open(db)
    try:
        for log in store.logs():
            typer.echo(f"{log.origin}\t{log.size}\t{log.vkey}")
    finally:
        store.dispose()


@app.command()
def serve(
    db: DbOption = None,
    host: Annotated[str, typer.Option("--host", help="Address to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", min=1, max=65535)] = 8080,
) -> None:
    """Serve POST /add-checkpoint (c2sp.org/tlog-witness) and GET /<origin hash>/checkpoint."""
    import uvicorn

    from api.logs import LOG_CONFIG
    from api.witness import witness_app

    store = _open(db)
    name, key_file, vkey = (store.setting(k) for k in ("name", "key_file", "vkey"))
    if name is None or key_file is None:
        store.dispose()
        _fail("this witness has no key yet: run `ledger witness init --name NAME` first")
    try:
        cosigner = Cosigner(name, load_key(Path(key_file)))
    except LedgerError as exc:
        store.dispose()
        _fail(exc.message)
    if cosigner.vkey() != vkey:
        store.dispose()
        _fail(f"the key at {key_file} is not the one this witness was set up with ({vkey})")
    err.print(f"witness {cosigner.vkey()} serving on http://{host}:{port}")
    try:
        uvicorn.run(witness_app(store, cosigner), host=host, port=port, access_log=False, log_config=LOG_CONFIG,
                    server_header=False)
    finally:
        store.dispose()
