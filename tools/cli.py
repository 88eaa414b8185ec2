"""The ``ledger`` command line (CONTRACT.md "Command line")."""

from __future__ import annotations

import json
import sys
from itertools import chain
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from ledger.bundle import load_bundle, verify_bundle
from ledger.segments import FORMAT as SEGMENTS, verify_segments
from ledger.config import Settings
from ledger.domain import Role
from ledger.errors import LedgerError
from ledger.keys import ensure_key
from ledger.signednote import NoteSigner, NoteVerifier
from ledger.storage import Database
from ledger.storage import events as event_rows
from ledger.verify import against_witnessed, audit
from scanners.cli import app as scan_app
from tools.witness import app as witness_app
from tools.epcis import export_epcis
from tools.mirror import app as mirror_app
from tools.hub import app as hub_app
from tools.audit import audit_command
from tools.report import report_command
from tools.witness_keys import check_witnesses, witness_keys, witnessed
from tools.accounts import install as install_accounts
from tools.personal import app as keys_app
from tools.partitions import app as partitions_app
from tools.personal import seal_plaintext
from tools.baseurl import labels_settings, warn_base_url

app = typer.Typer(help="cylinder-ledger: the traceability ledger for bottled LPG cylinders.", no_args_is_help=True)
accounts = typer.Typer(help="Manage API accounts.", no_args_is_help=True)
app.add_typer(accounts, name="accounts")
install_accounts(accounts)
app.add_typer(scan_app, name="scan", help="The driver's handheld: scan into an offline outbox, sync later.")
app.add_typer(witness_app, name="witness")
app.command("export-epcis")(export_epcis)
app.add_typer(mirror_app, name="mirror")
app.add_typer(keys_app, name="keys")  # tools/personal.py
app.add_typer(hub_app, name="hub")  # tools/hub.py
app.add_typer(partitions_app, name="partitions")  # tools/partitions.py
app.command("audit")(audit_command)  # tools/audit.py
app.command("report")(report_command)  # tools/report.py
err = Console(stderr=True)

DbOption = Annotated[Optional[str], typer.Option("--db", help="Database URL (default: LEDGER_DATABASE_URL or sqlite:///ledger.db)")]


def _settings(db: str | None) -> Settings:
    return Settings.from_env(database_url=db)


def _fail(exc: LedgerError, code: int = 2) -> None:
    err.print(f"[red]error:[/red] {exc.message}")
    raise typer.Exit(code)


def _partition(database: Database, width: int) -> None:
    from ledger.storage import partitions

    try:
        with database.writing() as connection:
            made = partitions.partition_events(connection, width)
    except ValueError as exc:
        database.dispose()
        err.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from exc
    err.print(f"events partitioned by {width} log positions; {made} block(s) ready")


def _migrate(database: Database) -> str:
    """Migrate the schema; a migration that refuses (stored rows it cannot carry over) exits 2 with its reason."""
    try:
        return database.migrate()
    except LedgerError as exc:
        database.dispose()
        err.print(f"[red]error:[/red] {exc.message}")
        raise typer.Exit(2) from exc


@app.command()
def init(
    db: DbOption = None,
    partition_events: Annotated[Optional[int], typer.Option(
        "--partition-events", metavar="WIDTH",
        help="PostgreSQL: partition events by log position in blocks of WIDTH (a power of two), so old blocks "
             "can be archived (docs/scale.md)")] = None,
) -> None:
    """Create or migrate the schema and the signing keys; prints the log's public key. Safe to run twice."""
    settings = _settings(db)
    database = Database(settings.database_url)
    if partition_events is not None:  # refused before anything is made
        from ledger.storage.partitions import check_width

        try:
            if database.is_sqlite:
                raise ValueError("--partition-events is for PostgreSQL; a SQLite ledger keeps one events table")
            check_width(partition_events)
        except ValueError as exc:
            database.dispose()
            err.print(f"[red]error:[/red] {exc}")
            raise typer.Exit(2) from exc
    revision = _migrate(database)
    if partition_events is not None:
        _partition(database, partition_events)
    log_key, created = ensure_key(settings.key_file)
    _, label_created = ensure_key(settings.label_key_file)
    personal_created, sealed = seal_plaintext(settings, database)
    signer = NoteSigner(settings.log_origin, log_key)
    err.print(f"schema at revision {revision}; log key {'created' if created else 'kept'} at {settings.key_file}; "
              f"label key {'created' if label_created else 'kept'} at {settings.label_key_file}; "
              f"personal-data key {'created' if personal_created else 'kept'} at {settings.personal_key_file}"
              + (f"; {sealed} end user(s) sealed" if sealed else ""))
    typer.echo(signer.verifier.vkey())
    database.dispose()


@accounts.command("create")
def accounts_create(
    role: Annotated[Role, typer.Option("--role", help="admin, regulator, inspector, company, transporter, shop, inspection")],
    party: Annotated[Optional[str], typer.Option("--party", help="The party the account acts for")] = None,
    name: Annotated[Optional[str], typer.Option("--name", help="Who holds the account")] = None,
    db: DbOption = None,
) -> None:
    """Print a new bearer token once, alone on stdout (only its hash is stored); its account id on stderr."""
    from ledger.service import Ledger

    ledger = Ledger(_settings(db))
    try:
        with ledger.db.writing() as connection:
            token = ledger.create_account(connection, role=role, party=party, name=name or role.value)
            account = ledger.authenticate(connection, token).account
    except LedgerError as exc:
        _fail(exc)
    err.print(f"account {account} ({role.value}); findings are dispatched to an inspector by this id")
    typer.echo(token)


@app.command()
def verify(
    db: DbOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per break, then a summary")] = False,
    public_key: Annotated[Optional[str], typer.Option("--public-key", help="Log verifier key (default: from LEDGER_KEY_FILE)")] = None,
    workers: Annotated[int, typer.Option("--workers", min=1, max=64,
                                         help="Processes re-hashing events (worth it on an otherwise idle multi-core host)")] = 1,
    mirror: Annotated[Optional[str], typer.Option("--mirror", help="A mirror's database: name every event that differs from its verified copy")] = None,
    witnesses_file: Annotated[Optional[Path], typer.Option(
        "--witnesses", help="The witnesses whose cosigned checkpoints the log must still hold (default: LEDGER_WITNESSES)")] = None,
    archives: Annotated[Optional[list[Path]], typer.Option(
        "--archive", help="An archived block's file (ledger partitions archive): re-hash its events and hold it to "
                          "its signed checkpoint and to the root the ledger kept; repeat for each")] = None,
) -> None:
    """Audit the whole ledger. Exit 0: intact. Exit 1: each break is listed (cylinder, seq, kind). Exit 2: no key, or a listed witness could not be asked."""
    settings = _settings(db)
    verifier = _verifier(settings, public_key)
    database = Database(settings.database_url)
    breaks = 0
    show_progress = sys.stderr.isatty() and not as_json
    cosigned, unasked = witnessed(settings, witnesses_file or settings.witnesses_file, verifier)
    with database.reading() as connection:
        total = event_rows.log_size(connection)
        with Progress(TextColumn("verifying"), BarColumn(), TextColumn("{task.completed}/{task.total} events"),
                      TimeElapsedColumn(), console=err, disable=not show_progress) as progress:
            task = progress.add_task("events", total=total)
            for found in chain(audit(connection, verifier, progress=lambda n: progress.advance(task, n),
                                     database_url=settings.database_url, workers=workers, projected=_projected()),
                               _compared(connection, mirror), against_witnessed(connection, cosigned)):
                breaks += 1
                if as_json:
                    typer.echo(json.dumps(found.as_dict(), ensure_ascii=False))
                else:
                    where = f"{found.cylinder} seq {found.seq}" if found.cylinder else "log"
                    typer.echo(f"BROKEN {where}: {found.kind} — {found.detail}")
    archived, unchecked = _archived(database, verifier, archives or [])
    for found in unchecked:
        breaks += 1
        if as_json:
            typer.echo(json.dumps(found.as_dict(), ensure_ascii=False))
        else:
            typer.echo(f"BROKEN archive: {found.detail}")
    for reason in unasked:
        err.print(f"[red]error:[/red] could not hold the log to witness {reason}")
    if as_json:
        typer.echo(json.dumps({"status": "broken" if breaks else "intact", "events": total - archived["events"],
                               "breaks": breaks, "witnessed": [name for name, _ in cosigned], "unasked": unasked,
                               "archived": archived}))
    else:
        typer.echo(f"{'BROKEN' if breaks else 'intact'}: {total - archived['events']} events checked, {breaks} breaks"
                   + (f"; held to {len(cosigned)} witnesses' cosigned checkpoints" if cosigned else ""))
        if archived["blocks"]:
            typer.echo(f"archived: {archived['events']} events in {len(archived['blocks'])} block(s), each held to "
                       f"its kept root; {sum(b['checked'] for b in archived['blocks'])} file(s) re-hashed and held to their "
                       "signed checkpoints"
                       + "".join(f"\n  positions {b['first']}..{b['end'] - 1}: "
                                 + ("file checked" if b["checked"] else f"not checked (give --archive {b['file']})")
                                 for b in archived["blocks"]))
    database.dispose()
    raise typer.Exit(1 if breaks else 2 if unasked else 0)


def _archived(database: Database, verifier: NoteVerifier | None, files: list[Path]):
    """What was archived, and the breaks each given archive file shows (``ledger.archival.verify_archive``)."""
    from ledger.archival import verify_archive
    from ledger.chain import Break, BreakKind
    from ledger.storage import partitions

    with database.reading() as connection:
        kept = partitions.archives(connection) if partitions.partitioned(connection) else []
    checked, found = set(), []
    for file in files:
        try:
            if verifier is None:
                raise LedgerError("an archive is checked against its signed checkpoint: give the log's key")
            done = verify_archive(database, verifier, file)
            checked.add(done.first)
        except LedgerError as exc:
            found.append(Break(BreakKind.CHECKPOINT_MISMATCH, None, None, f"{file}: {exc.message}"))
    blocks = [{"first": a.first, "end": a.end, "file": a.file, "checked": a.first in checked} for a in kept]
    summary = {"events": sum(a.events for a in kept), "blocks": blocks, "files": sorted(str(f) for f in files)}
    return summary, found


def _projected():
    """Each cylinder's projection re-derived from its chain, as the server's judge derives it."""
    from datetime import datetime, timezone

    from ledger.supervision import Supervisor

    judge, now = Supervisor(), datetime.now(timezone.utc)
    return lambda connection, ids: judge.projections(connection, ids, now)


def _verifier(settings: Settings, public_key: str | None) -> NoteVerifier | None:
    if public_key:
        return _read_vkey(public_key)
    if settings.key_file.exists():
        from ledger.keys import load_key

        return NoteSigner(settings.log_origin, load_key(settings.key_file)).verifier
    err.print(f"[red]error:[/red] no log key at {settings.key_file}: give the log's verifier key with --public-key "
              "(or LEDGER_KEY_FILE), so checkpoint signatures are checked")
    raise typer.Exit(2)


def _compared(connection, mirror_url: str | None):
    """The breaks a comparison with the mirror's verified copy finds (none without a mirror)."""
    if mirror_url is None:
        return
    from ledger.verify import against_mirror

    copy = Database(mirror_url)
    try:
        if not copy.is_migrated():
            err.print(f"[red]error:[/red] {mirror_url.split('@')[-1]} is not a mirror's database (no ledger schema)")
            raise typer.Exit(2)
        with copy.reading() as mirrored:
            yield from against_mirror(connection, mirrored)
    finally:
        copy.dispose()


def _read_vkey(value: str) -> NoteVerifier:
    path = Path(value)
    text = path.read_text() if path.exists() else value
    try:
        return NoteVerifier.from_vkey(text)
    except LedgerError as exc:
        _fail(exc)


@app.command("verify-bundle")
def verify_bundle_command(
    file: Annotated[Path, typer.Argument(help="A bundle from GET /v1/cylinders/{id}/bundle")],
    public_key: Annotated[list[str], typer.Option("--public-key", help="The log's verifier key, or a file holding it; for a bundle of several cities' segments (a cylinder that crossed city lines, from a city or the provincial hub), once per city")],
    witness_key: Annotated[Optional[list[str]], typer.Option("--witness-key", help="A witness's verifier key (type 0x04), or a file holding it; repeat for each")] = None,
    quorum: Annotated[Optional[int], typer.Option("--quorum", min=1, help="Cosignatures required (default: one from every --witness-key)")] = None,
) -> None:
    """Check a cylinder's exported bundle offline, with nothing but the log's public key (and the witnesses' keys)."""
    verifiers = [_read_vkey(key) for key in public_key]
    verifier = verifiers[0]
    witnesses = witness_keys(witness_key or [], quorum)
    try:
        raw = file.read_bytes()
    except OSError as exc:
        err.print(f"[red]error:[/red] cannot read {file}: {exc.strerror}")
        raise typer.Exit(2)
    try:
        loaded = load_bundle(raw)
        if loaded.get("format") == SEGMENTS:  # a provincial hub's bundle: one segment per city's log
            done = verify_segments(loaded, verifiers)
            typer.echo(f"valid: cylinder {done.cylinder}, {done.events} events, head {done.head}, "
                       f"in logs {' -> '.join(done.logs)}")
            return
        note = loaded.get("checkpoint")
        origin = note.split("\n", 1)[0] if isinstance(note, str) else None
        verifier = next((v for v in verifiers if v.name == origin), verifier)
    except LedgerError as exc:
        typer.echo(f"INVALID: {exc.message}")
        raise typer.Exit(1)
    try:
        result = verify_bundle(load_bundle(raw), verifier, witnesses, quorum)
    except LedgerError as exc:
        typer.echo(f"INVALID: {exc.message}")
        raise typer.Exit(1)
    typer.echo(
        f"valid: cylinder {result.cylinder}, {result.events} events, head {result.head}, "
        f"in log {result.checkpoint.origin} at size {result.checkpoint.size}"
        + "".join(f", cosigned by {c.name} at {c.timestamp}" for c in result.cosignatures)
    )


@app.command()
def sweep(db: DbOption = None) -> None:
    """Raise the findings only the clock produces (vanished cylinders, unconfirmed handovers) now; `ledger serve` does it every LEDGER_SWEEP_INTERVAL."""
    from ledger.service import Ledger
    from ledger.sweeper import Sweeper

    done = Sweeper(Ledger(_settings(db))).run()
    if done.reviewed:
        typer.echo(f"{done.reviewed} cylinders reviewed after batches")
    typer.echo(f"{done.examined} cylinders examined")
    if done.escalated:
        typer.echo(f"{done.escalated} overdue cases escalated")


@app.command()
def erase(
    target: Annotated[str, typer.Argument(
        metavar="NOTE_OR_REF", help="A report note's id (N…), an end user's ref (U…) or a finding step (A<id>)")],
    reason: Annotated[str, typer.Option("--reason", help="Why: the request and its legal ground, e.g. PIPL art. 47")],
    requested_by: Annotated[str, typer.Option("--requested-by", help="Who asked (a name, a case number)")],
    db: DbOption = None,
) -> None:
    """Erase a note's text or an end user's personal data on a lawful request, and record who asked and why.

    The chain, the log and every proof and bundle still verify afterwards. Erasing again changes nothing.
    """
    from ledger.service import Ledger

    ledger = Ledger(_settings(db), rules=False)
    try:
        with ledger.db.writing() as connection:
            done = ledger.erase(connection, target, reason=reason, requested_by=requested_by)
    except LedgerError as exc:
        _fail(exc)
    finally:
        ledger.db.dispose()
    what = {"note": "note", "end_user": "end user", "finding_note": "finding step note"}[done.what]
    fields = ", ".join(done.fields)
    if done.done:
        typer.echo(f"erased {what} {done.target} ({fields}) at {done.erased_at}; the erasure is recorded")
    else:
        typer.echo(f"{what} {done.target} was already erased at {done.erased_at}; nothing changed")


@app.command()
def checkpoint(db: DbOption = None) -> None:
    """Sign a checkpoint of the log now, if it grew, and print it (a server publishes one each interval by itself)."""
    from ledger.service import Ledger

    ledger = Ledger(_settings(db))
    try:
        typer.echo(ledger.checkpoint().note, nl=False)
    except LedgerError as exc:
        _fail(exc, 1)


@app.command()
def serve(
    db: DbOption = None,
    host: Annotated[str, typer.Option("--host", help="Address to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", min=1, max=65535)] = 8000,
    workers: Annotated[int, typer.Option("--workers", min=1, max=64, help="Worker processes")] = 1,
) -> None:
    """Serve the API (migrates the schema and creates missing keys first, as `ledger init` does)."""
    import os

    import uvicorn

    from api.logs import LOG_CONFIG

    settings = _settings(db)
    if db:  # the workers build their settings from the environment
        os.environ["LEDGER_DATABASE_URL"] = db
    database = Database(settings.database_url)
    _migrate(database)
    seal_plaintext(settings, database)
    database.dispose()
    ensure_key(settings.key_file)
    ensure_key(settings.label_key_file)
    check_witnesses(settings)  # a broken LEDGER_WITNESSES stops here, named, before any worker starts
    err.print(f"serving {settings.database_url.split('@')[-1]} on http://{host}:{port} with {workers} worker(s)")
    warn_base_url(settings, host, port)
    from scanners.fonts import cjk_font
    cjk_font()  # without a TrueType CJK font to embed, says once how to install one (docs/operations.md)
    # uvicorn drains in-flight requests on SIGTERM/SIGINT before the workers exit.
    uvicorn.run("api.app:served_app", factory=True, host=host, port=port, workers=workers,
                access_log=False, log_config=LOG_CONFIG, server_header=False, **proxy_options(settings))


def proxy_options(settings: Settings) -> dict[str, object]:
    """uvicorn's own handling of X-Forwarded-For: believed from ``LEDGER_TRUSTED_PROXIES`` only, so the
    client address that rate limits count is the citizen's behind the proxy, and no one else can name one."""
    return {"proxy_headers": True, "forwarded_allow_ips": settings.trusted_proxies}


@app.command()
def labels(
    ids: Annotated[list[str], typer.Argument(help="Trace codes of registered cylinders")],
    out: Annotated[Path, typer.Option("--out", help="The PDF file to write")],
    db: DbOption = None,
    base_url: Annotated[Optional[str], typer.Option("--base-url", help="Where phones open the labels (default: LEDGER_BASE_URL, which must then be set)")] = None,
) -> None:
    """Write a printable A4 sheet of the cylinders' labels (their QR codes carry the base URL for good)."""
    from scanners.labels import label_sheet_pdf
    from scanners.payload import label_url

    from ledger import tracecode
    from ledger.service import Ledger

    ledger = Ledger(labels_settings(_settings(db), base_url))
    items = []
    try:
        with ledger.db.reading() as connection:
            for text in ids:
                cylinder = ledger.cylinder(connection, tracecode.normalize(text))
                owner = ledger.party(connection, cylinder.owner)
                items.append((label_url(ledger.settings.base_url, cylinder.id, ledger.label_key),
                              cylinder.id, owner.name, f"钢印号 {cylinder.serial} · {cylinder.model}"))
        pages = label_sheet_pdf(items, out, hotline=ledger.settings.hotline)
    except LedgerError as exc:
        _fail(exc)
    finally:
        ledger.db.dispose()
    err.print(f"{len(items)} labels on {pages} page(s) written to {out}")


@app.command()
def demo(
    port: Annotated[int, typer.Option("--port", min=1, max=65535)] = 8000,
    seed: Annotated[int, typer.Option("--seed", help="The same seed builds the same city")] = 7,
    size: Annotated[str, typer.Option("--size", help="small (default, seconds), medium or large")] = "small",
    db: Annotated[Path, typer.Option("--db", help="SQLite file, replaced each time; keys and truth beside it")] = Path("demo.db"),
    host: Annotated[str, typer.Option("--host", help="Address to listen on")] = "127.0.0.1",
    now: Annotated[Optional[str], typer.Option("--now", help="End of the simulated weeks, RFC 3339 (default: this hour)")] = None,
    anomaly_rate: Annotated[Optional[float], typer.Option("--anomaly-rate", min=0.0, max=0.2, help="Share of opportunities planted with an anomaly")] = None,
    tamper: Annotated[bool, typer.Option("--tamper", help="Also edit stored rows behind the ledger's back")] = False,
    report: Annotated[bool, typer.Option("--report", help="Print recall and precision per finding kind")] = False,
    serve_after: Annotated[bool, typer.Option("--serve/--no-serve", help="Serve the API once built")] = True,
    province: Annotated[bool, typer.Option("--province", help="Three city ledgers and a provincial hub (the hub on --port, the cities on the next three)")] = False,
) -> None:
    """Build a demo city into a fresh SQLite file, then serve the API and pages; prints URL, tokens, codes."""
    from tools.demo import SIZES, runner
    from ledger.domain import parse_time

    if province:
        from tools.demo.province import run_province

        run_province(port, host=host, seed=seed, keep_serving=serve_after)
        return

    if size not in SIZES:
        err.print(f"[red]error:[/red] --size must be one of {', '.join(SIZES)}")
        raise typer.Exit(2)
    try:
        end = None if now is None else parse_time(now, "--now")
    except LedgerError as exc:
        _fail(exc)
    runner.run(db=db, port=port, host=host, seed=seed, size=size, now=end, anomaly_rate=anomaly_rate,
               tamper=tamper, show_report=report, keep_serving=serve_after)


def main() -> None:
    from tools import friendly

    friendly.run(app)  # a fixable mistake ends in one line saying what to do, not a traceback


if __name__ == "__main__":
    main()
