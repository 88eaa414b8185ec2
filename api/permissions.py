"""Who may do what: the permission matrix of docs/api.md, as data.

An account other than admin and regulator belongs to one party and acts only
for it (CONTRACT.md "Parties and accounts"); ``own`` below means "only for the
account's own party". Events are always recorded in the name of the account's
party, and which kinds a role may record follows DOMAIN.md "Parties and their
papers": stations fill, transporters move, shops deliver, inspection stations
inspect and scrap, regulators and their inspectors report.
"""

from __future__ import annotations

from ledger.custody import recording_roles
from ledger.domain import EventKind, Role
from ledger.errors import PermissionDenied
from ledger.service import Actor

__all__ = ["ACTIONS", "KINDS", "PARTY_BOUND", "check", "check_party", "check_kind", "check_owner", "findings_of"]

ADMIN, REGULATOR, INSPECTOR = Role.ADMIN, Role.REGULATOR, Role.INSPECTOR
COMPANY, TRANSPORTER, SHOP, INSPECTION = Role.COMPANY, Role.TRANSPORTER, Role.SHOP, Role.INSPECTION
EVERYONE = frozenset(Role)

# Roles whose accounts belong to one party and act only for it.
PARTY_BOUND = frozenset({INSPECTOR, COMPANY, TRANSPORTER, SHOP, INSPECTION})

# action -> roles that may attempt it (party-bound roles are then held to their party)
ACTIONS: dict[str, frozenset[Role]] = {
    "parties.create": frozenset({ADMIN, REGULATOR}),
    "parties.read": EVERYONE,
    "people.create": EVERYONE,  # admin, regulator: any party; others: own
    "people.read": EVERYONE,  # admin, regulator, inspector: any party; others: own
    "cylinders.register": frozenset({ADMIN, COMPANY}),  # company: own cylinders
    "cylinders.read": EVERYONE,
    "events.record": EVERYONE,  # then by kind, see KINDS
    "events.read": EVERYONE,
    "proofs.read": EVERYONE,
    "labels.render": frozenset({ADMIN, COMPANY}),  # company: own cylinders
    "end_users.create": frozenset({SHOP}),
    "end_users.read": frozenset({REGULATOR, INSPECTOR}),  # in full, with a reason, on record
    "end_users.lookup": frozenset({SHOP}),  # by one phone number, masked
    "end_users.views": frozenset({REGULATOR}),  # the record of full views
    "trace.read": EVERYONE,
    "findings.read": EVERYONE,  # admin, regulator, inspector: all; others: findings about their own party
    "findings.act": frozenset({ADMIN, REGULATOR, INSPECTOR}),  # the service then checks each action
    "risk.read": frozenset({ADMIN, REGULATOR, INSPECTOR}),
    "epcis.capture": EVERYONE,  # roles that record some kind (ledger.capture), then event by event
    "epcis.capture.read": EVERYONE,
    "safety.read": EVERYONE,  # the city's home safety check items
    "photos.upload": frozenset({SHOP}),  # a safety check's photos come from the delivering shop
    "photos.read": EVERYONE,  # the uploading party's own, or any for admin, regulator, inspector  # the capturing account and admins only (ledger.capture.report)
}

# Which event kinds each role may record: derived from the custody tables (the party kinds a
# role acts for x the party kinds that record a kind), which then check the party's own kind,
# the person and the receiver. Admin accounts act for no party and so record no custody;
# register is not a kind a client submits: POST /v1/cylinders writes it.
KINDS: dict[EventKind, frozenset[Role]] = {
    kind: roles for kind, roles in recording_roles().items() if kind is not EventKind.REGISTER}

# Readers who see every party's people (audits of certificates) and findings, not just their own.
_OVERSEERS = frozenset({ADMIN, REGULATOR, INSPECTOR})


def check(actor: Actor, action: str) -> None:
    if actor.role not in ACTIONS[action]:
        raise PermissionDenied(f"a {actor.role.value} account may not do this ({action})")


def check_party(actor: Actor, party: str, action: str) -> None:
    """Party-bound accounts act only for their own party."""
    check(actor, action)
    if action in ("people.read", "findings.read") and actor.role in _OVERSEERS:
        return
    if actor.role in PARTY_BOUND and actor.party != party:
        raise PermissionDenied(f"a {actor.role.value} account acts only for its own party ({actor.party})")


def check_kind(actor: Actor, kind: EventKind) -> str:
    """The party an event of ``kind`` is recorded for, or ``PermissionDenied``."""
    if actor.role not in KINDS.get(kind, ()):
        raise PermissionDenied(f"a {actor.role.value} account may not record {kind.value} events")
    if actor.party is None:
        raise PermissionDenied("this account acts for no party, so it cannot record events")
    return actor.party


def check_owner(actor: Actor, action: str, owner: str, actor_parent: str | None) -> None:
    """Company accounts act only on their own cylinders (a filling station's: its gas company's)."""
    check(actor, action)
    if actor.role in PARTY_BOUND and owner not in (actor.party, actor_parent):
        raise PermissionDenied(f"cylinders of {owner} are not {actor.party}'s")


def findings_of(actor: Actor, party: str | None) -> str | None:
    """The party filter a findings query runs with: overseers choose; a party sees its own findings only."""
    if actor.role in _OVERSEERS:
        return party
    check_party(actor, party or actor.party or "", "findings.read")
    return actor.party
