"""Queries of the registry: parties, people, accounts, end users and cylinders."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date

from sqlalchemy import Connection, exists, func, insert, select, update
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from ..domain import EventKind, Paper, Party, PartyKind, Person, PersonRole
from . import citus
from . import models as m
from .events import chunks

__all__ = [
    "insert_party", "get_party", "list_parties", "insert_person", "get_person", "people_of",
    "insert_account", "account_by_token_hash", "get_account", "inspector_accounts", "disable_account",
    "list_accounts", "replace_token_hash",
    "insert_end_user", "get_end_user", "known_end_users",
    "insert_cylinders", "Registered", "registered_stamps", "existing_cylinders", "get_cylinder",
]


def _paper(number: str | None, valid_until: date | None) -> Paper | None:
    return None if number is None else Paper(number, valid_until)


def _party(row) -> Party:
    return Party(
        row.id, PartyKind(row.kind), row.name, row.region,
        _paper(row.licence_number, row.licence_valid_until), row.parent, row.home,
    )


def insert_party(connection: Connection, party: Party, created_at: str) -> None:
    connection.execute(
        insert(m.parties).values(
            id=party.id, kind=party.kind.value, name=party.name, region=party.region,
            licence_number=party.licence.number if party.licence else None,
            licence_valid_until=party.licence.valid_until if party.licence else None,
            parent=party.parent, created_at=created_at, home=party.home,
        )
    )


def get_party(connection: Connection, party_id: str) -> Party | None:
    row = connection.execute(select(m.parties).where(m.parties.c.id == party_id)).first()
    return None if row is None else _party(row)


def list_parties(
    connection: Connection, *, kind: str | None = None, region: str | None = None,
    after: str | None = None, limit: int = 100,
) -> list[Party]:
    query = select(m.parties).order_by(m.parties.c.id).limit(limit)
    if kind:
        query = query.where(m.parties.c.kind == kind)
    if region:
        query = query.where(m.parties.c.region == region)
    if after:
        query = query.where(m.parties.c.id > after)
    return [_party(row) for row in connection.execute(query)]


def _person(row) -> Person:
    return Person(
        row.id, row.party, row.name, PersonRole(row.role),
        _paper(row.certificate_number, row.certificate_valid_until),
    )


def insert_person(connection: Connection, person: Person, created_at: str) -> None:
    connection.execute(
        insert(m.people).values(
            id=person.id, party=person.party, name=person.name, role=person.role.value,
            certificate_number=person.certificate.number if person.certificate else None,
            certificate_valid_until=person.certificate.valid_until if person.certificate else None,
            created_at=created_at,
        )
    )


def get_person(connection: Connection, person_id: str) -> Person | None:
    row = connection.execute(select(m.people).where(m.people.c.id == person_id)).first()
    return None if row is None else _person(row)


def people_of(connection: Connection, party_id: str) -> list[Person]:
    rows = connection.execute(select(m.people).where(m.people.c.party == party_id).order_by(m.people.c.id))
    return [_person(row) for row in rows]


def insert_account(
    connection: Connection, token_hash: bytes, role: str, party: str | None, name: str, created_at: str
) -> int:
    result = connection.execute(
        insert(m.accounts).values(
            token_hash=token_hash, role=role, party=party, name=name, created_at=created_at, disabled=False
        )
    )
    return result.inserted_primary_key[0]


def account_by_token_hash(connection: Connection, token_hash: bytes):
    return connection.execute(
        select(m.accounts).where(m.accounts.c.token_hash == token_hash, m.accounts.c.disabled.is_(False))
    ).first()


def get_account(connection: Connection, account_id: int):
    """The account row (disabled or not), with its party's kind; None if there is no such account."""
    a, p = m.accounts.c, m.parties.c
    query = (select(a.id, a.role, a.party, a.name, a.disabled, p.kind.label("party_kind"))
             .select_from(m.accounts.outerjoin(m.parties, p.id == a.party)).where(a.id == account_id))
    return connection.execute(query).first()


def inspector_accounts(connection: Connection) -> list:
    """Enabled inspector accounts of regulator parties, as (id, name, party, region), by name."""
    a, p = m.accounts.c, m.parties.c
    query = (select(a.id, a.name, a.party, p.region).select_from(m.accounts.join(m.parties, p.id == a.party))
             .where(a.role == "inspector", a.disabled.is_(False), p.kind == "regulator").order_by(a.name, a.id))
    return list(connection.execute(query))


def disable_account(connection: Connection, account_id: int) -> bool:
    """Disable an account; False if there is no such account."""
    result = connection.execute(update(m.accounts).where(m.accounts.c.id == account_id).values(disabled=True))
    return result.rowcount == 1


def list_accounts(connection: Connection) -> list:
    """Every account, disabled or not, with its party's name, by id (no token hashes)."""
    a, p = m.accounts.c, m.parties.c
    query = (select(a.id, a.role, a.party, a.name, a.created_at, a.disabled, p.name.label("party_name"))
             .select_from(m.accounts.outerjoin(m.parties, p.id == a.party)).order_by(a.id))
    return list(connection.execute(query))


def replace_token_hash(connection: Connection, account_id: int, token_hash: bytes) -> bool:
    """Give an enabled account a new token hash (the old token no longer matches); False if none such."""
    a = m.accounts.c
    result = connection.execute(update(m.accounts).where(a.id == account_id, a.disabled.is_(False))
                                .values(token_hash=token_hash))
    return result.rowcount == 1


def insert_end_user(connection: Connection, **values: object) -> None:
    connection.execute(insert(m.end_users).values(**values))


def get_end_user(connection: Connection, ref: str):
    return connection.execute(select(m.end_users).where(m.end_users.c.ref == ref)).first()


def known_end_users(connection: Connection, refs: set[str]) -> set[str]:
    """Which of ``refs`` are registered end users."""
    found: set[str] = set()
    for chunk in chunks(refs):
        found.update(connection.execute(select(m.end_users.c.ref).where(m.end_users.c.ref.in_(chunk))).scalars())
    return found


def get_cylinder(connection: Connection, cylinder_id: str):
    return connection.execute(select(m.cylinders).where(m.cylinders.c.id == cylinder_id)).first()


def insert_cylinders(connection: Connection, rows: Sequence[dict[str, object]]) -> set[str]:
    """Insert the cylinders ``rows`` (each with its ``stamp_key``); returns the ids inserted.

    A row whose stamp another transaction registered meanwhile is left out, not an error: the
    database's unique key on the stamp decides which of two racing registrations stands (on
    PostgreSQL the later insert waits for the earlier one's commit, then skips)."""
    if not rows:
        return set()
    dialect_insert = postgresql_insert if connection.dialect.name == "postgresql" else sqlite_insert
    if citus.distributed(connection):  # the coordinator's stamp_index holds the stamps' unique keys
        rows = [row for row in rows if citus.claim_stamp(connection, row)]
        if not rows:
            return set()
    connection.execute(dialect_insert(m.cylinders).on_conflict_do_nothing(), list(rows))
    return existing_cylinders(connection, {str(row["id"]) for row in rows})


@dataclass(frozen=True, slots=True)
class Registered:
    """A cylinder already registered, as a conflicting registration is told about it."""

    code: str
    owner: str
    manufacturer: str
    serial: str
    scrapped: bool


def registered_stamps(connection: Connection, keys: Iterable[str]) -> dict[str, Registered]:
    """The cylinders already registered under any of the stamp keys (``ledger.stamp.stamp_key``)."""
    c, e = m.cylinders.c, m.events.c
    # the chain, not the projection, says whether it was scrapped: a batch's projection lags a moment
    scrapped = exists().where(e.cylinder == c.id, e.kind == EventKind.SCRAP.value)
    found: dict[str, Registered] = {}
    for chunk in chunks(keys):
        rows = connection.execute(select(c.stamp_key, c.id, c.owner, c.manufacturer, c.serial, scrapped)
                                  .where(c.stamp_key.in_(chunk)))
        for key, code, owner, manufacturer, serial, was_scrapped in rows:
            found[key] = Registered(code, owner, manufacturer, serial, bool(was_scrapped))
    return found


def existing_cylinders(connection: Connection, codes: set[str]) -> set[str]:
    found: set[str] = set()
    for chunk in chunks(codes):
        found.update(connection.execute(select(m.cylinders.c.id).where(m.cylinders.c.id.in_(chunk))).scalars())
    return found


def count(connection: Connection, table: str) -> int:
    return connection.execute(select(func.count()).select_from(m.metadata.tables[table])).scalar_one()
