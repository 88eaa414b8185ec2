"""Pooled PostgreSQL connections: a connection the server ended is never handed out, and one
reused right away is handed out without a round trip (``ledger.storage.db``)."""

from __future__ import annotations

import time

import pytest
from sqlalchemy import text

from ledger.storage import db as storage_db
from ledger.storage.db import Database
from tests.conftest import _admin_connection, create_postgres_database, drop_postgres_database


@pytest.fixture
def database():
    url = create_postgres_database()
    database = Database(url, pool_size=2)
    try:
        yield database
    finally:
        database.dispose()
        drop_postgres_database(url)


def backend(database: Database) -> int:
    with database.writing() as connection:
        return connection.execute(text("SELECT pg_backend_pid()")).scalar_one()


def pings(database: Database, monkeypatch) -> list[object]:
    asked: list[object] = []
    dialect = database.writer.dialect
    original = dialect.do_ping

    def counted(dbapi_connection):
        asked.append(dbapi_connection)
        return original(dbapi_connection)

    monkeypatch.setattr(dialect, "do_ping", counted)
    return asked


def test_a_connection_the_server_ended_is_replaced_before_a_transaction_uses_it(database, monkeypatch):
    asked = pings(database, monkeypatch)
    ended = backend(database)
    with _admin_connection() as admin:
        admin.execute("SELECT pg_terminate_backend(%s)", (ended,))
    time.sleep(0.2)  # the server's goodbye reaches the client's socket

    for _ in range(2):  # the writing path and the reading path both get a live connection
        assert backend(database) != ended
        with database.reading() as connection:
            assert connection.execute(text("SELECT 1")).scalar_one() == 1
    assert len(asked) == 1  # only the connection with the server's goodbye waiting was asked


def test_a_connection_reused_at_once_is_not_asked_but_one_long_idle_is(database, monkeypatch):
    asked = pings(database, monkeypatch)
    first = backend(database)
    for _ in range(5):
        assert backend(database) == first
    assert asked == []

    monkeypatch.setattr(storage_db, "PING_IDLE_SECONDS", 0.0)
    time.sleep(0.01)
    assert backend(database) == first
    assert len(asked) == 1
