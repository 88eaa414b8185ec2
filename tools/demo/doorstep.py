"""The doorstep: each delivery's home safety check (入户安检), and citizens' reports.

Every delivery carries a safety check of the city's checklist; nearly every item is ``ok``.
When anomalies are planted, a few installations fail a minor item (an old hose, no gas
alarm): ``unsafe_installation``. Those users do not mend them, so their next checks fail
again, except one restaurant whose next delivery finds everything ``ok``: the re-check
resolves its finding. Near the end of the window one worker delivers although the check
smelt a leak: ``delivered_despite_hazard``. After the last day two citizens report: a
damaged cylinder by its code, and a suspected illegal refilling point (黑气点) without one.

The doorstep draws from its own ``random.Random``, so the rest of the city is the same
city with or without it. ``shown`` names one of each for the demo's "where to look".
"""

from __future__ import annotations

import random
from datetime import datetime, timedelta
from typing import Any

from ledger.service import Ledger

__all__ = ["Doorstep", "citizens_report"]

# Items a household commonly fails without an immediate danger (ledger/safety.py DEFAULT_ITEMS).
_MINOR = ("hose_age", "gas_alarm", "flame_failure_device", "hose_routing")
_LEAK = "gas_leak"
_UNMENDED = 3  # installations that fail and stay failing


class Doorstep:
    """Decides each delivery's safety check; remembers one delivery of each story to show."""

    def __init__(self, seed: int, codes: list[str], days: int, planted: bool) -> None:
        self.rng = random.Random(f"doorstep {seed}")
        self.codes = list(codes)
        self.days = days
        self.minor = [code for code in _MINOR if code in self.codes]
        self.unmended = _UNMENDED if planted and self.minor else 0
        self.mend = planted and bool(self.minor)  # one restaurant that mends its installation
        self.leak = planted and _LEAK in self.codes
        self.failing: dict[str, list[str]] = {}
        self.mender: str | None = None
        self.shown: dict[str, str] = {}  # story -> trace code
        self.end_user: str | None = None  # the ref of a user whose installation stays unsafe

    def check(self, user, cylinder: str | None, day: int) -> dict[str, Any]:
        """The safety check of a delivery to ``user`` of ``cylinder`` (its code, if labelled) on ``day``."""
        items = dict.fromkeys(self.codes, "ok")
        failing = self.failing.get(user.ref)
        if failing is not None:
            if user.ref == self.mender:  # mended since: every item ok resolves the finding
                del self.failing[user.ref]
                self._show("rechecked", cylinder)
            else:
                items.update(dict.fromkeys(failing, "fail"))
            return {"items": items}
        if cylinder is None or day < 2:
            return {"items": items}
        if self.mend and user.kind == "restaurant":
            self.mend, self.mender = False, user.ref
            self._fail(user, items, [self.rng.choice(self.minor)])
            self._show("unsafe_installation_mended", cylinder)
        elif self.unmended and user.kind == "household" and self.rng.random() < 0.04:
            self.unmended -= 1
            self._fail(user, items, self.rng.sample(self.minor, self.rng.choice((1, 1, 2))))
            self._show("unsafe_installation", cylinder)
            self.end_user = self.end_user or user.ref
        elif self.leak and day >= self.days - 4 and user.kind == "household" and self.rng.random() < 0.2:
            self.leak = False
            items[_LEAK] = "fail"  # the leak is critical: the cylinder should not have been left
            self._show("delivered_despite_hazard", cylinder)
        return {"items": items}

    def _fail(self, user, items: dict[str, str], codes: list[str]) -> None:
        self.failing[user.ref] = codes
        items.update(dict.fromkeys(codes, "fail"))

    def _show(self, story: str, cylinder: str | None) -> None:
        if cylinder is not None:
            self.shown.setdefault(story, cylinder)


def citizens_report(ledger: Ledger, cylinder: str | None, now: datetime) -> dict[str, str]:
    """Two reports through the public path, sent in the last hours of the window: one names
    ``cylinder``, one a refilling point; returns their tracking codes by story."""
    sent: dict[str, str] = {}
    with ledger.db.writing() as connection:
        if cylinder is not None:
            sent["citizen_report"] = ledger.submit_report(
                connection, category="damaged_cylinder", cylinder=cylinder, address="198.51.100.23",
                text="楼下餐馆门口的气瓶底部锈得很厉害，阀门附近有嘶嘶声。", now=now - timedelta(hours=5))
        sent["citizen_report_black_point"] = ledger.submit_report(
            connection, category="illegal_refilling", address="198.51.100.41",
            text="城中村菜场后面的铁皮棚每天晚上有人用大瓶往小瓶里倒气，没有招牌。", now=now - timedelta(hours=3))
    return sent
