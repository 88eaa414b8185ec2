"""One physical cylinder, one trace code: every other spelling of a registered stamp is refused.

Each attack registers a cylinder, then tries the same manufacturer and serial
spelled otherwise through POST /v1/cylinders; it must be answered 409 naming
the first trace code (or 422 where the spelling holds an invisible character)
and write nothing. Runs on SQLite and PostgreSQL.
"""

from __future__ import annotations

import uuid
from datetime import date

import pytest

from ledger.service import Registration

from .conftest import ADMIN, World, event_body

SERIAL, MAKER = "17315-0001364", "Zhejiang Steel"


def _body(world: World, serial: str = SERIAL, manufacturer: str = MAKER, owner: str = "company") -> dict:
    return {"owner": world.parties[owner], "serial": serial, "manufacturer": manufacturer,
            "manufactured_on": "2023-01-05", "model": "YSP-15", "tare_kg": 15.0, "design_life_years": 8,
            "last_inspected_on": "2024-01-05", "next_inspection_due": "2028-01-05",
            "idempotency_key": f"reg-{uuid.uuid4()}"}


def _register(world: World, account: str = "company", **fields) -> object:
    owner = "company2" if account == "company2" else "company"
    return world.client.post("/v1/cylinders", json=_body(world, owner=owner, **fields), headers=world.auth(account))


def _first(world: World) -> str:
    answer = _register(world)
    assert answer.status_code == 201, answer.text
    return answer.json()["id"]


def _refused_as_taken(world: World, first: str, account: str = "company", **fields) -> dict:
    before = world.counts()
    answer = _register(world, account, **fields)
    assert answer.status_code == 409, answer.text
    assert answer.headers["content-type"] == "application/problem+json"
    problem = answer.json()
    assert problem["type"] == "urn:cylinder-ledger:problem:conflict" and first in problem["detail"]
    assert world.counts() == before
    return problem


@pytest.mark.parametrize("serial", ["17315-0001364", "17315-0001364 ", "１７３１５-０００１３６４", "17315－0001364",
                                    "17315\u20100001364", "17315\u22120001364", "17315 - 0001364"],
                         ids=["same", "trailing-space", "full-width-digits", "full-width-hyphen", "unicode-hyphen",
                              "minus-sign", "spaced"])
def test_the_same_stamp_spelled_otherwise_gets_no_second_code(world: World, serial: str) -> None:
    first = _first(world)
    _refused_as_taken(world, first, serial=serial)


def test_a_lower_case_serial_gets_no_second_code(world: World) -> None:
    answer = _register(world, serial="ZJ17315-AB01364")  # a stamp with letters in it
    assert answer.status_code == 201
    first = answer.json()["id"]
    _refused_as_taken(world, first, serial="zj17315-ab01364")


@pytest.mark.parametrize("manufacturer", ["zhejiang steel", "ZHEJIANG STEEL", "Zhejiang  Steel", " Zhejiang Steel",
                                          "ZhejiangSteel", "Ｚｈｅｊｉａｎｇ Ｓｔｅｅｌ", "Zhejiang\u3000Steel"])
def test_the_manufacturer_spelled_with_other_spacing_or_case_gets_no_second_code(world: World, manufacturer: str) -> None:
    first = _first(world)
    _refused_as_taken(world, first, manufacturer=manufacturer)


@pytest.mark.parametrize("serial", ["17315\u200b-0001364", "\ufeff17315-0001364", "17315-0001364\u200d",
                                    "17315\u2060-0001364", "17315\u202e-0001364"],
                         ids=["zero-width-space", "bom", "zero-width-joiner", "word-joiner", "bidi-override"])
def test_an_invisible_character_in_a_serial_is_refused_and_writes_nothing(world: World, serial: str) -> None:
    first = _first(world)
    before = world.counts()
    answer = _register(world, serial=serial)
    assert answer.status_code == 422, answer.text
    problem = answer.json()
    assert problem["errors"][0]["field"] == "serial" and "invisible" in answer.text
    assert world.counts() == before
    assert first not in answer.text


def test_an_invisible_character_in_a_manufacturer_is_refused(world: World) -> None:
    _first(world)
    answer = _register(world, manufacturer="\ufeffZhejiang Steel")
    assert answer.status_code == 422 and answer.json()["errors"][0]["field"] == "manufacturer"


def test_a_scrapped_cylinders_serial_is_never_registered_again(world: World) -> None:
    first = _first(world)
    scrap = world.client.post("/v1/events", json=event_body(first, "scrap"), headers=world.auth("inspection"))
    assert scrap.status_code == 201, scrap.text
    for serial in (SERIAL, "１７３１５-0001364"):
        problem = _refused_as_taken(world, first, serial=serial)
        assert "scrapped" in problem["detail"]


def test_another_companys_registration_of_the_same_stamp_is_told_the_existing_code(world: World) -> None:
    first = _first(world)
    problem = _refused_as_taken(world, first, account="company2", serial="17315-0001364", manufacturer="ZHEJIANG STEEL")
    assert world.parties["company"] in problem["detail"]


def test_the_stored_serial_is_the_normalised_spelling(world: World) -> None:
    answer = _register(world, serial="ＳＮ－００４２", manufacturer="Zhejiang   Steel")
    assert answer.status_code == 201
    shown = world.client.get(f"/v1/cylinders/{answer.json()['id']}", headers=world.auth("company")).json()
    assert (shown["serial"], shown["manufacturer"]) == ("SN-0042", "Zhejiang Steel")
    assert answer.json()["event"]["data"]["serial"] == "SN-0042"


def test_a_batch_naming_one_stamp_twice_registers_it_once(world: World) -> None:
    """The service's batch path: the second spelling in the same batch is refused, the first written."""
    def registration(serial: str) -> Registration:
        return Registration(world.parties["company"], serial, MAKER, date(2023, 1, 5), "YSP-15", 15.0, 8,
                            date(2024, 1, 5), date(2028, 1, 5))

    with world.ledger.db.writing() as connection:
        outcomes = world.ledger.register_batch(connection, ADMIN, [registration(SERIAL), registration("１７３１５-0001364")])
    assert [o.status for o in outcomes] == ["created", "rejected"]
    assert "named twice" in outcomes[1].error.message
