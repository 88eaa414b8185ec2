"""`ledger hub`: the provincial hub that follows, witnesses and serves a province of city ledgers (docs/regions.md).

    ledger hub init --db URL --name NAME [--key FILE]   the hub's database and witness key; prints its witness vkey
    ledger hub add-city NAME URL LOG_VKEY --db URL [--token T] [--region R] [--mirror-db URL]
    ledger hub add-account NAME --db URL                a regulator account of the hub; prints its token
    ledger hub cities --db URL                          each city: log, verified size, follow state
    ledger hub follow --db URL [--once]                 verify and store every city's new entries
    ledger hub serve --db URL [--host] [--port]         the province's API and pages, the witness, the follower

Each city's log is held in a verified mirror database of its own (the mirror store
holds one log per database): beside an SQLite hub database ``hub.db`` the city's is
``hub.db.<key>.db``; on PostgreSQL a database named after the hub's with the key
appended, created if missing. ``--mirror-db`` names another.
"""

from __future__ import annotations

import hashlib
import os
import threading
from pathlib import Path
from typing import Annotated, Optional

import typer
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from rich.console import Console

from ledger.errors import LedgerError
from ledger.keys import ensure_key, load_key
from ledger.service.hub import CityView
from ledger.service.mirror import MirrorRefused
from ledger.signednote import NoteVerifier
from ledger.storage import Database
from ledger.storage.hub import City, HubStore, ensure_database
from ledger.storage.witness import WitnessStore
from ledger.witness import Cosigner
from tools.mirror import LogClient, Unreachable, follow_once

app = typer.Typer(help="The provincial hub: follow and witness each city's log, serve the province.",
                  no_args_is_help=True)
err = Console(stderr=True, soft_wrap=True)

DEFAULT_DB = "sqlite:///hub.db"
DbOption = Annotated[Optional[str], typer.Option(
    "--db", help=f"The hub's own database (default: LEDGER_HUB_DATABASE_URL or {DEFAULT_DB})")]


def _url(db: str | None) -> str:
    return db or os.environ.get("LEDGER_HUB_DATABASE_URL", DEFAULT_DB)


def _fail(message: str) -> None:
    err.print(f"[red]error:[/red] {message}")
    raise typer.Exit(2)


def _open(db: str | None) -> tuple[HubStore, WitnessStore]:
    url = _url(db)
    try:
        store, witness = HubStore(url), WitnessStore(url)
        store.create()
        witness.create()
    except LedgerError as exc:
        _fail(exc.message)
    except Exception as exc:  # noqa: BLE001 - a URL no database answers at: say why, in one line
        _fail(f"cannot open the hub's database: {str(exc).splitlines()[0]}")
    return store, witness


def mirror_url_for(hub_url: str, name: str) -> str:
    """The database a city's mirror lives in, next to the hub's own."""
    key = hashlib.sha256(name.encode("utf-8")).hexdigest()[:10]
    if hub_url.startswith("sqlite"):
        return f"{hub_url}.{key}.db"
    base, _, rest = hub_url.rpartition("/")
    database, query = (rest.split("?", 1) + [""])[:2]
    return f"{base}/{database}_{key}" + (f"?{query}" if query else "")


def setup_witness(witness: WitnessStore, name: str, key_file: Path) -> tuple[Cosigner, bool]:
    """The hub's witness key (made if missing) and its settings; (cosigner, whether the key was made)."""
    private_key, created = ensure_key(key_file)
    cosigner = Cosigner(name, private_key)
    for setting, value in (("name", name), ("vkey", cosigner.vkey()), ("key_file", str(key_file))):
        witness.settle(setting, value)
    return cosigner, created


def follow_city(store: HubStore, witness: WitnessStore, hub_url: str, name: str, url: str, verifier: NoteVerifier,
                token: str | None, region: str | None, mirror_db: str | None = None) -> bool:
    """Record a city to follow, make and migrate its mirror database, and watch its log as a witness."""
    target = mirror_db or mirror_url_for(hub_url, name)
    if target.startswith("postgresql"):
        ensure_database(target)
    mirror = Database(target)
    try:
        mirror.migrate()
    finally:
        mirror.dispose()
    added = store.add_city(name, url.rstrip("/"), verifier.name, verifier.vkey(), region, token, target)
    witness.add_log(verifier.name, verifier.vkey())
    return added


@app.command()
def init(
    name: Annotated[str, typer.Option("--name", help="The hub's witness name, a schema-less URL such as hub.zj.example/witness")],
    db: DbOption = None,
    key: Annotated[Optional[Path], typer.Option("--key", help="The hub's witness key file (default: hub-witness.key)")] = None,
) -> None:
    """Create the hub's database and its witness key; prints the witness's verifier key (for the cities'
    LEDGER_WITNESSES) alone on stdout. Safe to run twice."""
    key_file = (key or Path("hub-witness.key")).resolve()
    try:
        Cosigner(name, Ed25519PrivateKey.generate())
    except LedgerError as exc:
        _fail(exc.message)
    store, witness = _open(db)
    try:
        cosigner, created = setup_witness(witness, name, key_file)
    except LedgerError as exc:
        _fail(exc.message)
    finally:
        store.dispose()
        witness.dispose()
    err.print(f"hub witness {name}: key {'created' if created else 'kept'} at {key_file}")
    typer.echo(cosigner.vkey())


@app.command("add-city")
def add_city(
    name: Annotated[str, typer.Argument(help="The city's name, e.g. 杭州")],
    url: Annotated[str, typer.Argument(help="The city ledger's base URL")],
    log_vkey: Annotated[str, typer.Argument(help="The city's log verifier key (GET /v1/log/public-key), or a file")],
    db: DbOption = None,
    token: Annotated[Optional[str], typer.Option("--token", help="A read-only (regulator) token the city issued to the hub")] = None,
    region: Annotated[Optional[str], typer.Option("--region", help="The city's 6-digit region code, e.g. 330100")] = None,
    mirror_db: Annotated[Optional[str], typer.Option("--mirror-db", help="The city's mirror database (default: beside the hub's)")] = None,
) -> None:
    """Follow a city: mirror its log (verified) and witness its checkpoints."""
    if not name or len(name) > 64 or name != name.strip():
        _fail("a city's name is 1 to 64 characters without surrounding spaces")
    if not url.startswith(("http://", "https://")):
        _fail("the city's URL must start with http:// or https://")
    if region is not None and not (len(region) == 6 and region.isdigit()):
        _fail("--region is a 6-digit administrative division code")
    path = Path(log_vkey)
    try:
        verifier = NoteVerifier.from_vkey(path.read_text().strip() if path.is_file() else log_vkey)
    except LedgerError as exc:
        _fail(f"LOG_VKEY: {exc.message}")
    store, witness = _open(db)
    try:
        added = follow_city(store, witness, _url(db), name, url, verifier, token, region, mirror_db)
    except LedgerError as exc:
        _fail(exc.message)
    finally:
        store.dispose()
        witness.dispose()
    typer.echo(f"{'following' if added else 'already following'} {name}: log {verifier.name} at {url}")


@app.command("add-account")
def add_account(name: Annotated[str, typer.Argument(help="Who holds the account, e.g. 省市场监管局")],
                db: DbOption = None) -> None:
    """A regulator account of the hub: prints its bearer token once, alone on stdout."""
    store, witness = _open(db)
    try:
        typer.echo(store.create_account(name))
    except LedgerError as exc:
        _fail(exc.message)
    finally:
        store.dispose()
        witness.dispose()


@app.command("cities")
def list_cities(db: DbOption = None) -> None:
    """Each city: name, log origin, verified size, follow state and problem."""
    store, witness = _open(db)
    try:
        for city in store.cities():
            typer.echo(f"{city.name}\t{city.origin}\t{city.size}\t{city.status}\t{city.problem or ''}")
    finally:
        store.dispose()
        witness.dispose()


class Follower:
    """One round over every city: verify and store its new entries (``tools.mirror.follow_once``), and
    record in the hub's database how it went. A refused city stays refused until an operator looks."""

    def __init__(self, store: HubStore) -> None:
        self.store = store
        self.mirrors: dict[str, Database] = {}
        self.clients: dict[str, LogClient] = {}  # one per city, its connection kept from round to round
        self.state: dict[str, tuple] = {}
        self.known: list[City] | None = None
        self.lock = threading.Lock()

    def mirror(self, city: City) -> Database:
        with self.lock:  # the follower's thread and the requests' share the engines
            if city.name not in self.mirrors:
                self.mirrors[city.name] = Database(city.mirror_url, pool_size=4)
            return self.mirrors[city.name]

    def views(self) -> list[CityView]:
        """The followed cities as the last round found them (read from the hub's database before the first), each
        with its mirror's engine and the checkpoint the follower last verified and stored in it."""
        cities = self.known if self.known is not None else self.store.cities()
        return [CityView(c.name, c.url, c.origin, c.region, c.token, self.mirror(c),
                         (self.state.get(c.name) or (None,))[0]) for c in cities]

    def round(self) -> list[str]:
        said = []
        cities = self.store.cities()
        self.known = cities  # a city added while serving is served from the next round on
        for city in cities:
            said.append(f"{city.name}: {self.follow(city)}")
        return said

    def client(self, city: City) -> LogClient:
        """The city's log client, made anew if the city's address changed."""
        client = self.clients.get(city.name)
        if client is None or client.base != city.url.rstrip("/"):
            if client is not None:
                client.close()
            client = self.clients[city.name] = LogClient(city.url)
        return client

    def follow(self, city: City) -> str:
        client = self.client(city)
        try:
            verifier = NoteVerifier.from_vkey(city.vkey)
            done, known = follow_once(self.mirror(city), client, verifier, self.state.get(city.name))
            self.state[city.name] = known
            self.store.followed(city.name, "ok", None, known[0].size if known[0] is not None else 0)
            return done
        except MirrorRefused as exc:
            self.state.pop(city.name, None)
            self.store.followed(city.name, "refused", exc.message)
            return f"REFUSED: {exc.message}"
        except Unreachable as exc:
            self.state.pop(city.name, None)
            self.store.followed(city.name, "unreachable", str(exc)[:500])
            return f"unreachable: {exc}"

    def close(self) -> None:
        for client in self.clients.values():
            client.close()
        for database in self.mirrors.values():
            database.dispose()


@app.command()
def follow(db: DbOption = None,
           once: Annotated[bool, typer.Option("--once", help="One round and exit: 0 all verified, 1 a city refused")] = False,
           interval: Annotated[float, typer.Option("--interval", min=0.1)] = 10.0) -> None:
    """Verify and store each city's new entries, round after round."""
    import time

    store, witness = _open(db)
    follower = Follower(store)
    try:
        while True:
            for line in follower.round():
                typer.echo(line)
            if once:
                refused = any(c.status == "refused" for c in store.cities())
                raise typer.Exit(1 if refused else 0)
            time.sleep(interval)
    except KeyboardInterrupt:
        pass
    finally:
        follower.close()
        store.dispose()
        witness.dispose()


@app.command()
def serve(db: DbOption = None,
          host: Annotated[str, typer.Option("--host")] = "127.0.0.1",
          port: Annotated[int, typer.Option("--port", min=1, max=65535)] = 8090,
          interval: Annotated[float, typer.Option("--interval", min=0.1, help="Seconds between follow rounds")] = 5.0) -> None:
    """The province's API and pages, the witness under /witness, and the follower every --interval seconds."""
    import uvicorn

    from api.hub import hub_app
    from api.logs import LOG_CONFIG

    store, witness = _open(db)
    name, key_file, vkey = (witness.setting(k) for k in ("name", "key_file", "vkey"))
    if name is None or key_file is None:
        _fail("this hub has no witness key yet: run `ledger hub init --name NAME` first")
    try:
        cosigner = Cosigner(name, load_key(Path(key_file)))
    except LedgerError as exc:
        _fail(exc.message)
    if cosigner.vkey() != vkey:
        _fail(f"the key at {key_file} is not the one this hub was set up with ({vkey})")
    follower = Follower(store)
    stop = threading.Event()

    def keep_following() -> None:
        while not stop.is_set():
            try:
                for line in follower.round():
                    if "up to date" not in line:
                        err.print(line)
            except Exception as exc:  # noqa: BLE001 - one bad round is reported; the next one tries again
                err.print(f"[red]follow round failed:[/red] {type(exc).__name__}: {exc}")
            stop.wait(interval)

    thread = threading.Thread(target=keep_following, name="hub-follower", daemon=True)
    thread.start()
    err.print(f"hub serving on http://{host}:{port} (witness {cosigner.vkey()} at /witness)")
    try:
        uvicorn.run(hub_app(store, follower.views, cosigner, witness), host=host, port=port, access_log=False,
                    log_config=LOG_CONFIG, server_header=False)
    finally:
        stop.set()
        thread.join(30)
        follower.close()
        store.dispose()
        witness.dispose()
