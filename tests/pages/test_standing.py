"""What a driver is told must not go out is what the trace page warns of and what the risk lists list."""

from __future__ import annotations

from datetime import date

from api.pages import driver
from ledger import standing
from ledger.standing import Caution, cautions

from .city import Town
from .conftest import sign_in


def test_a_cylinder_the_trace_page_stops_is_never_waved_through_at_the_door(town: Town, client):
    # one rule, read by all three: the driver's answers, the trace page and the risk lists
    assert driver.cautions is standing.cautions
    sign_in(client, town.tokens["shop"])
    with town.ledger.db.reading() as c:
        listed = {reason: {row["cylinder"] for row in town.ledger.risk_cylinders(c, reason=reason, limit=500)["items"]}
                  for reason in ("overdue_inspection", "past_design_life")}
        for name in ("clean", "overdue", "old", "scrapped", "jump"):
            code = town.cylinders[name]
            told = client.get("/driver/check", params={"scan": code}).json()["cautions"]
            page = town.ledger.trace(c, code)["cylinder"]
            assert page["must_not_fill_or_deliver"] is bool(told), name
            for reason, codes in listed.items():
                assert (code in codes) is (reason in told and "scrapped" not in told), (name, reason)
    assert client.get("/driver/check", params={"scan": town.cylinders["overdue"]}).json()["cautions"] == [
        "overdue_inspection"]


def test_a_cylinder_due_today_may_go_out_and_one_that_failed_its_inspection_may_not():
    today = date(2026, 5, 1)
    facts = {"state": "at_shop", "next_inspection_due": today, "life_ends_on": today}
    assert cautions(facts, today) == []
    assert cautions({**facts, "next_inspection_due": date(2026, 4, 30)}, today) == [Caution.OVERDUE_INSPECTION]
    assert cautions(facts, today, inspection_failed=True) == [Caution.OVERDUE_INSPECTION]
    assert cautions({"state": "scrapped", "next_inspection_due": date(2020, 1, 1), "life_ends_on": None}, today) == [
        Caution.SCRAPPED, Caution.OVERDUE_INSPECTION]
    assert cautions({"state": "at_shop", "next_inspection_due": None, "life_ends_on": None}, today) == []
