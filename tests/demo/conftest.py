"""Demo cities built once per test session: a clean one and one with every anomaly planted."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import pytest

from ledger.config import Settings
from tools.demo import DEFAULT_NOW, CityBuild, CityConfig, build_city
from ledger.domain import Event
from ledger.keys import ensure_key
from ledger.sealing import ensure_personal_keys
from ledger.service import Ledger
from ledger.storage import events as event_rows

# Small enough to build in seconds, big enough for every kind of trip, plant and inspection.
TOWN = CityConfig(companies=2, stations=2, transporters=1, shops=4, households=220, restaurants=14,
                  inspection_stations=1, days=36, now=DEFAULT_NOW)
SEED = 11


@dataclass
class Built:
    ledger: Ledger
    build: CityBuild
    folder: Path

    def histories(self) -> dict[str, list[Event]]:
        """Every stored chain, in seq order."""
        chains: dict[str, list[Event]] = defaultdict(list)
        with self.ledger.db.reading() as connection:
            for row in connection.exec_driver_sql(f"SELECT {event_rows.COLUMNS} FROM events ORDER BY cylinder, seq"):
                event = event_rows.from_row(row)
                chains[event.cylinder].append(event)
        return chains

    def rows(self) -> list[tuple]:
        """Every stored event as comparable values, in log order."""
        with self.ledger.db.reading() as connection:
            return [tuple(bytes(v) if isinstance(v, memoryview) else v for v in row) for row in
                    connection.exec_driver_sql(f"SELECT {event_rows.COLUMNS} FROM events ORDER BY id")]


def open_ledger(url: str, folder: Path) -> Ledger:
    folder.mkdir(parents=True, exist_ok=True)
    settings = Settings(database_url=url, key_file=folder / "log.key", label_key_file=folder / "label.key",
                        personal_key_file=folder / "personal.key", log_origin="test.demo/log")
    ensure_key(settings.key_file)
    ensure_key(settings.label_key_file)
    ensure_personal_keys(settings.personal_key_file)
    ledger = Ledger(settings)
    ledger.db.migrate()
    return ledger


def build_town(folder: Path, config: CityConfig = TOWN, seed: int = SEED, url: str | None = None) -> Built:
    ledger = open_ledger(url or f"sqlite:///{folder / 'town.db'}", folder)
    return Built(ledger, build_city(ledger, config, seed), folder)


@pytest.fixture(scope="session")
def clean_town(tmp_path_factory) -> Built:
    built = build_town(tmp_path_factory.mktemp("clean"), TOWN.with_(anomaly_rate=0.0))
    yield built
    built.ledger.db.dispose()


@pytest.fixture(scope="session")
def planted_town(tmp_path_factory) -> Built:
    built = build_town(tmp_path_factory.mktemp("planted"), TOWN.with_(anomaly_rate=0.005))
    with built.ledger.db.writing() as connection:
        built.ledger.sweep(connection, TOWN.now)
    yield built
    built.ledger.db.dispose()
