"""Supply trips: full cylinders from a station to its shops, empties back.

A trip is one vehicle with its driver and escort. At the station the operator
dispatches each cylinder to the transporter and the driver confirms (receive);
at each shop the driver dispatches to the shop and the clerk confirms; the shop
returns its empties to the driver, who confirms; back at the station the driver
returns the empties and the operator confirms. Trips leave at 07:30 and 13:00;
a crew drives at most two a day.
"""

from __future__ import annotations

import math
from datetime import timedelta

from ledger.domain import EventKind

from .config import MODELS
from .fleet import Cylinder
from .life import Simulation, Trip
from .places import km_between, truck_time

__all__ = ["supply_trips"]


def supply_trips(sim: Simulation, station) -> None:
    """Plan the day's trips from ``station`` and drive them."""
    visits = []
    stale = sim.at(0) - timedelta(days=3)
    for shop in station.shops:
        need = {model: max(0, shop.target.get(model, 0) + shop.waiting.get(model, 0) - len(shop.full.get(model, [])))
                for model in shop.demand}
        if sum(need.values()) or len(shop.empty) >= 12 or any(at < stale for _, at in shop.empty):
            visits.append((shop, need))
    visits.sort(key=lambda v: math.atan2(v[0].point.lat - station.point.lat, v[0].point.lon - station.point.lon))
    for transporter in station.transporters:
        crews = sim.crews(transporter)
        mine = [v for v in visits if v[0].transporter is transporter]
        if not crews or not mine:
            continue
        for n, route in enumerate(_split(mine, sim.config.truck_slots)[: 2 * len(crews)]):
            depart = sim.at(7.5 if n < len(crews) else 13.0, 25)
            crew = crews[(n + sim.day) % len(crews)]  # shifts rotate, so every vehicle works
            _drive(sim, station, Trip(transporter, crew, crew.escort.id), route, depart)


def _split(visits: list, slots: int) -> list[list]:
    """Consecutive shops (by bearing) grouped into truckloads."""
    routes, current, used = [], [], 0
    for shop, need in visits:
        load = sum(MODELS[model].slots * n for model, n in need.items())
        if current and used + load > slots:
            routes.append(current)
            current, used = [], 0
        current.append((shop, need))
        used += min(load, slots)
    if current:
        routes.append(current)
    return routes


def _take(station, model: str, count: int, ready_by) -> list[Cylinder]:
    shelf = station.full.get(model, [])
    take = 0
    while take < len(shelf) and take < count and shelf[take][1] <= ready_by:
        take += 1
    picked = [cylinder for cylinder, _ in shelf[:take]]
    del shelf[:take]
    return picked


def _drive(sim: Simulation, station, trip: Trip, route: list, depart) -> None:
    day, plants, transporter = sim.day, sim.plants, trip.transporter
    driver = trip.crew.driver.id
    planted_trip = None
    if plants.due("missing_escort", day):
        trip.escort, planted_trip = None, "missing_escort"
    elif transporter.lapsed.certificate_until < sim.today and plants.due("certificate_expired", day):
        trip.escort, planted_trip = transporter.lapsed.id, "certificate_expired"
    data = trip.data()
    start = depart - timedelta(minutes=35)  # loading begins
    ready_by = start - timedelta(minutes=5)  # only what was filled before can be loaded
    loads = [(shop, [c for model, n in need.items() if n for c in _take(station, model, n, ready_by)])
             for shop, need in route]
    black = sim.city.black_point
    ready = [c for c, at in station.full.get("YSP-15", [])[:5] if at <= ready_by]
    if len(ready) >= 2 and plants.due("unlicensed_party", day):
        loads.append((black, _take(station, "YSP-15", sim.rng.randint(2, len(ready)), ready_by)))
    keys: dict[Cylinder, list[str]] = {}
    operator = station.operators[0]
    for i, cylinder in enumerate(c for _, load in loads for c in load):
        at = start + timedelta(seconds=8 * i)
        sent = sim.scan(station, station.id, False, EventKind.DISPATCH, cylinder, at, person=operator,
                        to=transporter.id, data=data)
        got = sim.scan(transporter, driver, True, EventKind.RECEIVE, cylinder, at + sim.seconds(60, 150),
                       person=driver, point=station.point)
        keys[cylinder] = [sent]
        if sim.plants.pending.get("vanished") and cylinder.registered and plants.due("vanished", day):
            cylinder.withdrawn = True  # off the truck between station and shop, never seen again
            plants.plant("vanished", cylinder, [sent, got], "left the station on a truck and never arrived", day)
    clock, here, empties = depart, station.point, []
    for shop, load in loads:
        if not load and not shop.empty:
            continue
        clock += truck_time(here, shop.point)
        here = shop.point
        at = clock
        for i, cylinder in enumerate(c for c in load if not c.withdrawn):
            at = clock + timedelta(seconds=6 * i)
            sent = sim.scan(transporter, driver, True, EventKind.DISPATCH, cylinder, at, person=driver,
                            to=shop.id, point=shop.point, data=data)
            keys[cylinder].append(sent)
            if shop.licensed and cylinder.registered and plants.due("handover_unconfirmed", day):
                cylinder.withdrawn = True  # the clerk shelved it unscanned, and it went missing
                plants.plant("handover_unconfirmed", cylinder, [sent], f"dispatched to {shop.name}, never received", day)
                continue
            got = sim.scan(shop, shop.id, False, EventKind.RECEIVE, cylinder, at + sim.seconds(60, 180),
                           person=shop.clerk)
            shop.full.setdefault(cylinder.model.name, []).append(cylinder)
            if shop is black:
                plants.plant("unlicensed_party", cylinder, [sent, got], f"supplied to {shop.name}, licence lapsed", day)
        clock = at + timedelta(minutes=5)
        empties += _collect_empties(sim, station, shop, trip, data, clock, keys, empties)
        clock += timedelta(minutes=8)
    if empties:
        _unload_empties(sim, station, trip, data, clock + truck_time(here, station.point), empties, keys)
    if planted_trip is not None:
        note = "no escort on board" if planted_trip == "missing_escort" else "escort's certificate had expired"
        for cylinder, trip_keys in keys.items():
            # every leg of the trip names its crew, the station's dispatch too, so a cylinder lost on the way carries it
            if cylinder.registered:
                plants.plant(planted_trip, cylinder, trip_keys, f"{note} ({trip.crew.vehicle})", day)


def _collect_empties(sim: Simulation, station, shop, trip: Trip, data: dict, clock, keys, aboard: list) -> list:
    room = sim.config.truck_slots - sum(c.model.slots for c in aboard)
    picked, kept = [], []
    for cylinder, collected in shop.empty:
        # every empty goes, another company's too: left on a shop's shelf it would vanish
        if collected < clock - timedelta(minutes=5) and room >= cylinder.model.slots:
            picked.append(cylinder)
            room -= cylinder.model.slots
        else:
            kept.append((cylinder, collected))
    shop.empty = kept
    driver = trip.crew.driver.id
    for i, cylinder in enumerate(picked):
        at = clock + timedelta(seconds=6 * i)
        sent = sim.scan(shop, shop.id, False, EventKind.RETURN, cylinder, at, person=shop.clerk,
                        to=trip.transporter.id, data=data)
        sim.scan(trip.transporter, driver, True, EventKind.RECEIVE, cylinder, at + sim.seconds(40, 120),
                 person=driver, point=shop.point)
        keys[cylinder] = [sent]
    return picked


def _unload_empties(sim: Simulation, station, trip: Trip, data: dict, clock, empties: list, keys) -> None:
    driver = trip.crew.driver.id
    divert = None
    others = [s for s in sim.city.stations if s.company is not station.company]
    if others and sim.plants.pending.get("filled_by_non_owner"):
        soon = sim.today + timedelta(days=45)  # its only finding must be the foreign fill
        candidates = [c for c in empties if c.registered and not c.plants
                      and c.next_inspection_due > soon and c.life_ends > soon]
        if candidates and sim.plants.due("filled_by_non_owner", sim.day):
            divert = candidates[0]
    at = clock
    for i, cylinder in enumerate(c for c in empties if c is not divert):
        at = clock + timedelta(seconds=6 * i)
        sent = sim.scan(trip.transporter, driver, True, EventKind.RETURN, cylinder, at, person=driver,
                        to=station.id, point=station.point, data=data)
        sim.scan(station, station.id, False, EventKind.RECEIVE, cylinder, at + sim.seconds(60, 150),
                 person=station.operators[0])
        keys[cylinder].append(sent)
        cylinder.full = False
        station.empty.append(cylinder)
    if divert is not None:  # dropped at another company's station on the way back
        other = min(others, key=lambda s: km_between(s.point, station.point))
        at += truck_time(station.point, other.point)
        sent = sim.scan(trip.transporter, driver, True, EventKind.RETURN, divert, at, person=driver,
                        to=other.id, point=other.point, data=data)
        sim.scan(other, other.id, False, EventKind.RECEIVE, divert, at + sim.seconds(60, 150),
                 person=other.operators[0])
        keys[divert].append(sent)
        divert.full = False
        divert.plants.add("filled_by_non_owner")
        other.empty.append(divert)
