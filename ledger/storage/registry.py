"""Queries of the registry: parties, people, accounts, end users and cylinders."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

from sqlalchemy import Connection, func, insert, select

from ..domain import Paper, Party, PartyKind, Person, PersonRole
from . import models as m

__all__ = [
    "insert_party", "get_party", "list_parties", "insert_person", "get_person", "people_of",
    "insert_account", "account_by_token_hash", "insert_end_user", "get_end_user", "known_end_users",
    "insert_cylinders", "registered_serials", "existing_cylinders", "get_cylinder",
]


def _paper(number: str | None, valid_until: date | None) -> Paper | None:
    return None if number is None else Paper(number, valid_until)


def _party(row) -> Party:
    return Party(
        row.id, PartyKind(row.kind), row.name, row.region,
        _paper(row.licence_number, row.licence_valid_until), row.parent,
    )


def insert_party(connection: Connection, party: Party, created_at: str) -> None:
    connection.execute(
        insert(m.parties).values(
            id=party.id, kind=party.kind.value, name=party.name, region=party.region,
            licence_number=party.licence.number if party.licence else None,
            licence_valid_until=party.licence.valid_until if party.licence else None,
            parent=party.parent, created_at=created_at,
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


def insert_end_user(connection: Connection, **values: object) -> None:
    connection.execute(insert(m.end_users).values(**values))


def get_end_user(connection: Connection, ref: str):
    return connection.execute(select(m.end_users).where(m.end_users.c.ref == ref)).first()


def known_end_users(connection: Connection, refs: set[str]) -> set[str]:
    """Which of ``refs`` are registered end users."""
    wanted = sorted(refs)
    found: set[str] = set()
    for start in range(0, len(wanted), 500):
        found.update(connection.execute(
            select(m.end_users.c.ref).where(m.end_users.c.ref.in_(wanted[start:start + 500]))).scalars())
    return found


def get_cylinder(connection: Connection, cylinder_id: str):
    return connection.execute(select(m.cylinders).where(m.cylinders.c.id == cylinder_id)).first()


def insert_cylinders(connection: Connection, rows: Sequence[dict[str, object]]) -> None:
    if rows:
        connection.execute(insert(m.cylinders), list(rows))


def registered_serials(connection: Connection, serials: Sequence[tuple[str, str]]) -> dict[tuple[str, str], str]:
    """Which (manufacturer, serial) pairs are already registered, and as which trace code."""
    c = m.cylinders.c
    wanted = set(serials)
    found: dict[tuple[str, str], str] = {}
    numbers = sorted({serial for _, serial in wanted})
    for start in range(0, len(numbers), 500):
        rows = connection.execute(select(c.manufacturer, c.serial, c.id).where(c.serial.in_(numbers[start:start + 500])))
        for manufacturer, serial, code in rows:
            if (manufacturer, serial) in wanted:
                found[(manufacturer, serial)] = code
    return found


def existing_cylinders(connection: Connection, codes: set[str]) -> set[str]:
    wanted = sorted(codes)
    found: set[str] = set()
    for start in range(0, len(wanted), 500):
        found.update(connection.execute(
            select(m.cylinders.c.id).where(m.cylinders.c.id.in_(wanted[start:start + 500]))).scalars())
    return found


def count(connection: Connection, table: str) -> int:
    return connection.execute(select(func.count()).select_from(m.metadata.tables[table])).scalar_one()
