"""Filling stations and inspection stations: registration, the pre-fill check, filling,
periodic inspection and scrapping.

The pre-fill check (GB/T 38059) keeps the filling gun shut for a cylinder that
is due for inspection or within weeks of the end of its design life (it rides
the afternoon shuttle to an inspection station instead) and for another
company's cylinder (set aside). Planted anomalies open the gun anyway.
"""

from __future__ import annotations

from datetime import timedelta

from ledger.domain import EventKind

from .fleet import Cylinder, add_years
from .life import Simulation, Trip, Visit
from .places import km_between, truck_time

__all__ = ["fill_shift", "inspection_shuttle", "inspection_bench", "inspection_returns"]

_SCRAP_MARGIN = timedelta(days=45)  # it would pass its design life before coming back
_INSPECT_MARGIN = timedelta(days=30)  # due before the next cycle ends


def _fill_weight(sim: Simulation, cylinder: Cylinder) -> float:
    spec = cylinder.model
    spread = spec.tolerance_kg * 0.6
    return round(spec.allowed_kg + max(-spread, min(spread, sim.rng.gauss(0, spec.tolerance_kg / 4))), 2)


def _plant_at_registration(sim: Simulation, cylinder: Cylinder, station) -> None:
    """Decide, as a cylinder is first scanned, whether it is one that will be filled illegally."""
    if cylinder.owner is not station.company or cylinder.plants:
        return
    if cylinder.life_ends <= sim.today + _SCRAP_MARGIN or cylinder.next_inspection_due <= sim.today + _INSPECT_MARGIN:
        return
    if sim.plants.due("filled_overdue_inspection", sim.day):
        cylinder.make_overdue(sim.rng, sim.today, sim.config)
        cylinder.plants.add("filled_overdue_inspection")
    elif sim.plants.due("filled_past_design_life", sim.day):
        cylinder.make_past_life(sim.rng, sim.today)
        cylinder.plants.add("filled_past_design_life")


def fill_shift(sim: Simulation, station) -> None:
    """Morning at a station: label newcomers, check each empty, fill or set aside for inspection."""
    lines = max(2, len(station.operators))
    start = sim.at(5.5, 20)
    empties, station.empty = [c for c in station.empty if c.active], []
    newcomers = [c for c in empties if not c.registered and c.owner is station.company]
    if newcomers:  # label them first: one registration request for the morning's newcomers
        for cylinder in newcomers:
            _plant_at_registration(sim, cylinder, station)
        labelled = [(c, start + timedelta(seconds=6 * (n // lines))) for n, c in enumerate(newcomers)]
        start = sim.outbox.register(station.company.actor, labelled) + sim.seconds(30, 90)
    closing = sim.at(20.5)
    for n, cylinder in enumerate(empties):
        operator = station.operators[n % len(station.operators)]
        at = start + timedelta(seconds=50 * (n // lines) + sim.rng.randint(0, 20))
        if at > closing:  # the lines stop for the night; the rest wait for tomorrow
            station.empty.append(cylinder)
            continue
        planted = cylinder.plants & {"filled_overdue_inspection", "filled_past_design_life", "filled_by_non_owner"}
        if cylinder.owner is not station.company and not planted:
            station.aside.append(cylinder)  # another company's: set aside, at rest, for its owner
            continue
        reason = None
        if cylinder.life_ends <= sim.today + _SCRAP_MARGIN:
            reason = "scrap"
        elif cylinder.next_inspection_due <= sim.today + _INSPECT_MARGIN:
            reason = "inspect"
        if reason is not None and not planted:
            station.outbound.append((cylinder, reason, at))
            continue
        _fill(sim, station, cylinder, operator, at, planted)


def _fill(sim: Simulation, station, cylinder: Cylinder, operator: str, at, planted: set[str]) -> str | None:
    net = _fill_weight(sim, cylinder)
    overfill = not planted and sim.plants.due("overfill", sim.day)
    if overfill:
        net = round(cylinder.model.allowed_kg + cylinder.model.tolerance_kg + sim.rng.uniform(0.4, 1.6), 2)
    key = sim.scan(station, station.id, False, EventKind.FILL, cylinder, at, person=operator, data={"net_kg": net})
    cylinder.fill_kg, cylinder.full = net, True
    station.full.setdefault(cylinder.model.name, []).append((cylinder, at))
    if overfill:
        sim.plants.plant("overfill", cylinder, [key], f"filled {net} kg into a {cylinder.model.name}", sim.day)
    for kind in sorted(planted):
        note = {"filled_overdue_inspection": f"inspection was due {cylinder.next_inspection_due}",
                "filled_past_design_life": f"design life ended {cylinder.life_ends}",
                "filled_by_non_owner": f"owned by {cylinder.owner.name}, filled by {station.name}"}[kind]
        sim.plants.plant(kind, cylinder, [key], note, sim.day)
        cylinder.plants.discard(kind)
    return key


def inspection_shuttle(sim: Simulation, station) -> None:
    """Afternoon: cylinders due for inspection or scrapping ride to the nearest inspection station."""
    transporter = station.transporters[0]
    crews = sim.crews(transporter)
    depart = sim.at(14.5, 20)
    loading = depart - timedelta(minutes=15)
    outbound = [(c, reason) for c, reason, checked in station.outbound if checked < loading - timedelta(minutes=5)]
    if not outbound or not crews:
        return
    station.outbound = [item for item in station.outbound if item[2] >= loading - timedelta(minutes=5)]
    site = min(sim.city.inspection_stations, key=lambda s: km_between(s.point, station.point))
    crew = crews[(sim.day + 1) % len(crews)]
    trip = Trip(transporter, crew, crew.escort.id)
    arrive = depart + truck_time(station.point, site.point)
    for n, (cylinder, reason) in enumerate(outbound):
        at = loading + timedelta(seconds=8 * n)
        sim.scan(station, station.id, False, EventKind.DISPATCH, cylinder, at, person=station.operators[0],
                 to=site.id, data=trip.data())
        sim.scan(site, site.id, False, EventKind.RECEIVE, cylinder, arrive + timedelta(seconds=8 * n),
                 person=site.inspectors[0])
        sim.workshop.append(Visit(cylinder, station, site, reason, sim.day + sim.rng.randint(1, 2)))


def inspection_bench(sim: Simulation) -> None:
    """The inspectors' day: inspect (GB/T 8334) or scrap what is ready; passed ones wait to go back."""
    counter: dict[str, int] = {}
    for visit in sim.workshop:
        if visit.ready != sim.day or visit.passed:
            continue
        site, cylinder = visit.site, visit.cylinder
        n = counter[site.id] = counter.get(site.id, 0) + 1
        at = sim.at(9.0) + timedelta(minutes=6 * n)
        inspector = site.inspectors[n % len(site.inspectors)]
        mistaken = sim.plants.due("event_after_scrap", sim.day)  # this one will be sent back all the same
        if visit.reason == "inspect":
            passed = sim.rng.random() < 0.96 and not mistaken
            due = min(add_years(sim.today, sim.config.inspection_interval_years), cylinder.life_ends)
            data = {"result": "pass", "next_inspection_due": due.isoformat()} if passed else {"result": "fail"}
            sim.scan(site, site.id, False, EventKind.INSPECT, cylinder, at, person=inspector, data=data)
            if passed:
                cylinder.last_inspected_on, cylinder.next_inspection_due = sim.today, due
                visit.passed, visit.ready = True, sim.day + 1
                continue
            at += timedelta(minutes=3)
        reason = "design service life reached" if visit.reason == "scrap" else "failed periodic inspection"
        sim.scan(site, site.id, False, EventKind.SCRAP, cylinder, at, person=inspector, data={"reason": reason})
        cylinder.scrapped = True
        if mistaken:
            visit.passed, visit.mistaken, visit.ready = True, True, sim.day + 1
    sim.workshop = [v for v in sim.workshop if v.mistaken or not v.cylinder.scrapped]


def inspection_returns(sim: Simulation) -> None:
    """Passed cylinders go back to their station with the next day's shuttle."""
    staying = []
    for n, visit in enumerate(sim.workshop):
        if not (visit.passed and visit.ready == sim.day):
            staying.append(visit)
            continue
        station, site, cylinder = visit.station, visit.site, visit.cylinder
        crews = sim.crews(station.transporters[0])
        if not crews:
            visit.ready += 1
            staying.append(visit)
            continue
        crew = crews[sim.day % len(crews)]
        trip = Trip(station.transporters[0], crew, crew.escort.id)
        at = sim.at(11.0) + timedelta(seconds=10 * n)
        sent = sim.scan(site, site.id, False, EventKind.RETURN, cylinder, at, person=site.inspectors[0],
                        to=station.id, data=trip.data())
        back = at + truck_time(site.point, station.point) + timedelta(minutes=20)
        got = sim.scan(station, station.id, False, EventKind.RECEIVE, cylinder, back, person=station.operators[0])
        if visit.mistaken:  # the station notices the void code at the pre-fill check and sets it aside
            sim.plants.plant("event_after_scrap", cylinder, [sent, got], "scrapped, then sent back to its station", sim.day)
            station.aside.append(cylinder)
        else:
            station.empty.append(cylinder)
    sim.workshop = staying
