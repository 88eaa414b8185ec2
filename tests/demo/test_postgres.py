"""The demo city on PostgreSQL: the same ledger as on SQLite, and nothing the verifier objects to.

Runs on a throwaway database (dropped afterwards) when the server at
``LEDGER_TEST_POSTGRES`` answers; skipped otherwise (see tests/conftest.py).
"""

from __future__ import annotations

from tools.demo import quality
from ledger.verify import audit
from tests.conftest import create_postgres_database, drop_postgres_database
from tests.demo.conftest import SEED, TOWN, build_town


def test_a_postgres_city_is_the_sqlite_city_hash_for_hash(clean_town, tmp_path):
    url = create_postgres_database()
    try:
        built = build_town(tmp_path, TOWN.with_(anomaly_rate=0.0), SEED, url=url)
        try:
            assert built.rows() == clean_town.rows()
            with built.ledger.db.writing() as c:
                built.ledger.sweep(c, TOWN.now)
            with built.ledger.db.reading() as c:
                assert list(audit(c, built.ledger.verifier)) == []
                assert quality.from_table(c) == []
        finally:
            built.ledger.db.dispose()
    finally:
        drop_postgres_database(url)
