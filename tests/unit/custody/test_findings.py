"""For every finding kind: a short story of scans that must raise it, and a near-identical
legal story that must not. Stories are told as the parties' scanners record them."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest

from ledger.custody import MemoryRegistry
from ledger.domain import FindingKind as F, Severity
from ledger.rules import RulesConfig, evaluate

from .story import (
    AT_SHOP, CARRIER, CREW, DRIVER, ESCORT, IN_BEIJING, LAB, OLD_DRIVER, PARTIES, PEOPLE, REGISTRY, REGULATOR, SHOP,
    SHOP2, STATION, STATION2, Story, at,
)

CFG = RulesConfig()


def judge(story: Story, now=None, config: RulesConfig = CFG):
    now = now or max(e.occurred_at for e in story.events) + timedelta(hours=1)
    return evaluate(story.events, REGISTRY, config, now)


def of(findings, kind: F):
    return [f for f in findings if f.kind is kind]


def to_shop(story: Story, shop: str = SHOP, carrier_hands_over: bool = True) -> None:
    """Fill at 09:00 Hangzhou, carrier loads at 10:00, unloads at the shop at 12:00."""
    story.fill(at(1))
    story.dispatch(STATION, CARRIER, at(2))
    story.receive(CARRIER, at(2.1))
    if carrier_hands_over:
        story.dispatch(CARRIER, shop, at(4))
    story.receive(shop, at(4.2))


# --- custody_jump -------------------------------------------------------------------------------

def test_a_shop_receiving_a_cylinder_nobody_dispatched_to_it_is_a_custody_jump():
    story = Story()
    to_shop(story, carrier_hands_over=False)
    jumps = of(judge(story), F.CUSTODY_JUMP)
    assert [(j.party, j.events, j.severity) for j in jumps] == [(SHOP, (4,), Severity.HIGH)]
    assert CARRIER in jumps[0].note


def test_the_same_delivery_with_the_carriers_dispatch_is_clean():
    story = Story()
    to_shop(story)
    assert judge(story) == []


def test_a_shop_delivering_what_it_never_confirmed_receiving_is_a_medium_jump_not_an_unconfirmed_handover():
    story = Story()
    story.fill(at(1))
    story.dispatch(STATION, CARRIER, at(2))
    story.receive(CARRIER, at(2.1))
    story.dispatch(CARRIER, SHOP, at(4))
    story.deliver(at(4 + 30))  # acted on a day later, never confirmed
    findings = judge(story, now=at(days=3))
    assert [(f.kind, f.party, f.severity) for f in findings] == [(F.CUSTODY_JUMP, SHOP, Severity.MEDIUM)]


def test_a_filling_station_taking_over_its_own_companys_new_cylinder_is_no_jump():
    story = Story()
    story.fill(at(1))  # registered by the company, first scanned at its station
    assert of(judge(story), F.CUSTODY_JUMP) == []


# --- handover_unconfirmed -----------------------------------------------------------------------

def test_a_dispatch_nobody_confirms_within_a_day_is_unconfirmed_and_the_sender_answers():
    story = Story()
    story.fill(at(1))
    story.dispatch(STATION, CARRIER, at(2))
    found = of(judge(story, now=at(2 + 25)), F.HANDOVER_UNCONFIRMED)
    assert [(f.party, f.events, f.severity) for f in found] == [(STATION, (2,), Severity.MEDIUM)]


def test_an_unconfirmed_dispatch_is_not_a_finding_before_the_limit():
    story = Story()
    story.fill(at(1))
    story.dispatch(STATION, CARRIER, at(2))
    assert judge(story, now=at(2 + 23)) == []


def test_a_handover_confirmed_but_only_after_the_limit_is_a_low_finding():
    story = Story()
    story.fill(at(1))
    story.dispatch(STATION, CARRIER, at(2))
    story.receive(CARRIER, at(2 + 30))
    found = of(judge(story), F.HANDOVER_UNCONFIRMED)
    assert [(f.events, f.severity) for f in found] == [((2, 3), Severity.LOW)]


def test_a_dispatch_confirmed_minutes_later_is_clean():
    story = Story()
    story.fill(at(1))
    story.dispatch(STATION, CARRIER, at(2))
    story.receive(CARRIER, at(2.1))
    assert judge(story, now=at(days=2)) == []


# --- event_after_scrap --------------------------------------------------------------------------

def scrapped(story: Story) -> None:
    story.fill(at(1))
    story.dispatch(STATION, LAB, at(days=1), crew={})
    story.receive(LAB, at(days=1, hours=1))
    story.add("inspect", LAB, at(days=2), data={"result": "fail"})
    story.add("scrap", LAB, at(days=2, hours=1))


def test_a_fill_after_scrapping_is_critical_and_names_the_filler():
    story = Story()
    scrapped(story)
    story.fill(at(days=9))
    after = of(judge(story), F.EVENT_AFTER_SCRAP)
    assert [(f.party, f.events, f.severity) for f in after] == [(STATION, (5, 6), Severity.CRITICAL)]


def test_a_report_after_scrapping_names_the_holder_of_record_not_the_inspector():
    story = Story()
    scrapped(story)
    story.add("report", REGULATOR, at(days=5), data={"note": "seen at an unlicensed point"})
    assert [f.party for f in of(judge(story), F.EVENT_AFTER_SCRAP)] == [LAB]


def test_the_same_report_before_scrapping_is_clean():
    story = Story()
    story.add("report", REGULATOR, at(days=1.5), data={"note": "label checked"})
    scrapped(story)
    assert judge(story) == []


def test_an_event_within_the_clock_skew_of_the_scrap_gets_the_benefit_of_the_doubt():
    story = Story()
    scrapped(story)
    story.add("report", REGULATOR, at(days=2, hours=1) + timedelta(minutes=5), data={"note": "scrap witnessed"})
    assert of(judge(story), F.EVENT_AFTER_SCRAP) == []


# --- filled_overdue_inspection ------------------------------------------------------------------

def test_filling_a_cylinder_overdue_for_inspection():
    story = Story(next_inspection_due="2026-03-01")
    story.fill(at(1))
    found = of(judge(story), F.FILLED_OVERDUE_INSPECTION)
    assert [(f.party, f.severity) for f in found] == [(STATION, Severity.HIGH)]
    assert "2026-03-01" in found[0].note


def test_filling_on_the_due_day_itself_is_clean():
    story = Story(next_inspection_due="2026-03-02")
    story.fill(at(1))  # 09:00 on 2 March in Hangzhou
    assert judge(story) == []


def test_filling_after_a_passed_inspection_renewed_the_due_date_is_clean():
    story = Story(registered=at(-30), next_inspection_due="2026-03-01")
    story.dispatch(STATION, LAB, at(-20), crew={})
    story.receive(LAB, at(-19))
    story.add("inspect", LAB, at(-18), data={"result": "pass", "next_inspection_due": "2030-02-28"})
    story.give_back(LAB, STATION, at(-17), crew={})
    story.receive(STATION, at(-16))
    story.fill(at(1))
    assert judge(story) == []


def test_filling_after_a_failed_inspection_is_critical():
    story = Story(registered=at(-30))
    story.add("inspect", LAB, at(-5), data={"result": "fail"})
    story.fill(at(1))
    found = of(judge(story), F.FILLED_OVERDUE_INSPECTION)
    assert [f.severity for f in found] == [Severity.CRITICAL]


# --- filled_past_design_life --------------------------------------------------------------------

OLD = {"manufactured_on": "2017-06-01", "last_inspected_on": "2024-06-01", "next_inspection_due": "2027-06-01"}


def test_filling_past_eight_years_without_an_extension():
    story = Story(**OLD)
    story.fill(at(1))
    found = of(judge(story), F.FILLED_PAST_DESIGN_LIFE)
    assert [(f.party, f.severity) for f in found] == [(STATION, Severity.HIGH)]
    assert "2025-06-01" in found[0].note


def test_filling_past_eight_years_after_a_passed_end_of_life_inspection_is_clean():
    story = Story(registered=at(days=-400), **OLD)  # registered late, while already in use
    story.dispatch(STATION, LAB, at(days=-181), crew={})
    story.receive(LAB, at(days=-181, hours=2))
    story.add("inspect", LAB, at(days=-180), data={"result": "pass", "next_inspection_due": "2027-06-01"})
    story.give_back(LAB, STATION, at(days=-179), crew={})
    story.receive(STATION, at(days=-179, hours=1))
    story.fill(at(1))
    assert judge(story) == []


def test_an_early_inspection_does_not_grant_the_extension():
    story = Story(registered=at(days=-900), **OLD)
    story.add("inspect", LAB, at(days=-800), data={"result": "pass", "next_inspection_due": "2027-06-01"})
    story.fill(at(1))
    assert [f.severity for f in of(judge(story), F.FILLED_PAST_DESIGN_LIFE)] == [Severity.HIGH]


def test_filling_past_twelve_years_is_critical_whatever_the_inspection():
    story = Story(registered=at(days=-400), **{**OLD, "manufactured_on": "2013-06-01"})
    story.add("inspect", LAB, at(days=-180), data={"result": "pass", "next_inspection_due": "2027-06-01"})
    story.fill(at(1))
    assert [f.severity for f in of(judge(story), F.FILLED_PAST_DESIGN_LIFE)] == [Severity.CRITICAL]


def test_an_older_standard_cylinder_with_fifteen_years_is_clean_at_thirteen():
    story = Story(**{**OLD, "manufactured_on": "2013-06-01", "design_life_years": 15})
    story.fill(at(1))
    assert judge(story) == []


# --- filled_by_non_owner ------------------------------------------------------------------------

def test_a_station_of_another_company_filling_the_cylinder():
    story = Story()
    story.fill(at(1), station=STATION2)
    found = of(judge(story), F.FILLED_BY_NON_OWNER)
    assert [(f.party, f.events) for f in found] == [(STATION2, (1,))]


def test_the_owners_own_station_filling_is_clean():
    story = Story()
    story.fill(at(1), station=STATION)
    assert of(judge(story), F.FILLED_BY_NON_OWNER) == []


# --- unlicensed_party ---------------------------------------------------------------------------

def test_handing_cylinders_to_a_shop_whose_licence_lapsed():
    story = Story()
    to_shop(story, shop=SHOP2)
    found = of(judge(story), F.UNLICENSED_PARTY)
    assert [(f.party, f.events) for f in found] == [(SHOP2, (4, 5))]  # one finding: named, then received
    assert "2025-12-31" in found[0].note


def test_handing_cylinders_to_a_licensed_shop_is_clean():
    story = Story()
    to_shop(story, shop=SHOP)
    assert of(judge(story), F.UNLICENSED_PARTY) == []


# --- certificate_expired ------------------------------------------------------------------------

def test_a_trip_with_a_driver_whose_certificate_expired():
    story = Story()
    story.fill(at(1))
    story.dispatch(STATION, CARRIER, at(2), crew={**CREW, "driver": OLD_DRIVER})
    story.receive(CARRIER, at(2.1))
    found = of(judge(story), F.CERTIFICATE_EXPIRED)
    assert [(f.party, f.events) for f in found] == [(CARRIER, (2,))]


def test_a_trip_with_an_unregistered_escort_has_no_certificate_on_record():
    story = Story()
    story.fill(at(1))
    story.dispatch(STATION, CARRIER, at(2), crew={**CREW, "escort": "esc-ghost"})
    story.receive(CARRIER, at(2.1))
    found = of(judge(story), F.CERTIFICATE_EXPIRED)
    assert len(found) == 1 and "not registered" in found[0].note


def test_people_of_another_city_are_left_to_the_city_that_registered_them():
    """People never cross city lines (docs/regions.md): a crew member this city does not know, on a leg
    handed to a transporter homed in another city, is judged there; on a leg within the city, here."""
    away = replace(next(p for p in PARTIES if p.id == CARRIER), id="tr-away", home="shaoxing")
    registry = MemoryRegistry([*PARTIES, away], PEOPLE)
    story = Story()
    story.fill(at(1))
    story.dispatch(STATION, "tr-away", at(2), crew={**CREW, "driver": "drv-of-shaoxing"})
    assert of(evaluate(story.events, registry, CFG, at(3)), F.CERTIFICATE_EXPIRED) == []
    story = Story()
    story.fill(at(1))
    story.dispatch(STATION, CARRIER, at(2), crew={**CREW, "driver": "drv-of-shaoxing"})
    assert len(of(evaluate(story.events, registry, CFG, at(3)), F.CERTIFICATE_EXPIRED)) == 1


def test_a_trip_with_certified_crew_is_clean():
    story = Story()
    story.fill(at(1))
    story.dispatch(STATION, CARRIER, at(2), crew=CREW)
    story.receive(CARRIER, at(2.1))
    assert of(judge(story), F.CERTIFICATE_EXPIRED) == []


# --- missing_escort -----------------------------------------------------------------------------

@pytest.mark.parametrize("crew", [{"driver": DRIVER}, {"driver": DRIVER, "escort": DRIVER}, {"escort": ESCORT}])
def test_a_transporter_dispatching_without_a_separate_escort(crew):
    story = Story()
    story.fill(at(1))
    story.dispatch(STATION, CARRIER, at(2))
    story.receive(CARRIER, at(2.1))
    story.dispatch(CARRIER, SHOP, at(4), crew=crew)
    story.receive(SHOP, at(4.2))
    found = of(judge(story), F.MISSING_ESCORT)
    assert [(f.party, f.events) for f in found] == [(CARRIER, (4,))]


def test_a_transporter_dispatching_with_driver_and_escort_is_clean():
    story = Story()
    to_shop(story)
    assert of(judge(story), F.MISSING_ESCORT) == []


def test_a_filling_stations_dispatch_naming_a_vehicle_and_driver_but_no_escort_is_missing_an_escort():
    story = Story()
    story.fill(at(1))
    story.dispatch(STATION, CARRIER, at(2), crew={"vehicle": "ZA-12345", "driver": DRIVER})
    story.receive(CARRIER, at(2.1))
    found = of(judge(story), F.MISSING_ESCORT)
    assert [(f.party, f.events) for f in found] == [(STATION, (2,))]
    assert "names no escort" in found[0].note


def test_a_shops_return_naming_a_trip_without_an_escort_is_missing_an_escort():
    story = Story()
    to_shop(story)
    story.give_back(SHOP, CARRIER, at(30), crew={"vehicle": "ZA-12345", "driver": DRIVER})
    story.receive(CARRIER, at(30.1))
    story.give_back(CARRIER, STATION, at(32))
    story.receive(STATION, at(32.1))
    found = of(judge(story), F.MISSING_ESCORT)
    assert [(f.party, f.events) for f in found] == [(SHOP, (6,))]


def test_a_shops_hand_over_naming_no_trip_raises_nothing():
    story = Story()
    to_shop(story)
    story.dispatch(SHOP, SHOP2, at(6), crew={})
    story.receive(SHOP2, at(6.1))
    story.give_back(SHOP2, SHOP, at(8), crew={})
    story.receive(SHOP, at(8.1))
    assert of(judge(story), F.MISSING_ESCORT) == []


def test_a_transporters_onward_leg_naming_no_crew_continues_the_trip_it_received_the_cylinder_on():
    story = Story()
    story.fill(at(1))
    story.dispatch(STATION, CARRIER, at(2))  # the full crew, named at the station
    story.receive(CARRIER, at(2.1))
    story.dispatch(CARRIER, SHOP, at(4), crew={})
    story.receive(SHOP, at(4.2))
    assert of(judge(story), F.MISSING_ESCORT) == []


def test_a_transporters_onward_leg_inherits_a_trip_that_had_no_escort():
    story = Story()
    story.fill(at(1))
    story.dispatch(STATION, CARRIER, at(2), crew={"vehicle": "ZA-12345", "driver": DRIVER})
    story.receive(CARRIER, at(2.1))
    story.dispatch(CARRIER, SHOP, at(4), crew={})
    story.receive(SHOP, at(4.2))
    found = of(judge(story), F.MISSING_ESCORT)
    assert [(f.party, f.events) for f in found] == [(STATION, (2,)), (CARRIER, (4,))]
    assert "continues the trip of seq 2, which names no escort" in found[1].note


def test_a_transporters_leg_naming_no_crew_after_receiving_on_no_trip_is_missing_an_escort():
    story = Story()
    to_shop(story)
    story.give_back(SHOP, CARRIER, at(30), crew={})  # across the shop's counter: no trip named
    story.receive(CARRIER, at(30.1))
    story.give_back(CARRIER, STATION, at(32), crew={})
    story.receive(STATION, at(32.1))
    found = of(judge(story), F.MISSING_ESCORT)
    assert [(f.party, f.events) for f in found] == [(CARRIER, (8,))]


def test_a_transporter_cannot_inherit_a_trip_it_did_not_receive_the_cylinder_on():
    story = Story()
    to_shop(story)  # the carrier's crew named on the way to the shop
    story.receive(CARRIER, at(30))  # taken back from the shop with no handover at all
    story.give_back(CARRIER, STATION, at(32), crew={})
    found = of(judge(story), F.MISSING_ESCORT)
    assert [(f.party, f.events) for f in found] == [(CARRIER, (7,))]


# --- short_weight -------------------------------------------------------------------------------

def test_a_delivery_lighter_than_the_fill_means_decanting():
    story = Story()
    to_shop(story)
    story.deliver(at(6), kg=13.6)
    found = of(judge(story), F.SHORT_WEIGHT)
    assert [(f.party, f.events) for f in found] == [(SHOP, (1, 6))]
    assert "0.90 kg short" in found[0].note


def test_a_delivery_within_the_scale_tolerance_is_clean():
    story = Story()
    to_shop(story)
    story.deliver(at(6), kg=14.1)
    assert judge(story) == []


# --- overfill -----------------------------------------------------------------------------------

def test_overfilling_a_15_kg_cylinder():
    story = Story(model="ysp15")  # spelled as a scanner might
    story.fill(at(1), kg=15.3)
    found = of(judge(story), F.OVERFILL)
    assert [(f.party, f.events) for f in found] == [(STATION, (1,))]


def test_filling_a_15_kg_cylinder_at_the_top_of_the_tolerance_is_clean():
    story = Story()
    story.fill(at(1), kg=15.0)
    assert judge(story) == []


def test_overfill_limits_are_per_model_and_configurable():
    story = Story(model="YSP-50")
    story.fill(at(1), kg=49.9)
    assert judge(story) == []
    strict = RulesConfig(fill_limits={"YSP-50": CFG.fill_limits["YSP-50"].__class__(48.0, 1.0, "test")})
    assert [f.kind for f in judge(story, config=strict)] == [F.OVERFILL]


# --- vanished -----------------------------------------------------------------------------------

def test_a_cylinder_silent_for_a_month_on_a_truck_has_vanished():
    story = Story()
    story.fill(at(1))
    story.dispatch(STATION, CARRIER, at(2))
    story.receive(CARRIER, at(2.1))
    found = of(judge(story, now=at(days=31)), F.VANISHED)
    assert [(f.party, f.events) for f in found] == [(CARRIER, (3,))]


def test_a_cylinder_silent_for_two_months_with_a_household_is_resting():
    story = Story()
    to_shop(story)
    story.deliver(at(6))
    assert judge(story, now=at(days=60)) == []


def test_a_month_long_silence_stays_a_finding_after_the_cylinder_turns_up():
    story = Story()
    to_shop(story, carrier_hands_over=False)
    story.events.pop()  # the shop's receive comes much later
    story.dispatch(CARRIER, SHOP, at(days=40))
    story.receive(SHOP, at(days=40, hours=1))
    assert [f.events for f in of(judge(story), F.VANISHED)] == [(3,)]


# --- impossible_movement ------------------------------------------------------------------------

def test_a_cylinder_in_hangzhou_and_beijing_within_the_hour():
    story = Story()
    to_shop(story)
    story.deliver(at(6))
    story.add("report", REGULATOR, at(6.5), data={"note": "found at a market stall"}, location=IN_BEIJING)
    found = of(judge(story), F.IMPOSSIBLE_MOVEMENT)
    assert [(f.party, f.events) for f in found] == [(SHOP, (6, 7))]


def test_the_same_two_places_two_days_apart_are_clean():
    story = Story()
    to_shop(story)
    story.deliver(at(6))
    story.add("report", REGULATOR, at(days=2), data={"note": "household moved"}, location=IN_BEIJING)
    assert judge(story) == []


def test_two_scans_a_few_kilometres_apart_in_the_same_minute_are_location_noise():
    story = Story()
    story.fill(at(1))  # at the station
    story.add("report", REGULATOR, at(1.01), data={"note": "spot check"}, location=AT_SHOP)  # ~7 km away
    assert of(judge(story), F.IMPOSSIBLE_MOVEMENT) == []


# --- standing: what risk lists and the public page read -----------------------------------------

def test_standing_tells_overdue_due_soon_and_past_design_life_at_a_moment():
    from ledger.custody import replay
    from ledger.rules import standing

    trace = replay(Story(**{**OLD, "next_inspection_due": "2026-03-20"}).events, REGISTRY)
    early = standing(trace, CFG, at(days=-30))
    assert (early.overdue_inspection, early.inspection_due_soon, early.past_design_life) == (False, False, True)
    soon = standing(trace, CFG, at(1))
    assert (soon.overdue_inspection, soon.inspection_due_soon) == (False, True)
    late = standing(trace, CFG, at(days=19))
    assert (late.overdue_inspection, late.inspection_due_soon) == (True, False)
    young = standing(replay(Story().events, REGISTRY), CFG, at(1))
    assert (young.overdue_inspection, young.inspection_due_soon, young.past_design_life) == (False, False, False)
