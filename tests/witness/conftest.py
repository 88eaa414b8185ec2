"""One served witness per backend of its own database (SQLite or PostgreSQL), shared by a module's tests;
each test feeds it a fresh real ledger under an origin of its own, added with `ledger witness add-log`."""

from __future__ import annotations

import uuid
from dataclasses import replace
from collections.abc import Iterator
from pathlib import Path

import pytest

from ledger.keys import ensure_key
from ledger.sealing import ensure_personal_keys
from ledger.service import Ledger
from tests.conftest import BACKENDS, create_postgres_database, drop_postgres_database, make_settings

from .served import Log, Witness


@pytest.fixture(scope="module", params=BACKENDS)
def witness(request, tmp_path_factory) -> Iterator[Witness]:
    folder = tmp_path_factory.mktemp("witness")
    url = create_postgres_database() if request.param == "postgresql" else f"sqlite:///{folder / 'witness.db'}"
    served = Witness(url, folder)
    try:
        yield served.start()
    finally:
        served.close()
        if request.param == "postgresql":
            drop_postgres_database(url)


@pytest.fixture
def log(witness: Witness, tmp_path: Path) -> Iterator[Log]:
    settings = replace(make_settings(f"sqlite:///{tmp_path / 'log.db'}", tmp_path),
                       log_origin=f"test.cylinder-ledger/{uuid.uuid4().hex[:8]}")
    ensure_key(settings.key_file)
    ensure_key(settings.label_key_file)
    ensure_personal_keys(settings.personal_key_file)
    ledger = Ledger(settings)
    ledger.db.migrate()
    fed = Log(ledger)
    added = witness.add_log(fed.origin, fed.vkey)
    assert added.returncode == 0 and "watching" in added.stdout, added.stderr
    try:
        yield fed
    finally:
        ledger.db.dispose()
