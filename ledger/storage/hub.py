"""The provincial hub's own database: the cities it follows, how each follow went, and its regulators' accounts.

Like the witness's database (``ledger.storage.witness``), it is not a ledger's: its
few tables are made from their own metadata here, not by the ledger's Alembic
chain; ``create`` makes any that are missing and is safe to run again. The hub's
witness state (``witness_logs``) lives in the same database, through
``WitnessStore``. Each city's events live in a mirror database of their own
(``mirror_url``), which ``ledger mirror follow`` could equally keep: the mirror
store holds one log per database (docs/regions.md, "The provincial hub").

No end user's personal data is stored here: the tables hold the cities'
addresses, keys and the token each city issued to the hub, and the hub's own
accounts (a token's SHA-256 only).
"""

from __future__ import annotations

import hashlib
import secrets
import time
from dataclasses import dataclass

from sqlalchemy import BigInteger, Column, Integer, MetaData, String, Table, Text, create_engine, insert, select, text, update
from sqlalchemy.engine import make_url

from ..errors import Conflict, InvalidInput, NotFound
from .db import Database

__all__ = ["HubStore", "City", "SCHEMA_VERSION", "ensure_database"]

SCHEMA_VERSION = 1

metadata = MetaData()

meta = Table(
    "hub_meta", metadata,
    Column("key", String(64), primary_key=True),
    Column("value", Text, nullable=False),
)

cities = Table(
    "hub_cities", metadata,
    Column("name", String(64), primary_key=True),
    Column("url", Text, nullable=False),
    Column("origin", Text, nullable=False, unique=True),
    Column("vkey", Text, nullable=False),
    Column("region", String(6), nullable=True),
    Column("token", Text, nullable=True),
    Column("mirror_url", Text, nullable=False),
    Column("added_at", BigInteger, nullable=False),
    Column("size", BigInteger, nullable=False),
    Column("checked_at", BigInteger, nullable=True),
    Column("status", String(16), nullable=False),  # new, ok, refused, unreachable
    Column("problem", Text, nullable=True),
)

accounts = Table(
    "hub_accounts", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(200), nullable=False),
    Column("token_hash", String(64), nullable=False, unique=True),
    Column("created_at", BigInteger, nullable=False),
)


@dataclass(frozen=True)
class City:
    name: str
    url: str
    origin: str
    vkey: str
    region: str | None
    token: str | None
    mirror_url: str
    size: int
    checked_at: int | None
    status: str
    problem: str | None


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


class HubStore:
    """The hub's state on SQLite (a file) or PostgreSQL."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.db = Database(url, pool_size=8)

    def dispose(self) -> None:
        self.db.dispose()

    def create(self) -> None:
        with self.db.writing() as connection:
            metadata.create_all(connection, checkfirst=True)
            stored = connection.execute(select(meta.c.value).where(meta.c.key == "schema_version")).scalar()
            if stored is None:
                connection.execute(insert(meta).values(key="schema_version", value=str(SCHEMA_VERSION)))
            elif int(stored) > SCHEMA_VERSION:
                raise InvalidInput(f"this hub database has schema version {stored}, newer than this program's")

    def add_city(self, name: str, url: str, origin: str, vkey: str, region: str | None, token: str | None,
                 mirror_url: str) -> bool:
        """Follow a city; True if added, False if it is already followed the same way (its URL and token
        may change)."""
        with self.db.writing() as connection:
            row = connection.execute(select(cities).where(cities.c.name == name).with_for_update()).first()
            if row is None:
                if connection.execute(select(cities.c.name).where(cities.c.origin == origin)).first() is not None:
                    raise Conflict(f"the log {origin} is already followed under another name")
                connection.execute(insert(cities).values(
                    name=name, url=url, origin=origin, vkey=vkey, region=region, token=token, mirror_url=mirror_url,
                    added_at=int(time.time()), size=0, checked_at=None, status="new", problem=None))
                return True
            if row.vkey != vkey or row.origin != origin:
                raise Conflict(f"the city {name} is already followed with another log key: {row.vkey}")
            if row.mirror_url != mirror_url:
                raise Conflict(f"the city {name} is already mirrored in another database")
            connection.execute(update(cities).where(cities.c.name == name).values(url=url, token=token or row.token,
                                                                                   region=region or row.region))
            return False

    def cities(self) -> list[City]:
        with self.db.reading() as connection:
            return [City(*row) for row in connection.execute(
                select(cities.c.name, cities.c.url, cities.c.origin, cities.c.vkey, cities.c.region, cities.c.token,
                       cities.c.mirror_url, cities.c.size, cities.c.checked_at, cities.c.status, cities.c.problem)
                .order_by(cities.c.name))]

    def city(self, name: str) -> City:
        for city in self.cities():
            if city.name == name:
                return city
        raise NotFound(f"the hub follows no city {name!r}")

    def followed(self, name: str, status: str, problem: str | None, size: int | None = None) -> None:
        """Record how the last round of following ``name`` went."""
        values: dict = {"status": status, "problem": problem, "checked_at": int(time.time())}
        if size is not None:
            values["size"] = size
        with self.db.writing() as connection:
            connection.execute(update(cities).where(cities.c.name == name).values(**values))

    def create_account(self, name: str) -> str:
        """A regulator account of the hub; returns its bearer token (only its hash is kept)."""
        if not name or len(name) > 200:
            raise InvalidInput("an account needs a name of 1 to 200 characters", field="name")
        token = "hub_" + secrets.token_urlsafe(24)
        with self.db.writing() as connection:
            connection.execute(insert(accounts).values(name=name, token_hash=_hash(token), created_at=int(time.time())))
        return token

    def account(self, token: str) -> str | None:
        """The name of the account ``token`` opens, or None."""
        with self.db.reading() as connection:
            return connection.execute(select(accounts.c.name).where(accounts.c.token_hash == _hash(token))).scalar()


def ensure_database(url: str) -> None:
    """Create the PostgreSQL database ``url`` names if it is missing (a city's mirror beside the hub's own;
    the hub's role needs CREATEDB). SQLite files are made on first use."""
    parsed = make_url(url)
    if not parsed.drivername.startswith("postgresql"):
        return
    if not parsed.database or '"' in parsed.database:
        raise InvalidInput(f"not a database name: {parsed.database!r}")
    engine = create_engine(parsed.set(database="postgres"), isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as connection:
            held = connection.execute(text("SELECT 1 FROM pg_database WHERE datname = :name"),
                                      {"name": parsed.database}).first()
            if held is None:
                connection.exec_driver_sql(f'CREATE DATABASE "{parsed.database}"')
    finally:
        engine.dispose()
