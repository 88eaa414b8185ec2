"""Registry services: parties, their people, accounts, end users, a cylinder's registration row."""

from __future__ import annotations

import secrets
from datetime import datetime
from typing import Any

import ledger.service as package  # new_id is looked up when called: the demo seeds it

from .. import privacy
from ..domain import CylinderView, Paper, Party, PartyKind, Person, PersonRole, Role, check_identifier, format_time
from ..custody.authorize import ROLE_PARTY_KINDS
from ..errors import Conflict, InvalidInput, NotFound, PermissionDenied
from ..storage import Connection
from ..storage import registry as reg
from ..storage import sessions as session_rows
from .types import Actor, _now, _paper, _text, token_hash

__all__ = ["RegistryService"]

_PARTY_PREFIX = {
    PartyKind.GAS_COMPANY: "G", PartyKind.FILLING_STATION: "F", PartyKind.TRANSPORTER: "T",
    PartyKind.SHOP: "S", PartyKind.INSPECTION_STATION: "I", PartyKind.REGULATOR: "R",
}


class RegistryService:
    """Part of ``Ledger``: who takes part, and the accounts that act for them."""

    # -- registry --------------------------------------------------------------

    def create_party(
        self, connection: Connection, *, kind: PartyKind, name: str, region: str,
        licence: Paper | None = None, parent: str | None = None, now: datetime | None = None,
        home: str | None = None, id: str | None = None,
    ) -> Party:
        """A party of this city, or with ``home`` (a peer's name, ``LEDGER_PEERS``) one homed in another city,
        registered under ``id``, its id there: its province-unique identity is its home region and that id
        (docs/regions.md)."""
        name = _text(name, "name", 200)
        if home is not None or id is not None:
            if home is None or id is None:
                raise InvalidInput("a party homed in another city names both its home (a peer) and its id there",
                                   field="home" if home is None else "id")
            if self.peers.named(home) is None:
                raise InvalidInput(f"{home} is not a peer of this ledger (LEDGER_PEERS)", field="home")
            check_identifier(id, "id")
            if reg.get_party(connection, id) is not None:
                raise Conflict(f"party {id} is already registered")
        if not (isinstance(region, str) and len(region) == 6 and region.isdigit()):
            raise InvalidInput("region must be a 6-digit administrative division code, e.g. 330110", field="region")
        if kind is PartyKind.FILLING_STATION:
            owner = reg.get_party(connection, parent) if parent else None
            if owner is None or owner.kind is not PartyKind.GAS_COMPANY:
                raise InvalidInput("a filling station names its gas company in parent", field="parent")
        elif parent is not None:
            raise InvalidInput("only a filling station has a parent", field="parent")
        party = Party(id or package.new_id(_PARTY_PREFIX[kind]), kind, name, region, _paper(licence, "licence"),
                      parent, home)
        reg.insert_party(connection, party, format_time(now or _now()))
        self._registry_changed()
        return party

    def create_person(
        self, connection: Connection, *, party: str, name: str, role: PersonRole,
        certificate: Paper | None = None, now: datetime | None = None,
    ) -> Person:
        if reg.get_party(connection, party) is None:
            raise NotFound(f"no party {party}")
        person = Person(package.new_id("W"), party, _text(name, "name", 200), role, _paper(certificate, "certificate"))
        reg.insert_person(connection, person, format_time(now or _now()))
        self._registry_changed()
        return person

    def _registry_changed(self) -> None:
        if self.judge is not None:
            self.judge.registry_changed()

    def create_account(
        self, connection: Connection, *, role: Role, party: str | None, name: str, now: datetime | None = None
    ) -> str:
        """Create an account; returns its bearer token, which is stored only as a hash."""
        if role is Role.ADMIN or (role is Role.REGULATOR and party is None):
            if party is not None and reg.get_party(connection, party) is None:
                raise NotFound(f"no party {party}")
        elif party is None:
            raise InvalidInput(f"a {role.value} account must belong to a party (--party)", field="party")
        else:  # the party's kind must be one the role acts for (custody.authorize.ROLE_PARTY_KINDS)
            found = reg.get_party(connection, party)
            if found is None:
                raise NotFound(f"no party {party}")
            if found.kind not in ROLE_PARTY_KINDS[role]:
                kinds = " or ".join(sorted(k.value for k in ROLE_PARTY_KINDS[role]))
                raise InvalidInput(f"a {role.value} account acts for a {kinds}, and {party} is a {found.kind.value}",
                                   field="party")
        token = "cl_" + secrets.token_urlsafe(32)
        reg.insert_account(connection, token_hash(token), role.value, party, _text(name, "name", 200),
                           format_time(now or _now()))
        return token

    def accounts(self, connection: Connection) -> list[dict[str, Any]]:
        """Every account, disabled ones too: id, role, party, its name, holder, created, disabled."""
        return [{"id": row.id, "role": row.role, "party": row.party, "party_name": row.party_name,
                 "name": row.name, "created": row.created_at, "disabled": bool(row.disabled)}
                for row in reg.list_accounts(connection)]

    def rotate_token(self, connection: Connection, account: int, now: datetime | None = None) -> str:
        """Give an enabled account a new bearer token (returned once); the old one is refused from now on.

        Every page sign-in made with the old token ends too: whoever held a leaked copy is out.
        """
        token = "cl_" + secrets.token_urlsafe(32)
        if not reg.replace_token_hash(connection, account, token_hash(token)):
            row = reg.get_account(connection, account)
            raise NotFound(f"no account {account}") if row is None else InvalidInput(
                f"account {account} is disabled: create a new account instead", field="account")
        session_rows.revoke_sessions_of(connection, account, format_time(now or _now()))
        return token

    def authenticate(self, connection: Connection, token: str) -> Actor | None:
        row = reg.account_by_token_hash(connection, token_hash(token))
        if row is None:
            return None
        return Actor(Role(row.role), row.party, row.name, row.id)

    # -- registry reads and end users (used by the HTTP API) -------------------

    def party(self, connection: Connection, party_id: str) -> Party:
        party = reg.get_party(connection, party_id)
        if party is None:
            raise NotFound(f"no party {party_id}")
        return party

    def parties(
        self, connection: Connection, *, kind: PartyKind | None = None, region: str | None = None,
        after: str | None = None, limit: int = 100,
    ) -> list[Party]:
        """Parties in id order, after the id ``after``."""
        return reg.list_parties(connection, kind=kind.value if kind else None, region=region, after=after, limit=limit)

    def people(self, connection: Connection, party_id: str) -> list[Person]:
        self.party(connection, party_id)
        return reg.people_of(connection, party_id)

    def cylinder(self, connection: Connection, cylinder_id: str) -> CylinderView:
        """A cylinder's registration facts and the projection of its chain."""
        row = reg.get_cylinder(connection, cylinder_id)
        if row is None:
            raise NotFound(f"no cylinder {cylinder_id}")
        return CylinderView.from_mapping(row._mapping)


