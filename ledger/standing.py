"""Whether a cylinder must not be filled or delivered: one rule for every place that asks.

DOMAIN.md "What each user needs": a driver sees at once that a cylinder must not
be delivered (overdue, scrapped, ...), regulators pull risk lists of overdue
inspection and past scrap date, an inspector's trace page warns. DOMAIN.md "The
life of a cylinder" 2 and 8 give the reasons: a cylinder is stopped when it is
scrapped, or when one of its ``LAPSES`` has passed — its inspection due date (or
its last inspection failed), the last day of its service life. A day passes at
the end of it: a cylinder due today is still in date today.

The driver's answers, the trace page and the risk lists all read this module;
the risk lists turn ``LAPSES`` into SQL over the same facts.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import date
from typing import Any, Mapping

from .domain import CylinderView, State

__all__ = ["Caution", "Lapse", "LAPSES", "lapsed", "cautions"]


class Caution(enum.StrEnum):
    """Why a cylinder must not be filled or delivered."""

    SCRAPPED = "scrapped"
    OVERDUE_INSPECTION = "overdue_inspection"
    PAST_DESIGN_LIFE = "past_design_life"


@dataclass(frozen=True, slots=True)
class Lapse:
    """``caution`` holds once the day in the cylinder's fact ``fact`` (its last good day) has passed."""

    caution: Caution
    fact: str


LAPSES = (
    Lapse(Caution.OVERDUE_INSPECTION, "next_inspection_due"),
    Lapse(Caution.PAST_DESIGN_LIFE, "life_ends_on"),
)


def lapsed(last_good_day: date | None, today: date) -> bool:
    """True once ``today`` is past ``last_good_day`` (None: no such limit is known)."""
    return last_good_day is not None and last_good_day < today


def cautions(facts: Mapping[str, Any] | CylinderView, today: date, *,
             inspection_failed: bool = False) -> list[Caution]:
    """Every reason the cylinder with ``facts`` must not be filled or delivered on ``today``; empty: it may.

    ``facts``: the cylinder as ``Ledger.cylinder`` answers it, or a mapping of the
    facts the rule reads (``state``, ``next_inspection_due``, ``life_ends_on``);
    ``inspection_failed`` when its last inspection failed. Reasons come scrapped
    first, then in ``LAPSES`` order.
    """
    if isinstance(facts, CylinderView):
        facts = {"state": facts.state, **{lapse.fact: getattr(facts, lapse.fact) for lapse in LAPSES}}
    found = [Caution.SCRAPPED] if facts.get("state") == State.SCRAPPED.value else []
    for lapse in LAPSES:
        failed = inspection_failed and lapse.caution is Caution.OVERDUE_INSPECTION
        if failed or lapsed(facts.get(lapse.fact), today):
            found.append(lapse.caution)
    return found
