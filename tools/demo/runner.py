"""``ledger demo``: a fresh demo city in an embedded SQLite file, then the API and pages.

Replaces the database and its keys each time, builds the city with a progress
bar, creates one account per role, prints the URL, the tokens and trace codes
worth a look, label links (a forged one among them), what to do next, and serves until
Ctrl-C or SIGTERM with the access log in a file beside the database.
"""

from __future__ import annotations

import signal
from copy import deepcopy
from datetime import datetime, timezone
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskProgressColumn, TextColumn, TimeElapsedColumn

from ledger.config import Settings
from ledger.domain import Role
from ledger.errors import InvalidInput
from ledger.keys import ensure_key
from ledger.sealing import ensure_personal_keys
from ledger.service import Ledger

from . import quality
from .anomalies import write_truth
from .build import CityBuild, build_city
from .config import SIZES

__all__ = ["fresh_settings", "create_accounts", "build", "report", "announce", "serve", "save_truth", "run",
           "label_examples", "access_log_path"]


def fresh_settings(db: Path, port: int, host: str = "127.0.0.1") -> Settings:
    """Settings for a new demo database at ``db``: the old file, its journal and keys are removed.

    Only files an earlier ``ledger demo`` made are ever removed: its truth file
    beside them says so. Anything else there (a real ledger, a signing key)
    makes this raise ``InvalidInput`` and nothing is touched.
    """
    db = db.resolve()
    db.parent.mkdir(parents=True, exist_ok=True)
    log_key, label_key, marker = db.with_name(db.stem + "-log.key"), db.with_name(db.stem + "-label.key"), truth_path(db)
    personal_key = db.with_name(db.stem + "-personal.key")
    stale = [db, Path(f"{db}-wal"), Path(f"{db}-shm"), Path(f"{db}-journal"), log_key, label_key, personal_key,
             access_log_path(db)]
    foreign = [path for path in stale if path.exists()]
    if foreign and not marker.exists():
        raise InvalidInput(f"{foreign[0]} was not made by `ledger demo` (no {marker.name} beside it), so it is "
                           "left alone: choose another --db")
    for path in stale:
        path.unlink(missing_ok=True)
    marker.write_text('{"building": true}\n', encoding="utf-8")  # replaced by the truth once built
    return Settings(database_url=f"sqlite:///{db}", key_file=log_key, label_key_file=label_key,
                    personal_key_file=personal_key,
                    log_origin="demo.cylinder-ledger.local/log", base_url=f"http://{host}:{port}")


def create_accounts(ledger: Ledger, built: CityBuild) -> dict[str, tuple[str, str | None, str]]:
    """One account per role on the city's first party of each kind: role -> (token, party, name)."""
    city = built.city
    wanted = [
        (Role.ADMIN, None, "demo admin"),
        (Role.REGULATOR, city.regulator, "demo regulator"),
        (Role.INSPECTOR, city.regulator, "demo grid inspector"),
        (Role.COMPANY, city.companies[0], "demo gas company"),
        (Role.TRANSPORTER, city.transporters[0], "demo transporter"),
        (Role.SHOP, city.shops[0], "demo shop"),
        (Role.INSPECTION, city.inspection_stations[0], "demo inspection station"),
    ]
    accounts = {}
    with ledger.db.writing() as connection:
        for role, site, name in wanted:
            party = None if site is None else site.id
            token = ledger.create_account(connection, role=role, party=party, name=name)
            accounts[role.value] = (token, party, site.name if site else "all parties")
    return accounts


def build(settings: Settings, *, size: str, seed: int, now: datetime | None, console: Console,
          anomaly_rate: float | None = None, tamper: bool = False) -> tuple[Ledger, CityBuild]:
    """Migrate a fresh database, create keys and build the city with a progress bar."""
    ensure_key(settings.key_file)
    ensure_key(settings.label_key_file)
    ensure_personal_keys(settings.personal_key_file)
    ledger = Ledger(settings)
    ledger.db.migrate()
    config = SIZES[size].with_(now=now or _this_hour(), tamper=tamper)
    if anomaly_rate is not None:
        config = config.with_(anomaly_rate=anomaly_rate)
    columns = (TextColumn("building the demo city"), BarColumn(), TaskProgressColumn(), MofNCompleteColumn(),
               TextColumn("events"), TimeElapsedColumn())
    with Progress(*columns, console=console, transient=True) as bar:
        task = bar.add_task("city", total=config.estimated_events())
        built = build_city(ledger, config, seed, progress=lambda n: bar.advance(task, n))
    return ledger, built


def _this_hour() -> datetime:
    """The default end of the simulated weeks: the start of the current hour, so the city is current."""
    return datetime.now(timezone.utc).replace(minute=0, second=0, microsecond=0)


def report(ledger: Ledger, built: CityBuild) -> str:
    """The quality tables: what the ledger raised, and what the rules imply when replayed at ``now``."""
    truth = [plant.as_dict() for plant in built.truth]
    with ledger.db.reading() as connection:
        stored = quality.from_table(connection)
        tampered = quality.from_audit(connection, ledger.verifier) if built.tampered else []
        replayed = quality.from_rules(connection, built.config.now)
    parts = []
    if stored:
        parts += ["Raised by the ledger as events arrived (findings table, resolved ones excluded):",
                  quality.render(quality.score(truth, stored + tampered)), ""]
    else:
        parts += ["The findings table is empty: the ledger raised nothing as events arrived.", ""]
    # unregistered codes have no history to replay: the service raises them as they are scanned
    replayed += [finding for finding in stored if finding.kind == "unregistered_code"]
    parts += ["Implied by the custody rules, replayed over every stored history at the end of the window",
              "(unregistered_code as the service raised it):",
              quality.render(quality.score(truth, replayed + tampered))]
    return "\n".join(parts)


def announce(console: Console, settings: Settings, built: CityBuild, accounts: dict, truth_file: Path | None) -> None:
    city = built.city
    console.print(f"[bold]Demo city[/bold] (seed {built.seed}): {len(city.companies)} gas companies, "
                  f"{len(city.stations)} filling stations, {len(city.transporters)} transporters, "
                  f"{len(city.shops)} shops, {len(city.users)} end users; {built.registered} cylinders, "
                  f"{built.events} events over {built.config.days} days, built in {built.seconds:.1f} s")
    if truth_file is not None:
        console.print(f"planted truth: {truth_file}")
    console.print("\n[bold]Cylinders worth a look[/bold]")
    for kind, code in built.showcase().items():
        console.print(f"  {kind:<27} {code}   {settings.base_url}/c/{code}")
    doorstep(console, settings, built)
    console.print("\n[bold]Labels to open[/bold] (what a phone camera opens from a cylinder)")
    for kind, url in label_examples(settings, built).items():
        console.print(f"  {kind:<27} {url}")
    console.print("\n[bold]Accounts[/bold] (Authorization: Bearer <token>)")
    for role, (token, party, name) in accounts.items():
        console.print(f"  {role:<12} {token}   {party or ''} {name}")


DOORSTEP = {  # story -> what it shows, where
    "unsafe_installation": ("a failed home safety check, not mended", "/trace/{}"),
    "unsafe_installation_mended": ("a failed check resolved by the re-check at the next delivery", "/trace/{}"),
    "rechecked": ("the re-check that resolved it", "/trace/{}"),
    "delivered_despite_hazard": ("delivered although the check found a gas leak", "/trace/{}"),
    "citizen_report": ("a citizen's report of that cylinder", "/track/{}"),
    "citizen_report_black_point": ("a citizen's report of a 黑气点, no cylinder", "/track/{}"),
    "end_user": ("an end user (sealed: regulators see it with a reason, logged)", "/personal-views?ref={}"),
}


def doorstep(console: Console, settings: Settings, built: CityBuild) -> None:
    """One of each doorstep story: safety checks, citizens' reports, a sealed end user."""
    if not built.doorstep:
        return
    console.print("\n[bold]At the doorstep[/bold] (home safety checks, citizens' reports, end users)")
    for story, value in built.doorstep.items():
        what, path = DOORSTEP[story]
        console.print(f"  {story:<27} {value}   {settings.base_url}{path.format(value)}   {what}")


def access_log_path(db: Path) -> Path:
    """Where the demo writes its access log (``demo-access.log`` for ``demo.db``), off the terminal."""
    db = db.resolve()
    return db.with_name(db.stem + "-access.log")


def next_steps(console: Console, settings: Settings, built: CityBuild, accounts: dict, db: Path) -> None:
    """What to try first, with the tokens just printed: the pages, a label, the API, the log's check."""
    base, showcase = settings.base_url, built.showcase()
    code = next(iter(showcase.values()), None)
    regulator = accounts.get("regulator", ("<token>",))[0]
    console.print("\n[bold]What to do next[/bold]")
    console.print(f"  1. sign in at {base}/signin as the regulator (its token is above): {base}/dashboard, "
                  f"then {base}/findings for the planted findings, the risk lists, the cases.")
    if code:
        console.print(f"  2. A citizen's view needs no sign-in: open {base}/c/{code} on a phone.")
    console.print(f"  3. Drivers scan at {base}/driver (sign in with the transporter token).")
    console.print(f"  4. The API ({base}/docs): curl -H 'Authorization: Bearer {regulator}' "
                  f"'{base}/v1/risk/cylinders?reason=overdue_inspection'; as admin, manage {base}/admin/accounts.")
    console.print(f"  5. Check the whole log afterwards: ledger verify --db sqlite:///{db.resolve()}")
    console.print(f"  Requests are logged to {access_log_path(db)}, not here.")


def serve(settings: Settings, ledger: Ledger, host: str, port: int, console: Console,
          access_log: Path | None = None) -> None:
    """Serve the API and pages until Ctrl-C or SIGTERM; uvicorn drains requests before it returns.
    ``access_log``: a file the access log goes to instead of standard output."""
    import uvicorn

    from api.app import create_app
    from api.logs import LOG_CONFIG

    log_config = deepcopy(LOG_CONFIG)
    if access_log is not None:
        log_config["handlers"]["access"] = {"class": "logging.FileHandler", "formatter": "line",
                                            "filename": str(access_log), "encoding": "utf-8"}

    class Announcing(uvicorn.Server):
        """Says "Serving" once the socket listens, so whoever reads it can connect at once."""

        async def startup(self, sockets=None) -> None:
            await super().startup(sockets=sockets)
            if self.started:
                console.print(f"\n[bold green]Serving[/bold green] {settings.base_url}  "
                              f"(API {settings.base_url}/v1, OpenAPI {settings.base_url}/openapi.json) — Ctrl-C stops")

    app = create_app(settings, ledger, publish=True)
    server = Announcing(uvicorn.Config(app, host=host, port=port, access_log=False, log_config=log_config,
                                       server_header=False))
    # uvicorn drains requests on SIGINT/SIGTERM, then raises the signal again for the
    # process; both then end here, as a normal stop.
    previous = signal.signal(signal.SIGTERM, _stop)
    try:
        server.run()
    except (KeyboardInterrupt, _Stopped):
        pass
    finally:
        signal.signal(signal.SIGTERM, previous)
        ledger.db.dispose()
    console.print("stopped")


class _Stopped(Exception):
    """SIGTERM arrived after uvicorn had shut down."""


def _stop(signum, frame) -> None:
    raise _Stopped()


def label_examples(settings: Settings, built: CityBuild) -> dict[str, str]:
    """Label URLs worth opening: a genuine one, a forged one (signed by another key), a scrapped and an
    overdue cylinder's."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from ledger.keys import load_key
    from scanners.payload import label_url

    key, base, today = load_key(settings.label_key_file), settings.base_url, built.config.now.date()
    live = [c for c in built.fleet if c.code and c.registered and not c.scrapped and not c.withdrawn]
    picks: dict[str, str] = {}
    clean = built.showcase().get("clean")
    if clean:
        picks["genuine label"] = label_url(base, clean, key)
        picks["forged label"] = label_url(base, clean, Ed25519PrivateKey.generate())  # not the ledger's key
    scrapped = next((c for c in built.fleet if c.code and c.scrapped), None)
    if scrapped:
        picks["scrapped cylinder"] = label_url(base, scrapped.code, key)
    overdue = next((c for c in live if c.next_inspection_due < today), None)
    if overdue:
        picks["overdue inspection"] = label_url(base, overdue.code, key)
    return picks


def access_log_path(db: Path) -> Path:
    """Where a served demo writes its access log (``demo-access.log`` for ``demo.db``)."""
    db = db.resolve()
    return db.with_name(db.stem + "-access.log")


def truth_path(db: Path) -> Path:
    db = db.resolve()
    return db.with_name(db.stem + "-truth.json")


def save_truth(db: Path, built: CityBuild) -> Path:
    """The planted truth beside the database (``demo-truth.json`` for ``demo.db``)."""
    path = truth_path(db)
    write_truth(path, built.truth, built.meta())
    return path


def run(*, db: Path, port: int, host: str, seed: int, size: str, now: datetime | None,
        anomaly_rate: float | None, tamper: bool, show_report: bool, keep_serving: bool) -> None:
    """Everything ``ledger demo`` does, in order."""
    out = Console(soft_wrap=True, highlight=False)
    err = Console(stderr=True, soft_wrap=True, highlight=False)
    try:
        settings = fresh_settings(db, port, host)
    except InvalidInput as exc:
        err.print(f"[red]error:[/red] {exc.message}")
        raise SystemExit(2) from None
    try:
        ledger, built = build(settings, size=size, seed=seed, now=now, console=err, anomaly_rate=anomaly_rate,
                              tamper=tamper)
    except KeyboardInterrupt:
        err.print(f"interrupted: {db} holds part of a city; run `ledger demo` again for a whole one")
        raise SystemExit(130) from None
    with ledger.db.writing() as connection:
        ledger.sweep(connection, built.config.now)  # what only the clock turns into findings
    accounts = create_accounts(ledger, built)
    announce(out, settings, built, accounts, save_truth(db, built))
    if built.rejections:
        err.print(f"[yellow]warning:[/yellow] the ledger refused {len(built.rejections)} unplanned scans, "
                  f"first: {built.rejections[0]}")
    if show_report:
        out.print("\n" + report(ledger, built))
    if keep_serving:
        next_steps(out, settings, built, accounts, db)
        serve(settings, ledger, host, port, out, access_log_path(db))
    else:
        ledger.db.dispose()
