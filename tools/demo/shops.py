"""Shops' days: delivery workers exchange users' empties for full cylinders.

A user whose cylinder runs out calls the shop; a delivery worker rides out
with up to six cylinders on an electric tricycle, delivers a full one (real
name, installation check, sometimes a weight at the door) and collects the
empty. Users wait a day when the shop has no full cylinder of their model.
"""

from __future__ import annotations

import math
from ledger.domain import EventKind

from .life import Simulation
from .places import FAR_CITIES, bike_time

__all__ = ["delivery_rounds", "lend_between_shops"]

_LOAD = 6  # YSP-15 equivalents on a tricycle
_CLOSING = 20.5  # no visit starts after 20:30


def delivery_rounds(sim: Simulation, due: list) -> None:
    """Serve today's calls (``[(user, empty cylinder)]``), shop by shop."""
    by_shop: dict[object, list] = {}
    for shop in sim.city.shops:
        shop.waiting = {}
    for user, cylinder in due:
        by_shop.setdefault(user.shop, []).append((user, cylinder))
    for shop, calls in by_shop.items():
        served = []
        for user, old in calls:
            shelf = shop.full.get(user.model)
            if shelf:
                served.append((user, old, shelf.pop(0)))
            else:  # the user waits a day; the shop orders one
                shop.waiting[user.model] = shop.waiting.get(user.model, 0) + 1
                sim.calendar.setdefault(sim.day + 1, []).append((user, old))
        served.sort(key=lambda s: math.atan2(s[0].point.lat - shop.point.lat, s[0].point.lon - shop.point.lon))
        per_worker = math.ceil(len(served) / len(shop.workers)) if served else 0
        for n, worker in enumerate(shop.workers):
            _ride(sim, shop, worker, served[n * per_worker:(n + 1) * per_worker])


def _ride(sim: Simulation, shop, worker: str, visits: list) -> None:
    clock = sim.at(8.5, 30)
    closing = sim.at(_CLOSING)
    start = 0
    while start < len(visits):
        end, load = start, 0
        while end < len(visits) and load + visits[end][2].model.slots <= _LOAD:
            load += visits[end][2].model.slots
            end += 1
        end = max(end, start + 1)
        here, collected = shop.point, []
        for user, old, new in visits[start:end]:
            clock += bike_time(here, user.point)
            here = user.point
            if clock > closing:  # tomorrow: the cylinder goes back on the shelf
                shop.full[new.model.name].insert(0, new)
                sim.calendar.setdefault(sim.day + 1, []).append((user, old))
                continue
            _exchange(sim, shop, worker, user, old, new, clock)
            collected.append(old)
            clock += sim.seconds(6 * 60, 12 * 60)  # installation safety check (入户安检)
        clock += bike_time(here, shop.point)
        shop.empty.extend((old, clock) for old in collected)
        start = end


def _exchange(sim: Simulation, shop, worker: str, user, old, new, at) -> None:
    data = {}
    planted = None
    if new.fill_kg is not None and new.registered and sim.plants.due("short_weight", sim.day):
        data["net_kg"] = round(new.fill_kg - sim.rng.uniform(1.2, 3.5), 2)
        planted = "short_weight"
    elif new.fill_kg is not None and sim.rng.random() < 0.35:  # weighed at the door
        data["net_kg"] = round(new.fill_kg - sim.rng.uniform(0.0, 0.08), 2)
    if sim.doorstep is not None:  # the home safety check (入户安检) goes with the delivery
        data["safety_check"] = sim.doorstep.check(user, new.code if new.registered else None, sim.day)
    delivered = sim.scan(shop, worker, True, EventKind.DELIVER, new, at, person=worker, to=user.ref,
                         point=user.point, data=data)
    if planted:
        sim.plants.plant(planted, new, [delivered], f"filled {new.fill_kg} kg, {data['net_kg']} kg at the door", sim.day)
    user.in_use.remove(old)
    user.in_use.append(new)
    old.full = False
    sim.scan(shop, worker, True, EventKind.COLLECT, old, at + sim.seconds(60, 180), person=worker, point=user.point)
    sim.book_next(user, new)
    if new.registered and sim.plants.pending.get("impossible_movement") and sim.plants.due("impossible_movement", sim.day):
        _cloned_label(sim, new, at)


def _cloned_label(sim: Simulation, cylinder, delivered_at) -> None:
    """The same code scanned far away minutes after a delivery: a cloned label (or a lying device)."""
    regulator = sim.city.regulator
    inspector = sim.rng.choice(sim.city.regulator_inspectors)
    place = sim.rng.choice(FAR_CITIES)
    key = sim.scan(regulator, inspector, True, EventKind.REPORT, cylinder, delivered_at + sim.seconds(8 * 60, 25 * 60),
                   person=inspector, point=place, data={"note": "label scanned at a roadside stall"})
    sim.plants.plant("impossible_movement", cylinder, [key], "scanned far from its last delivery minutes later", sim.day)


def lend_between_shops(sim: Simulation) -> None:
    """Evening: a shop short of stock takes cylinders from a neighbour without any handover."""
    if not sim.plants.pending.get("custody_jump"):
        return
    for lender in sim.city.shops:
        shelf = [c for c in lender.full.get("YSP-15", []) if c.registered]
        borrowers = [s for s in sim.city.shops if s is not lender and s.company is lender.company]
        if len(shelf) < 3 or not borrowers or not sim.plants.due("custody_jump", sim.day):
            continue
        borrower = min(borrowers, key=lambda s: (s.point.lat - lender.point.lat) ** 2 + (s.point.lon - lender.point.lon) ** 2)
        cylinder = shelf[0]
        lender.full["YSP-15"].remove(cylinder)
        at = sim.at(19.5, 40)
        key = sim.scan(borrower, borrower.id, False, EventKind.RECEIVE, cylinder, at, person=borrower.clerk)
        borrower.full.setdefault("YSP-15", []).append(cylinder)
        sim.plants.plant("custody_jump", cylinder, [key], f"taken from {lender.name} by {borrower.name}", sim.day)
