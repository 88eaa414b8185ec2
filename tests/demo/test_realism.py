"""The clean city tells only legal stories (DOMAIN.md), and tells them the way devices do.

Each invariant is checked independently of the custody rules, over every chain
in the order things happened; then the rules themselves, the findings table and
the verifier must all agree that nothing is wrong.
"""

from __future__ import annotations

import re
from collections import Counter
from datetime import date, timedelta

import pytest

from tests.conftest import opened_end_users

from tools.demo import quality
from tools.demo.places import Point, km_between
from ledger.domain import EventKind as K
from ledger.rules.config import DEFAULT_FILL_LIMITS
from ledger.storage import registry as reg
from ledger.verify import audit

LOCAL = timedelta(hours=8)


def local_day(moment) -> date:
    return (moment + LOCAL).date()


@pytest.fixture(scope="module")
def story(clean_town):
    chains = {code: sorted(events, key=lambda e: (e.occurred_at, e.seq)) for code, events in clean_town.histories().items()}
    with clean_town.ledger.db.reading() as c:
        parties = {p.id: p for p in reg.list_parties(c, limit=10_000)}
        people = {person.id: person for party in parties for person in reg.people_of(c, party)}
        users = {row[0]: row[1:] for row in opened_end_users(clean_town.ledger, c)}
    return chains, parties, people, users


def test_every_receive_confirms_a_handover_to_the_receiver(story):
    chains, _, _, _ = story
    receives = 0
    for events in chains.values():
        open_to = None
        for e in events:
            if e.kind in (K.DISPATCH, K.RETURN):
                open_to = e.to
            elif e.kind is K.RECEIVE:
                assert open_to == e.party, f"{e.cylinder} seq {e.seq}: {e.party} received what nobody sent it"
                open_to, receives = None, receives + 1
            else:
                assert open_to is None, f"{e.cylinder} seq {e.seq}: {e.kind.value} during an open handover"
    assert receives > 1000


def test_fills_are_within_the_model_tolerance_and_only_in_date(story):
    chains, parties, _, _ = story
    fills = 0
    for events in chains.values():
        facts = events[0].data
        limit = DEFAULT_FILL_LIMITS[facts["model"]]
        due = date.fromisoformat(facts["next_inspection_due"])
        made = date.fromisoformat(facts["manufactured_on"])
        life_ends = made.replace(year=made.year + facts["design_life_years"])
        scrapped = False
        for e in events[1:]:
            assert not scrapped, f"{e.cylinder}: {e.kind.value} after scrap"
            if e.kind is K.INSPECT and e.data["result"] == "pass":
                due = date.fromisoformat(e.data["next_inspection_due"])
            elif e.kind is K.SCRAP:
                scrapped = True
            elif e.kind is K.FILL:
                fills += 1
                assert abs(e.data["net_kg"] - limit.allowed_kg) <= limit.tolerance_kg
                assert local_day(e.occurred_at) < due and local_day(e.occurred_at) < life_ends
                assert parties[e.party].parent == facts["owner"], "a station fills only its own company's cylinders"
    assert fills > 300


def test_every_trip_has_a_certified_driver_and_escort_and_every_party_a_licence(story):
    chains, parties, people, _ = story
    trips = Counter()
    for events in chains.values():
        for e in events[1:]:
            day = local_day(e.occurred_at)
            acting = parties[e.party]
            if acting.kind.value != "regulator":
                assert acting.licence is not None and acting.licence.valid_on(day), f"{acting.name} unlicensed on {day}"
            if e.kind in (K.DISPATCH, K.RETURN):
                assert parties[e.to].licence.valid_on(day)
                driver, escort = people[e.data["driver"]], people[e.data["escort"]]
                assert (driver.role.value, escort.role.value) == ("driver", "escort")
                assert driver.certificate.valid_on(day) and escort.certificate.valid_on(day)
                trips[e.data["vehicle"]] += 1
            if e.person is not None:
                assert people[e.person].party == e.party, "people scan only for their own party"
    assert len(trips) >= 3


def test_door_weights_match_the_fill_and_movements_are_drivable(story):
    chains, _, _, _ = story
    weighed = 0
    for events in chains.values():
        last_fill, last_place = None, None
        for e in events[1:]:
            if e.kind is K.FILL:
                last_fill = e.data["net_kg"]
            if e.kind is K.DELIVER and "net_kg" in e.data:
                weighed += 1
                assert last_fill - e.data["net_kg"] < 0.5
            assert e.location is not None, "every scan after registration is located"
            here = Point(e.location.lat, e.location.lon)
            if last_place is not None:
                hours = max((e.occurred_at - last_place[1]).total_seconds() / 3600, 1 / 60)
                assert km_between(last_place[0], here) / hours < 60, f"{e.cylinder} seq {e.seq} moved too fast"
            last_place = (here, e.occurred_at)
    assert weighed > 50


def test_devices_sync_late_and_out_of_order(story):
    chains, _, _, _ = story
    delays = sorted((e.recorded_at - e.occurred_at).total_seconds() for es in chains.values() for e in es[1:])
    assert delays[0] >= 0
    assert delays[len(delays) // 2] < 15 * 60  # mostly minutes
    assert timedelta(hours=2) < timedelta(seconds=delays[-1]) <= timedelta(hours=8, minutes=10)  # some hours
    shuffled = sum(1 for es in chains.values() if [e.seq for e in es] != sorted(e.seq for e in es))
    assert shuffled > len(chains) // 10, "arrival order differs from the order things happened"


def test_end_users_are_opaque_references_in_events(story):
    chains, _, _, users = story
    personal = {value for row in users.values() for value in row}
    for events in chains.values():
        for e in events:
            if e.kind is K.DELIVER:
                assert e.to in users
            assert not personal & {str(v) for v in e.data.values()}
            assert e.to is None or e.to not in personal


def test_names_addresses_and_plates_are_written_as_a_chinese_city_writes_them(story):
    chains, parties, people, users = story
    chinese = re.compile(r"[\u4e00-\u9fff]")
    for party in parties.values():  # firms' names: Chinese, numbers only inside （…号）, never a Latin word
        assert chinese.search(party.name) and not re.search(r"[A-Za-z]", party.name), party.name
    for person in people.values():
        assert re.fullmatch(r"[\u4e00-\u9fff]{2,4}", person.name), person.name
    for name, phone, address in users.values():
        assert chinese.search(name) and not re.search(r"[A-Za-z]", name), name
        assert re.fullmatch(r"1[3589]\d{9}", phone) and address.startswith("杭州市") and "区" in address, address
    plates = {e.data["vehicle"] for events in chains.values() for e in events if "vehicle" in e.data}
    assert plates and all(re.fullmatch(r"浙A·[A-HJ-NP-Z][0-9A-HJ-NP-Z]{3}[0-9]", plate) for plate in plates), plates


def test_the_rules_the_ledger_and_the_verifier_find_nothing_wrong(clean_town):
    build = clean_town.build
    assert build.truth == [] and build.rejections == [] and build.outcomes.get("rejected", 0) == 0
    with clean_town.ledger.db.writing() as c:
        clean_town.ledger.sweep(c, build.config.now)
    with clean_town.ledger.db.reading() as c:
        assert quality.from_rules(c, build.config.now) == []
        assert quality.from_table(c) == []  # late arrivals raised findings, and resolved them
        assert c.exec_driver_sql("SELECT count(*) FROM findings WHERE status = 'resolved'").scalar_one() > 0
        assert list(audit(c, clean_town.ledger.verifier)) == []


def test_the_city_has_the_parties_and_fleet_of_a_real_one(clean_town):
    city, build = clean_town.build.city, clean_town.build
    assert {s.company for s in city.stations} == set(city.companies)
    assert all(shop.workers and shop.licensed for shop in city.shops)
    assert not city.black_point.licensed
    models = Counter(c.model.name for c in build.fleet)
    assert models.most_common(1)[0][0] == "YSP-15" and set(models) == {"YSP-5", "YSP-10", "YSP-15", "YSP-50"}
    ages = [(build.config.now.date() - c.manufactured_on).days / 365 for c in build.fleet]
    assert min(ages) < 1 and max(ages) > 7.5
    assert build.registered > 300 and build.events > 3000
