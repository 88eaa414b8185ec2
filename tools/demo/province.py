"""``ledger demo --province``: three city ledgers and a provincial hub on one machine (docs/regions.md).

Each city is built as ``ledger demo`` builds one (a smaller city), into an SQLite
file of its own in a fresh folder, with its own log origin, keys and accounts,
and a read-only (regulator) account it issues to the hub. The hub follows and
witnesses all three: each city lists the hub in its ``LEDGER_WITNESSES``. Every
ledger and the hub run as processes of their own (``ledger serve``, ``ledger hub
serve``); the command prints each one's URL and tokens and where to look, and
Ctrl-C or SIGTERM stops them all.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import httpx
from rich.console import Console

from ledger.config import Settings
from ledger.domain import Role
from ledger.keys import ensure_key, load_key
from ledger.sealing import ensure_personal_keys
from ledger.service import Ledger
from ledger.signednote import NoteSigner, NoteVerifier
from ledger.storage.hub import HubStore
from ledger.storage.witness import WitnessStore
from tools.hub import follow_city, setup_witness

from . import city as founding
from .build import build_city
from .config import SIZES
from .crossing import drive, prepare, register_neighbours
from .places import HANGZHOU, District, Locale, Point

__all__ = ["CITIES", "run_province"]


@dataclass(frozen=True)
class DemoCity:
    name: str  # also its name in the other cities' LEDGER_PEERS
    slug: str
    region: str  # the city's GB/T 2260 code
    districts: tuple[District, ...] | None = None  # its own districts (GB/T 2260); None: the demo's Hangzhou ones
    locale: Locale = HANGZHOU  # the names its parties are founded with


CITIES = (
    DemoCity("杭州", "hangzhou", "330100"),
    DemoCity("绍兴", "shaoxing", "330600", (
        District("330602", "越城区", Point(30.0003, 120.5853), 4.5, 0.45),
        District("330603", "柯桥区", Point(30.0817, 120.4953), 5.5, 0.35),
        District("330604", "上虞区", Point(30.0324, 120.8684), 5.5, 0.20)),
        Locale("绍兴", ("绍兴燃气集团有限公司", "越城液化石油气有限公司", "柯桥华通燃气有限公司", "上虞天然燃气有限公司"),
               "绍兴市特种设备检测院", "浙D")),
    DemoCity("宁波", "ningbo", "330200", (
        District("330203", "海曙区", Point(29.8596, 121.5509), 4.5, 0.35),
        District("330205", "江北区", Point(29.8868, 121.5550), 4.0, 0.20),
        District("330212", "鄞州区", Point(29.8170, 121.5466), 6.0, 0.45)),
        Locale("宁波", ("宁波甬能燃气集团有限公司", "海曙液化石油气有限公司", "江北华港燃气有限公司", "鄞州天然燃气有限公司"),
               "宁波市特种设备检验研究院", "浙B")),
)
# The traffic across city lines (tools/demo/crossing.py): (home, away) and how many cylinders go there and back;
# the anomalies are planted on the first.
CROSSINGS = ((("杭州", "绍兴"), {"travellers": 2}), (("宁波", "绍兴"), {"travellers": 1, "planted": False}))
# A smaller city than `ledger demo`'s small one: three of them are built before anything is served.
TOWN = SIZES["small"].with_(companies=2, stations=2, transporters=1, shops=4, households=120, restaurants=8, days=35)
ROOT = Path(__file__).resolve().parents[2]


@contextlib.contextmanager
def _founded_in(city: DemoCity):
    """Found ``city`` in its own districts and names: the demo city is founded in ``tools.demo.city.DISTRICTS``
    with ``tools.demo.city.LOCALE``'s names."""
    kept = founding.DISTRICTS, founding.LOCALE
    founding.DISTRICTS, founding.LOCALE = city.districts or kept[0], city.locale
    try:
        yield
    finally:
        founding.DISTRICTS, founding.LOCALE = kept


def _wait(url: str, process: subprocess.Popen, what: str, seconds: float = 120) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{what} exited with status {process.returncode}")
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{what} did not answer at {url}")


def run_province(port: int, host: str = "127.0.0.1", folder: Path | None = None, seed: int = 7,
                 console: Console | None = None, keep_serving: bool = True) -> dict:
    """Build, start and announce; serve until stopped. Returns what was started (for tests, with
    ``keep_serving=False``: the processes are then stopped before returning)."""
    console = console or Console()
    folder = Path(folder or tempfile.mkdtemp(prefix="ledger-province-")).resolve()
    folder.mkdir(parents=True, exist_ok=True)
    hub_url, hub_base = f"sqlite:///{folder / 'hub.db'}", f"http://{host}:{port}"
    now = datetime.now(timezone.utc).replace(minute=0, second=0, microsecond=0)  # the cities are current
    environment = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}

    store, witness = HubStore(hub_url), WitnessStore(hub_url)
    store.create()
    witness.create()
    cosigner, _ = setup_witness(witness, "hub.province.demo/witness", folder / "hub-witness.key")
    hub_token = store.create_account("省级监管（演示）")
    witnesses = folder / "witnesses.txt"
    witnesses.write_text(f"hub {hub_base}/witness {cosigner.vkey()}\n", encoding="utf-8")

    started: dict = {"folder": folder, "hub": hub_base, "hub_token": hub_token, "cities": {}}
    processes: list[subprocess.Popen] = []
    ledgers: dict[str, Ledger] = {}
    try:
        # Every city lists the other two as its peers (LEDGER_PEERS), by name, URL and log key.
        every: dict[str, Settings] = {}
        for number, city in enumerate(CITIES, 1):
            base = f"http://{host}:{port + number}"
            every[city.name] = Settings(
                database_url=f"sqlite:///{folder / (city.slug + '.db')}", key_file=folder / f"{city.slug}-log.key",
                label_key_file=folder / f"{city.slug}-label.key",
                personal_key_file=folder / f"{city.slug}-personal.key", log_origin=f"{city.slug}.cylinder-ledger.local/log",
                base_url=base, region=city.region, peers_file=folder / f"{city.slug}-peers.txt", hub_url=hub_base)
            ensure_key(every[city.name].key_file)
            ensure_key(every[city.name].label_key_file)
            ensure_personal_keys(every[city.name].personal_key_file)
        vkeys = {name: NoteSigner(s.log_origin, load_key(s.key_file)).verifier.vkey() for name, s in every.items()}
        for name, settings in every.items():
            settings.peers_file.write_text("".join(f"{other} {every[other].base_url} {vkeys[other]}\n"
                                                   for other in every if other != name), encoding="utf-8")
        builds = {}
        for number, city in enumerate(CITIES, 1):
            settings = every[city.name]
            ledger = ledgers[city.name] = Ledger(settings)
            ledger.db.migrate()
            with console.status(f"building {city.name} ({city.region})"), _founded_in(city):
                builds[city.name] = build_city(ledger, TOWN.with_(now=now), seed + number)
        with console.status("registering each city's neighbours"):
            for name, ledger in ledgers.items():
                register_neighbours(ledger, {other: (ledgers[other], builds[other].city) for other in ledgers
                                             if other != name})
            crossings = [prepare(*[(name, ledgers[name], builds[name].city) for name in pair], now, **options)
                         for pair, options in CROSSINGS]
        for number, city in enumerate(CITIES, 1):
            city_port, settings, ledger, built = port + number, every[city.name], ledgers[city.name], builds[city.name]
            base = settings.base_url
            with ledger.db.writing() as connection:
                regulator = ledger.create_account(connection, role=Role.REGULATOR, party=None, name="demo regulator")
                for_hub = ledger.create_account(connection, role=Role.REGULATOR, party=None, name="provincial hub")
            follow_city(store, witness, hub_url, city.name, base, NoteVerifier.from_vkey(vkeys[city.name]), for_hub,
                        city.region)
            env = {**environment, "LEDGER_DATABASE_URL": settings.database_url, "LEDGER_KEY_FILE": str(settings.key_file),
                   "LEDGER_LABEL_KEY_FILE": str(settings.label_key_file),
                   "LEDGER_PERSONAL_KEY_FILE": str(settings.personal_key_file), "LEDGER_LOG_ORIGIN": settings.log_origin,
                   "LEDGER_BASE_URL": base, "LEDGER_WITNESSES": str(witnesses), "LEDGER_CHECKPOINT_INTERVAL": "5",
                   "LEDGER_REGION": city.region, "LEDGER_PEERS": str(settings.peers_file), "LEDGER_HUB_URL": hub_base}
            with (folder / f"{city.slug}-serve.log").open("ab") as log:
                processes.append(subprocess.Popen(
                    [sys.executable, "-m", "tools.cli", "serve", "--db", settings.database_url, "--host", host,
                     "--port", str(city_port)], cwd=folder, env=env, stdout=log, stderr=subprocess.STDOUT))
            started["cities"][city.name] = {"url": base, "region": city.region, "origin": settings.log_origin,
                                            "regulator": regulator, "events": built.events,
                                            "showcase": built.showcase()}
        store.dispose()
        witness.dispose()
        with (folder / "hub-serve.log").open("ab") as log:
            processes.append(subprocess.Popen(
                [sys.executable, "-m", "tools.cli", "hub", "serve", "--db", hub_url, "--host", host, "--port", str(port),
                 "--interval", "2"], cwd=folder, env=environment, stdout=log, stderr=subprocess.STDOUT))
        for (name, city), process in zip(started["cities"].items(), processes):
            _wait(f"{city['url']}/healthz", process, f"the ledger of {name}")
        _wait(f"{hub_base}/healthz", processes[-1], "the hub")
        swept = CROSSINGS[0][0][0]  # the home of the planted handover nobody confirmed runs its clock
        for name, ledger in ledgers.items():
            if name != swept:
                ledger.db.dispose()
        with console.status("cylinders crossing city lines"):
            drive(crossings, started, ledgers[swept], now)
        started["crossings"] = [{"from": c.home, "to": c.away, "cylinders": c.travellers, "planted": c.planted}
                                for c in crossings]
        _announce(console, started)
        if not keep_serving:
            return started
        previous = signal.signal(signal.SIGTERM, _stop)
        try:
            while all(process.poll() is None for process in processes):
                time.sleep(0.5)
            console.print("[red]a process stopped on its own; stopping the others[/red] (logs in "
                          f"{folder})")
        except (KeyboardInterrupt, _Stopped):
            pass
        finally:
            signal.signal(signal.SIGTERM, previous)
        return started
    finally:
        for ledger in ledgers.values():
            ledger.db.dispose()
        for process in processes:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in processes:
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        console.print("stopped")


def _announce(console: Console, started: dict) -> None:
    console.print(f"\n[bold]A province of three city ledgers and a hub[/bold] (files in {started['folder']})")
    for name, city in started["cities"].items():
        console.print(f"  {name} ({city['region']}): {city['url']}   log {city['origin']}, {city['events']} events")
        console.print(f"      regulator token {city['regulator']}")
        code = next(iter(city["showcase"].values()), None)
        if code:
            console.print(f"      a cylinder to trace: {code}   {started['hub']}/trace?code={code}")
    console.print(f"  provincial hub: {started['hub']}   token {started['hub_token']}")
    for crossed in started["crossings"]:
        home, away = started["cities"][crossed["from"]], started["cities"][crossed["to"]]
        console.print(f"\n[bold]Across the line[/bold]: {crossed['from']} → {crossed['to']} and back "
                      f"(dispatched to its transporter, delivered to its shop, returned)")
        for code in crossed["cylinders"]:
            console.print(f"  crossed: {code}   {started['hub']}/trace?code={code}   "
                          f"({crossed['from']} → {crossed['to']} → {crossed['from']})")
        for kind, code in crossed["planted"].items():
            console.print(f"  planted across the line: {kind} {code}")
        first = crossed["cylinders"][0]
        console.print(f"  its parts in two logs: {started['hub']}/v1/province/cylinders/{first}/trace (hub token); "
                      f"in each city {home['url']}/trace/{first} and {away['url']}/trace/{first} (regulator token)")
    console.print("\n[bold]Where to look[/bold]")
    console.print(f"  1. {started['hub']}/signin with the hub token: the dashboard by city (follow state, open findings, "
                  "one colour per enterprise).")
    console.print(f"  2. curl -H 'Authorization: Bearer {started['hub_token']}' "
                  f"'{started['hub']}/v1/province/risk/cylinders?reason=overdue_inspection&format=csv'")
    console.print(f"  3. {started['hub']}/v1/province/cylinders/<code>/bundle, checked with `ledger verify-bundle FILE "
                  "--public-key <each city's GET /v1/log/public-key>`.")
    console.print("  4. Each city's checkpoint (GET /v1/log/checkpoint) carries the hub's cosignature.")
    console.print("\n[bold green]Serving[/bold green] — Ctrl-C stops all")


class _Stopped(Exception):
    """SIGTERM: stop every process."""


def _stop(signum, frame) -> None:
    raise _Stopped()
