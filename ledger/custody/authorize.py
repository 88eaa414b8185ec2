"""Who may record what: the permission tables of custody and ``authorize``.

``authorize(actor, role, event, registry)`` refuses an event that cannot be
recorded at all (wrong account, a party kind that never does this, a receiver
that cannot hold a cylinder, facts missing). It never looks at the cylinder's
state: offline events arrive out of order, so a story that is merely impossible
or illegal is recorded and judged by ``ledger.rules`` instead.
"""

from __future__ import annotations

from typing import Mapping, Protocol, Sequence

from ..domain import Event, EventKind, NewEvent, Party, PartyKind, Person, PersonRole, Role
from ..facts import check_event_data
from ..errors import PermissionDenied, Rejected

__all__ = ["Registry", "MemoryRegistry", "HOLDING_KINDS", "RECORDERS", "ROLE_PARTY_KINDS", "recording_roles",
           "authorize", "own_worker"]

K, P = EventKind, PartyKind


class Registry(Protocol):
    """Where custody and rules look parties and people up; ``None`` means not registered."""

    def party(self, id: str) -> Party | None: ...

    def person(self, id: str) -> Person | None: ...


class MemoryRegistry:
    """A ``Registry`` over fixed lists (tests, the demo, offline tools)."""

    def __init__(self, parties: Sequence[Party] = (), people: Sequence[Person] = ()) -> None:
        self._parties = {p.id: p for p in parties}
        self._people = {p.id: p for p in people}

    def party(self, id: str) -> Party | None:
        return self._parties.get(id)

    def person(self, id: str) -> Person | None:
        return self._people.get(id)


# Party kinds that can physically hold a cylinder; a regulator observes, never holds.
HOLDING_KINDS = frozenset({P.GAS_COMPANY, P.FILLING_STATION, P.TRANSPORTER, P.SHOP, P.INSPECTION_STATION})

# Which party kinds may record each event kind (DOMAIN.md "Parties and their papers").
RECORDERS: Mapping[EventKind, frozenset[PartyKind]] = {
    K.REGISTER: frozenset({P.GAS_COMPANY, P.FILLING_STATION}),
    K.FILL: frozenset({P.FILLING_STATION}),
    K.DISPATCH: HOLDING_KINDS,
    K.RETURN: HOLDING_KINDS,
    K.RECEIVE: HOLDING_KINDS,
    K.DELIVER: frozenset({P.SHOP}),
    K.COLLECT: frozenset({P.SHOP}),
    K.INSPECT: frozenset({P.INSPECTION_STATION}),
    K.SCRAP: frozenset({P.INSPECTION_STATION}),
    K.REPORT: frozenset({P.REGULATOR}),
}

# Which party kinds an account of each role may act for (CONTRACT.md "Parties and accounts").
ROLE_PARTY_KINDS: Mapping[Role, frozenset[PartyKind]] = {
    Role.ADMIN: frozenset(),
    Role.REGULATOR: frozenset({P.REGULATOR}),
    Role.INSPECTOR: frozenset({P.REGULATOR}),
    Role.COMPANY: frozenset({P.GAS_COMPANY, P.FILLING_STATION}),
    Role.TRANSPORTER: frozenset({P.TRANSPORTER}),
    Role.SHOP: frozenset({P.SHOP}),
    Role.INSPECTION: frozenset({P.INSPECTION_STATION}),
}



def recording_roles(recorders: Mapping[EventKind, frozenset[PartyKind]] = RECORDERS,
                    role_party_kinds: Mapping[Role, frozenset[PartyKind]] = ROLE_PARTY_KINDS,
                    ) -> dict[EventKind, frozenset[Role]]:
    """Which account roles may record each event kind: a role acting for some party kind that records it.

    The permission table of the API is this, so it cannot drift from what ``authorize``
    lets through; ``authorize`` then holds the account to its own party's kind.
    """
    return {kind: frozenset(role for role, acts_for in role_party_kinds.items() if acts_for & by)
            for kind, by in recorders.items()}


_WHO_RECORDS = {
    K.REGISTER: "only the owning gas company or one of its filling stations registers a cylinder",
    K.FILL: "only a filling station fills cylinders",
    K.DISPATCH: "only a party that holds cylinders hands them over",
    K.RETURN: "only a party that holds cylinders hands them back",
    K.RECEIVE: "only a party that holds cylinders confirms a handover",
    K.DELIVER: "only a shop delivers to end users",
    K.COLLECT: "only a shop collects empties from end users",
    K.INSPECT: "only an inspection station inspects cylinders",
    K.SCRAP: "only an inspection station scraps cylinders",
    K.REPORT: "only a regulator or grid inspector records field reports",
}


def authorize(actor: Party | None, role: Role | str, event: NewEvent | Event, registry: Registry) -> None:
    """Return ``None`` if ``event`` may be recorded; raise if it must be refused and recorded nowhere.

    ``PermissionDenied``: the account may not act so (no party, another party's
    event, a person of another party). ``Rejected``: no party of that kind could
    ever record it, or the receiver cannot hold a cylinder. ``InvalidInput``: the
    kind's facts are missing. Every message is a sentence a driver can read.
    The cylinder's state is never consulted.
    """
    role = Role(role)
    # 1. the account acts for exactly one party, of a kind its role allows
    if actor is None:
        raise PermissionDenied("this account belongs to no party, so it cannot record custody events")
    if actor.kind not in ROLE_PARTY_KINDS[role]:
        raise PermissionDenied(f"a {role.value} account cannot act for {actor.kind.value} {actor.id}")
    if event.party != actor.id:
        raise PermissionDenied(f"an account records only for its own party: {actor.id} cannot record for {event.party}")
    # 2. the party's kind does this kind of thing at all
    if actor.kind not in RECORDERS[event.kind]:
        raise Rejected(f"{actor.name} is a {actor.kind.value.replace('_', ' ')}: {_WHO_RECORDS[event.kind]}")
    # 3. the scanning person works for the acting party
    if event.person is not None:
        person = registry.person(event.person)
        if person is None:
            raise Rejected(f"person {event.person} is not registered; register them with {actor.name} first")
        if person.party != actor.id:
            raise PermissionDenied(f"person {event.person} works for {person.party}, not for {actor.id}")
    # 4. the kind's own facts
    data = check_event_data(event.kind, event.data)
    if event.kind is K.REGISTER and data["owner"] != actor.id and not (
        actor.kind is P.FILLING_STATION and actor.parent == data["owner"]
    ):
        raise PermissionDenied(f"{actor.name} cannot register cylinders owned by {data['owner']}")
    if event.kind in (K.DISPATCH, K.RETURN):
        _check_receiver(actor, event, registry)
    if event.kind is K.DELIVER and not event.to:
        raise Rejected("a delivery must name the end user in `to` (real-name purchase)", field="to")


def _check_receiver(actor: Party, event: NewEvent | Event, registry: Registry) -> None:
    verb = event.kind.value
    if not event.to:
        raise Rejected(f"a {verb} must name the receiving party in `to`")
    if event.to == actor.id:
        raise Rejected(f"a party cannot {verb} a cylinder to itself")
    receiver = registry.party(event.to)
    if receiver is not None and receiver.kind not in HOLDING_KINDS:
        raise Rejected(f"{receiver.name} is a {receiver.kind.value} and cannot take custody of cylinders")
    if receiver is None and not (event.kind is K.DISPATCH and own_worker(registry, actor.id, event.to)):
        raise Rejected(f"the receiver {event.to} is not a registered party")


def own_worker(registry: Registry, shop: str, to: str | None) -> bool:
    """True when ``to`` is a delivery worker of ``shop``: a delivery round, not a handover."""
    person = registry.person(to) if to else None
    return person is not None and person.party == shop and person.role is PersonRole.DELIVERY_WORKER

