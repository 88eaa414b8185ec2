"""A small demo city (the demo generator's own story, anomalies planted) on SQLite and PostgreSQL, served
in process, with one account per role: what the EPCIS export tests read."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import jsonschema
import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from ledger.domain import Event, Role
from ledger.service import Ledger
from ledger.storage import events as event_rows
from tests.api.conftest import database_url, make_ledger
from tests.conftest import drop_postgres_database
from tools.demo import DEFAULT_NOW, CityConfig, build_city

SCHEMA_FILE = Path(__file__).resolve().parents[1] / "gs1_epcis" / "EPCIS-JSON-Schema.json"  # GS1, unchanged
# Every kind of trip, delivery, inspection and plant, in a few seconds.
VILLAGE = CityConfig(companies=2, stations=2, transporters=1, shops=4, households=80, restaurants=6,
                     inspection_stations=1, days=35, now=DEFAULT_NOW, anomaly_rate=0.005)


def validator() -> jsonschema.Draft7Validator:
    """GS1's EPCIS 2.0 JSON Schema, with the formats (uri, date-time) checked too."""
    schema = json.loads(SCHEMA_FILE.read_text(encoding="utf-8"))
    return jsonschema.Draft7Validator(schema, format_checker=jsonschema.FormatChecker())


def schema_errors(document: dict) -> list[str]:
    return [f"{list(error.absolute_path)[:6]}: {error.message[:200]}" for error in validator().iter_errors(document)]


@dataclass
class Village:
    ledger: Ledger
    client: TestClient
    url: str
    folder: Path
    tokens: dict[str, str] = field(default_factory=dict)
    parties: dict[str, list[str]] = field(default_factory=dict)  # kind -> ids

    def auth(self, account: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[account]}"}

    def events(self) -> list[Event]:
        """Every stored event in log order."""
        with self.ledger.db.reading() as connection:
            return [event_rows.from_row(row) for row in
                    connection.exec_driver_sql(f"SELECT {event_rows.COLUMNS} FROM events ORDER BY id")]

    def env(self) -> dict[str, str]:
        return {"LEDGER_DATABASE_URL": self.url, "LEDGER_KEY_FILE": str(self.folder / "log.key"),
                "LEDGER_LABEL_KEY_FILE": str(self.folder / "label.key")}


@pytest.fixture(scope="session", params=("sqlite", "postgresql"))
def village(request, tmp_path_factory) -> Iterator[Village]:
    folder = tmp_path_factory.mktemp(f"village-{request.param}")
    url = database_url(request.param, folder)
    ledger = make_ledger(url, folder)
    try:
        build_city(ledger, VILLAGE, 5)
        ledger.checkpoint()  # a signed checkpoint the documents name
        with TestClient(create_app(ledger=ledger), raise_server_exceptions=False) as client:
            built = Village(ledger, client, url, folder)
            with ledger.db.writing() as connection:
                for party, kind in connection.exec_driver_sql("SELECT id, kind FROM parties ORDER BY id"):
                    built.parties.setdefault(kind, []).append(party)
                own = {Role.COMPANY: "gas_company", Role.TRANSPORTER: "transporter", Role.SHOP: "shop",
                       Role.INSPECTION: "inspection_station", Role.REGULATOR: "regulator", Role.INSPECTOR: "regulator"}
                for role in Role:
                    kind = own.get(role)
                    party = built.parties[kind][0] if kind in built.parties else None
                    built.tokens[role.value] = ledger.create_account(connection, role=role, party=party,
                                                                     name=f"epcis {role.value}")
            yield built
    finally:
        ledger.db.dispose()
        if request.param == "postgresql":
            drop_postgres_database(url)
