"""Shared fixtures: a fresh ledger on SQLite, on PostgreSQL and on a Citus cluster.

Tests that take the ``ledger`` fixture run once per backend. PostgreSQL tests
use a throwaway database on ``LEDGER_TEST_POSTGRES`` (default: the local server)
and are skipped when it is unreachable, unless ``LEDGER_REQUIRE_POSTGRES=1``
(as in CI), where an unreachable server is an error.

The ``citus`` backend (``LEDGER_TEST_BACKENDS=citus``) runs on the coordinator at
``LEDGER_TEST_CITUS`` (``.ci/citus-cluster`` prints it), skipped when unset (an error
with ``LEDGER_REQUIRE_CITUS=1``, as in CI), an error when unreachable. Each test gets
a throwaway schema in the coordinator's database rather than a database of its own:
Citus keeps its nodes per database, and a schema needs neither the extension nor the
workers set up again (made in under 0.1 s and dropped in about 0.5 s; a database with
the extension on three nodes and both workers added takes about 4 s more, docs/scale.md).
"""

from __future__ import annotations

import os
import signal
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import pytest

from ledger.config import Settings
from ledger.domain import EventKind, NewEvent, Paper, PartyKind, PersonRole, Role
from ledger.keys import ensure_key
from ledger.sealing import ensure_personal_keys
from ledger.service import Actor, Ledger, Registration

def pytest_configure(config) -> None:
    """The same conditions in every test process, also pytest-xdist's workers, which have no terminal and
    ignore Ctrl-C: messages are read as one line (rich wraps at COLUMNS, 80 without a terminal), and a
    test that stops a server with SIGINT, as a person would, needs it not ignored by the server it starts
    (a process inherits an ignored signal; Python installs its Ctrl-C handler only where it is not)."""
    os.environ.setdefault("COLUMNS", "200")
    signal.signal(signal.SIGINT, signal.default_int_handler)


POSTGRES = os.environ.get("LEDGER_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/postgres")
REQUIRE_POSTGRES = os.environ.get("LEDGER_REQUIRE_POSTGRES") == "1"
# Which backends the database-backed tests run on; CI runs the suite once per backend.
BACKENDS = tuple(os.environ.get("LEDGER_TEST_BACKENDS", "sqlite,postgresql").split(","))


def _admin_connection():
    import psycopg

    url = POSTGRES.replace("postgresql+psycopg://", "postgresql://")
    return psycopg.connect(url, autocommit=True, connect_timeout=3)


def create_postgres_database() -> str:
    """Create a throwaway database; returns its SQLAlchemy URL (skips if no server)."""
    try:
        admin = _admin_connection()
    except Exception as exc:  # noqa: BLE001 - any connection failure means "no server here"
        if REQUIRE_POSTGRES:
            raise
        pytest.skip(f"PostgreSQL unreachable: {exc}")
    name = f"cl_test_{uuid.uuid4().hex[:12]}"
    with admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    base, _, _ = POSTGRES.rpartition("/")
    return f"{base}/{name}"


def drop_postgres_database(url: str) -> None:
    name = url.rsplit("/", 1)[1]
    with _admin_connection() as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


CITUS = os.environ.get("LEDGER_TEST_CITUS", "")
_CITUS_SCHEMA = "?options=-csearch_path%3D"


def _citus_connection():
    import psycopg

    if not CITUS:
        if os.environ.get("LEDGER_REQUIRE_CITUS") == "1":
            raise RuntimeError("LEDGER_REQUIRE_CITUS=1 but LEDGER_TEST_CITUS is not set")
        pytest.skip("no Citus cluster: set LEDGER_TEST_CITUS to a coordinator's URL (.ci/citus-cluster)")
    return psycopg.connect(CITUS.replace("postgresql+psycopg://", "postgresql://"), autocommit=True, connect_timeout=3)


def create_citus_schema() -> str:
    """A throwaway schema on the Citus coordinator; returns a URL whose connections work in it."""
    name = f"cl_test_{uuid.uuid4().hex[:12]}"
    with _citus_connection() as admin:
        admin.execute(f'CREATE SCHEMA "{name}"')
    return f"{CITUS}{_CITUS_SCHEMA}{name}"


def create_database(backend: str, folder: Path) -> str:
    """A fresh, empty database of ``backend`` (sqlite, postgresql or citus); returns its URL."""
    if backend == "sqlite":
        return f"sqlite:///{folder / 'ledger.db'}"
    return create_citus_schema() if backend == "citus" else create_postgres_database()


# The ``partitioned`` backend: PostgreSQL with events partitioned by log position (docs/scale.md), in blocks
# small enough that a test's appends cross several of them.
PARTITION_WIDTH = 64


def partition_events(database, width: int = PARTITION_WIDTH, ahead: int = 12) -> None:
    from ledger.storage import partitions

    with database.writing() as connection:
        partitions.partition_events(connection, width, ahead)


def drop_database(url: str) -> None:
    """Remove what ``create_database`` made (nothing for SQLite, whose file is in the test's folder)."""
    if url.startswith("sqlite"):
        return
    if _CITUS_SCHEMA not in url:
        drop_postgres_database(url)
        return
    with _citus_connection() as admin:
        admin.execute(f'DROP SCHEMA IF EXISTS "{url.rsplit("%3D", 1)[1]}" CASCADE')


@pytest.fixture
def database_url(request, tmp_path: Path) -> Iterator[str]:
    url = create_database(getattr(request, "param", "sqlite"), tmp_path)
    try:
        yield url
    finally:
        drop_database(url)


def opened_end_users(ledger: Ledger, connection) -> list[tuple[str, str | None, str | None, str | None]]:
    """(ref, name, phone, address) of every end user, opened with the ledger's personal-data key:
    the table itself holds them only sealed (docs/privacy.md)."""
    from sqlalchemy import text

    from ledger.service.endusers import load_row

    found = []
    for row in connection.execute(text("SELECT ref, sealed FROM end_users WHERE sealed IS NOT NULL")):
        data = load_row(ledger.personal_keys, row)
        found.append((row.ref, data["name"], data["phone"], data["address"]))
    return found


def make_settings(database_url: str, folder: Path) -> Settings:
    return Settings(
        database_url=database_url,
        key_file=folder / "log.key",
        label_key_file=folder / "label.key",
        personal_key_file=folder / "personal.key",
        log_origin="test.cylinder-ledger/log",
        base_url="https://trace.example",
    )


def migrated_ledger(url: str, folder: Path) -> Ledger:
    """A ledger over ``url`` with its keys in ``folder``, its schema at the newest revision."""
    settings = make_settings(url, folder)
    ensure_key(settings.key_file)
    ensure_key(settings.label_key_file)
    ensure_personal_keys(settings.personal_key_file)
    instance = Ledger(settings)
    instance.db.migrate()
    return instance


@pytest.fixture(params=BACKENDS)
def ledger(request, tmp_path: Path) -> Iterator[Ledger]:
    url = create_database(request.param, tmp_path)
    instance = migrated_ledger(url, tmp_path)
    if request.param == "partitioned":
        partition_events(instance.db)
    try:
        yield instance
    finally:
        instance.db.dispose()
        drop_database(url)


NOW = datetime(2026, 5, 1, 8, 0, tzinfo=timezone.utc)
ADMIN = Actor(Role.ADMIN, None, "admin")


@dataclass
class Town:
    """A minimal set of parties: one company with a station, a transporter, a shop."""

    company: str
    station: str
    transporter: str
    shop: str
    driver: str
    escort: str
    end_user: str = ""

    @property
    def at_station(self) -> Actor:
        """The filling station's account, which records fills."""
        return Actor(Role.COMPANY, self.station, "station operator")


def build_town(ledger: Ledger) -> Town:
    licence = Paper("LIC-1", date(2030, 12, 31))
    with ledger.db.writing() as c:
        company = ledger.create_party(c, kind=PartyKind.GAS_COMPANY, name="Hangzhou Gas", region="330110", licence=licence, now=NOW)
        station = ledger.create_party(c, kind=PartyKind.FILLING_STATION, name="Station 1", region="330110",
                                      licence=licence, parent=company.id, now=NOW)
        transporter = ledger.create_party(c, kind=PartyKind.TRANSPORTER, name="Fast Haul", region="330110", licence=licence, now=NOW)
        shop = ledger.create_party(c, kind=PartyKind.SHOP, name="Corner Gas", region="330110", licence=licence, now=NOW)
        cert = Paper("CERT-1", date(2030, 12, 31))
        driver = ledger.create_person(c, party=transporter.id, name="Wang", role=PersonRole.DRIVER, certificate=cert, now=NOW)
        escort = ledger.create_person(c, party=transporter.id, name="Li", role=PersonRole.ESCORT, certificate=cert, now=NOW)
        end_user = ledger.create_end_user(c, Actor(Role.SHOP, shop.id, "shop"), kind="household", name="Zhang",
                                          phone="13800001234", address="Wensan Road 1, Hangzhou", now=NOW)
    return Town(company.id, station.id, transporter.id, shop.id, driver.id, escort.id, end_user)


def register(ledger: Ledger, town: Town, count: int = 1, at: datetime = NOW) -> list[str]:
    codes = []
    with ledger.db.writing() as c:
        for n in range(count):
            outcome = ledger.register(
                c, ADMIN,
                Registration(town.company, f"SN-{uuid.uuid4().hex[:10]}", "Zhejiang Steel", date(2022, 3, 1), "YSP-15",
                             15.2, 8, date(2024, 3, 1), date(2028, 3, 1), occurred_at=at),
                now=at + timedelta(minutes=1),
            )
            codes.append(outcome.event.cylinder)
    return codes


def fill(cylinder: str, town: Town, at: datetime, net_kg: float = 14.5, key: str | None = None) -> NewEvent:
    return NewEvent(cylinder, EventKind.FILL, at, town.station, key or str(uuid.uuid4()), data={"net_kg": net_kg})
