"""A served ledger for API tests, on SQLite and on PostgreSQL.

``world`` is a fresh database per test; ``shared_world`` one per module (for the
permission matrix, whose hundreds of cells only need independent requests).
Both hold the same cast: a gas company with a filling station, a transporter, a
shop, an inspection station, a regulator, a second company and shop nobody's
account belongs to, one account per role, and a few registered cylinders.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from api.app import create_app
from ledger.config import Settings
from ledger.domain import Paper, PartyKind, PersonRole, Role
from ledger.keys import ensure_key
from ledger.sealing import ensure_personal_keys
from ledger.service import Actor, Ledger, Registration
from tests.conftest import BACKENDS, create_database, drop_database
TABLES = ("parties", "people", "accounts", "end_users", "cylinders", "events", "checkpoints", "findings")
ADMIN = Actor(Role.ADMIN, None, "fixture")
LICENCE = Paper("LIC-2026-001", date(2031, 12, 31))


def database_url(backend: str, folder: Path) -> str:
    return create_database(backend, folder)


def make_ledger(url: str, folder: Path) -> Ledger:
    settings = Settings(database_url=url, key_file=folder / "log.key", label_key_file=folder / "label.key",
                        personal_key_file=folder / "personal.key", log_origin="test.cylinder-ledger/log", base_url="https://trace.example")
    ensure_key(settings.key_file)
    ensure_key(settings.label_key_file)
    ensure_personal_keys(settings.personal_key_file)
    ledger = Ledger(settings)
    ledger.db.migrate()
    return ledger


@dataclass
class World:
    ledger: Ledger
    client: TestClient | None
    parties: dict[str, str] = field(default_factory=dict)
    tokens: dict[str, str] = field(default_factory=dict)
    cylinders: list[str] = field(default_factory=list)
    foreign_cylinder: str = ""
    driver: str = ""
    escort: str = ""
    end_user: str = ""
    finding: int = 0

    def auth(self, account: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[account]}"}

    def account_id(self, account: str) -> int:
        """The id of the named account (what a finding's ``assignee`` names)."""
        with self.ledger.db.reading() as connection:
            return self.ledger.authenticate(connection, self.tokens[account]).account

    def counts(self) -> dict[str, int]:
        with self.ledger.db.reading() as connection:
            return {t: connection.execute(text(f"SELECT COUNT(*) FROM {t}")).scalar_one() for t in TABLES}

    def register(self, owner: str = "company", occurred_at: datetime | None = None) -> str:
        with self.ledger.db.writing() as connection:
            outcome = self.ledger.register(connection, ADMIN, registration(self.parties[owner], occurred_at))
        return outcome.event.cylinder


def registration(owner: str, occurred_at: datetime | None = None) -> Registration:
    return Registration(owner, f"SN-{uuid.uuid4().hex[:10]}", "Zhejiang Steel", date(2022, 3, 1), "YSP-15", 15.2, 8,
                        date(2024, 3, 1), date(2028, 3, 1), occurred_at=occurred_at)


def populate(world: World) -> None:
    ledger = world.ledger
    cast = (("company", PartyKind.GAS_COMPANY, None), ("station", PartyKind.FILLING_STATION, "company"),
            ("transporter", PartyKind.TRANSPORTER, None), ("shop", PartyKind.SHOP, None),
            ("inspection", PartyKind.INSPECTION_STATION, None), ("regulator", PartyKind.REGULATOR, None),
            ("company2", PartyKind.GAS_COMPANY, None), ("shop2", PartyKind.SHOP, None))
    accounts = (("admin", Role.ADMIN, None), ("regulator", Role.REGULATOR, "regulator"),
                ("inspector", Role.INSPECTOR, "regulator"), ("company", Role.COMPANY, "company"),
                ("station", Role.COMPANY, "station"), ("transporter", Role.TRANSPORTER, "transporter"),
                ("shop", Role.SHOP, "shop"), ("inspection", Role.INSPECTION, "inspection"),
                ("company2", Role.COMPANY, "company2"))
    with ledger.db.writing() as c:
        for name, kind, parent in cast:
            party = ledger.create_party(c, kind=kind, name=f"{name.title()} Ltd", region="330110", licence=LICENCE,
                                        parent=world.parties.get(parent) if parent else None)
            world.parties[name] = party.id
        for name, role, party in accounts:
            world.tokens[name] = ledger.create_account(c, role=role, party=world.parties.get(party), name=name)
        certificate = Paper("CERT-9", date(2031, 1, 1))
        world.driver = ledger.create_person(c, party=world.parties["transporter"], name="Wang Wei",
                                            role=PersonRole.DRIVER, certificate=certificate).id
        world.escort = ledger.create_person(c, party=world.parties["transporter"], name="Li Na",
                                            role=PersonRole.ESCORT, certificate=certificate).id
        shop = Actor(Role.SHOP, world.parties["shop"], "shop")
        world.end_user = ledger.create_end_user(c, shop, kind="household", name="张晓梅", phone="13800001234",
                                                address="杭州市西湖区文三路 1 号")
    world.cylinders = [world.register() for _ in range(3)]
    world.foreign_cylinder = world.register("company2")


def build_world(backend: str, folder: Path) -> Iterator[World]:
    url = database_url(backend, folder)
    ledger = make_ledger(url, folder)
    try:
        with TestClient(create_app(ledger=ledger), raise_server_exceptions=False) as client:
            world = World(ledger, client)
            populate(world)
            yield world
    finally:
        ledger.db.dispose()
        drop_database(url)


@pytest.fixture(params=BACKENDS)
def offline_world(request, tmp_path: Path) -> Iterator[tuple[World, str]]:
    """A populated database and its URL, with no app in this process (for `ledger serve` tests)."""
    url = database_url(request.param, tmp_path)
    ledger = make_ledger(url, tmp_path)
    try:
        world = World(ledger, None)
        populate(world)
        yield world, url
    finally:
        ledger.db.dispose()
        drop_database(url)


@pytest.fixture(params=BACKENDS)
def world(request, tmp_path: Path) -> Iterator[World]:
    yield from build_world(request.param, tmp_path)


@pytest.fixture(scope="module", params=BACKENDS)
def shared_world(request, tmp_path_factory) -> Iterator[World]:
    yield from build_world(request.param, tmp_path_factory.mktemp(request.param))


def now() -> datetime:
    return datetime.now(timezone.utc)


def event_body(cylinder: str, kind: str = "fill", **fields) -> dict:
    """A valid event body; ``fields`` override or add to it."""
    body = {"cylinder": cylinder, "kind": kind, "occurred_at": now().isoformat(),
            "idempotency_key": f"k-{uuid.uuid4()}", "data": {"net_kg": 14.5} if kind == "fill" else {}}
    body.update(fields)
    return body
