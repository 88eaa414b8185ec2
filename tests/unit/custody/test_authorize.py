"""What must be refused and recorded nowhere, and what is recorded even though it is irregular."""

from __future__ import annotations

from datetime import timedelta

import pytest

from ledger.custody import RECORDERS, authorize
from ledger.domain import EventKind, NewEvent, Role
from ledger.errors import InvalidInput, PermissionDenied, Rejected

from .story import (
    CARRIER, CO, CO2, CREW, INSPECTOR, LAB, OPERATOR, REGISTRY, REGULATOR, SHOP, SHOP2, STATION, STATION2,
    WORKER, Story, at,
)

REGISTER = Story().events[0].data


def party(id):
    return REGISTRY.party(id)


def scan(kind, by, to=None, person=None, **data):
    return NewEvent(cylinder="CYL-0001", kind=EventKind(kind), occurred_at=at(1), party=by,
                    idempotency_key="scan-0000001", to=to, person=person, data=data)


def refused(error, actor, role, event, words):
    with pytest.raises(error) as caught:
        authorize(party(actor) if actor else None, role, event, REGISTRY)
    assert words in caught.value.message
    return caught.value


PERMITTED = [
    (CO, Role.COMPANY, scan("register", CO, **REGISTER)),
    (STATION, Role.COMPANY, scan("register", STATION, **REGISTER)),  # a station of the owner
    (STATION, Role.COMPANY, scan("fill", STATION, person=OPERATOR, net_kg=14.5)),
    (STATION, Role.COMPANY, scan("dispatch", STATION, to=CARRIER, **CREW)),
    (CARRIER, Role.TRANSPORTER, scan("receive", CARRIER)),
    (CARRIER, Role.TRANSPORTER, scan("dispatch", CARRIER, to=SHOP, **CREW)),
    (SHOP, Role.SHOP, scan("dispatch", SHOP, to=WORKER, person=WORKER)),
    (SHOP, Role.SHOP, scan("deliver", SHOP, to="user-0042", person=WORKER, net_kg=14.4)),
    (SHOP, Role.SHOP, scan("collect", SHOP)),
    (SHOP, Role.SHOP, scan("return", SHOP, to=CARRIER)),
    (LAB, Role.INSPECTION, scan("inspect", LAB, result="pass", next_inspection_due="2030-01-01")),
    (LAB, Role.INSPECTION, scan("inspect", LAB, result="fail")),
    (LAB, Role.INSPECTION, scan("scrap", LAB)),
    (REGULATOR, Role.INSPECTOR, scan("report", REGULATOR, person=INSPECTOR, note="label torn")),
    (REGULATOR, Role.REGULATOR, scan("report", REGULATOR, note="seized")),
    # irregular but recordable: the log must tell the truth, the rules raise the findings
    (STATION2, Role.COMPANY, scan("fill", STATION2, net_kg=17.0)),  # not the owner, and overfilled
    (SHOP, Role.SHOP, scan("receive", SHOP)),  # nobody may have dispatched it
    (CARRIER, Role.TRANSPORTER, scan("dispatch", CARRIER, to=SHOP2, driver="drv-wang")),  # no escort, lapsed shop
]


@pytest.mark.parametrize("actor, role, event", PERMITTED, ids=lambda v: getattr(v, "kind", v))
def test_permitted_events_pass(actor, role, event):
    assert authorize(party(actor), role, event, REGISTRY) is None


def test_an_account_with_no_party_records_nothing():
    refused(PermissionDenied, None, Role.ADMIN, scan("fill", STATION, net_kg=14.5), "belongs to no party")


def test_a_shop_cannot_record_a_transporters_dispatch():
    refused(PermissionDenied, SHOP, Role.SHOP, scan("dispatch", CARRIER, to=SHOP, **CREW), "only for its own party")


def test_an_account_acts_only_for_a_party_of_its_roles_kind():
    refused(PermissionDenied, SHOP, Role.TRANSPORTER, scan("receive", SHOP), "transporter account cannot act for shop")
    refused(PermissionDenied, STATION, Role.ADMIN, scan("fill", STATION, net_kg=1), "admin account cannot act")


@pytest.mark.parametrize("actor, role, kind, words", [
    (SHOP, Role.SHOP, "fill", "only a filling station fills"),
    (CO, Role.COMPANY, "fill", "only a filling station fills"),
    (CARRIER, Role.TRANSPORTER, "deliver", "only a shop delivers"),
    (STATION, Role.COMPANY, "scrap", "only an inspection station scraps"),
    (SHOP, Role.SHOP, "inspect", "only an inspection station inspects"),
    (SHOP, Role.SHOP, "report", "only a regulator"),
    (REGULATOR, Role.REGULATOR, "receive", "only a party that holds cylinders"),
    (CARRIER, Role.TRANSPORTER, "register", "only the owning gas company"),
])
def test_a_party_kind_that_never_does_this_is_rejected_with_a_readable_reason(actor, role, kind, words):
    error = refused(Rejected, actor, role, scan(kind, actor, to="user-1", net_kg=14.5, note="x", result="fail"), words)
    assert error.message[0].isupper()


def test_only_the_owner_or_its_station_registers():
    refused(PermissionDenied, CO2, Role.COMPANY, scan("register", CO2, **REGISTER), "owned by co-east")
    refused(PermissionDenied, STATION2, Role.COMPANY, scan("register", STATION2, **REGISTER), "owned by co-east")


@pytest.mark.parametrize("to, words", [
    (None, "must name the receiving party"),
    (STATION, "to itself"),
    (REGULATOR, "cannot take custody"),
    ("tr-nobody", "not a registered party"),
    ("wkr-zhao", "not a registered party"),  # another shop's worker is no party of the station's
])
def test_a_handover_to_nobody_who_can_hold_it_is_rejected(to, words):
    refused(Rejected, STATION, Role.COMPANY, scan("dispatch", STATION, to=to), words)


def test_a_delivery_names_the_end_user():
    refused(Rejected, SHOP, Role.SHOP, scan("deliver", SHOP, net_kg=14.4), "real-name")


def test_the_scanning_person_works_for_the_acting_party():
    refused(PermissionDenied, SHOP2, Role.SHOP, scan("collect", SHOP2, person=WORKER), "works for shop-lake")
    refused(Rejected, SHOP, Role.SHOP, scan("collect", SHOP, person="wkr-nobody"), "not registered")


@pytest.mark.parametrize("kind, data, field", [
    ("fill", {}, "data.net_kg"),
    ("fill", {"net_kg": -1}, "data.net_kg"),
    ("inspect", {"result": "maybe"}, "data.result"),
    ("inspect", {"result": "pass"}, "data.next_inspection_due"),
    ("register", {**REGISTER, "tare_kg": "heavy"}, "data.tare_kg"),
    ("register", {**REGISTER, "manufactured_on": "15/01/2024"}, "data.manufactured_on"),
])
def test_missing_or_malformed_facts_are_invalid_input(kind, data, field):
    actor = {"fill": STATION, "inspect": LAB, "register": CO}[kind]
    role = {"fill": Role.COMPANY, "inspect": Role.INSPECTION, "register": Role.COMPANY}[kind]
    with pytest.raises(InvalidInput) as caught:
        authorize(party(actor), role, scan(kind, actor, **data), REGISTRY)
    assert caught.value.field == field


def test_a_report_says_what_was_seen():
    refused(InvalidInput, REGULATOR, Role.INSPECTOR, scan("report", REGULATOR, note="  "), "data.note")


def test_the_permission_table_covers_every_kind_of_event():
    assert set(RECORDERS) == set(EventKind)


def test_refusals_never_look_at_the_cylinders_state():
    # authorize takes no history: an offline receive that arrives before its dispatch must pass
    event = scan("receive", SHOP)
    assert authorize(party(SHOP), "shop", event, REGISTRY) is None
    assert event.occurred_at - at(0) == timedelta(hours=1)
