"""The API's table of who may record which kind is the custody tables' answer, not a copy of it."""

from __future__ import annotations

from api import permissions
from ledger.custody import RECORDERS, ROLE_PARTY_KINDS, recording_roles
from ledger.domain import EventKind, PartyKind, Role


def test_a_kind_the_custody_rules_let_a_role_record_is_never_refused_by_a_stale_api_table():
    # Were shops licensed to fill, the API must let shop accounts try at once, with no second edit.
    widened = {**RECORDERS, EventKind.FILL: RECORDERS[EventKind.FILL] | {PartyKind.SHOP}}
    assert Role.SHOP in recording_roles(widened)[EventKind.FILL]
    assert Role.SHOP not in recording_roles()[EventKind.FILL]
    assert permissions.KINDS == {kind: roles for kind, roles in recording_roles().items()
                                 if kind is not EventKind.REGISTER}


def test_every_cell_of_the_table_follows_from_the_party_kinds_a_role_acts_for():
    for kind in EventKind:
        for role in Role:
            may = any(party_kind in RECORDERS[kind] for party_kind in ROLE_PARTY_KINDS[role])
            assert (role in permissions.KINDS.get(kind, ())) is (may and kind is not EventKind.REGISTER), (kind, role)


def test_the_table_docs_api_publishes_is_unchanged():
    holders = frozenset({Role.COMPANY, Role.TRANSPORTER, Role.SHOP, Role.INSPECTION})
    assert permissions.KINDS == {
        EventKind.FILL: frozenset({Role.COMPANY}),
        EventKind.DISPATCH: holders, EventKind.RECEIVE: holders, EventKind.RETURN: holders,
        EventKind.DELIVER: frozenset({Role.SHOP}), EventKind.COLLECT: frozenset({Role.SHOP}),
        EventKind.INSPECT: frozenset({Role.INSPECTION}), EventKind.SCRAP: frozenset({Role.INSPECTION}),
        EventKind.REPORT: frozenset({Role.REGULATOR, Role.INSPECTOR}),
    }
