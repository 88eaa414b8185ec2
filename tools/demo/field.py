"""The regulator in the field: spot checks at shops, and codes nobody ever registered.

Grid inspectors visit shops at opening time and scan a few cylinders on the
shelf; each scan is a ``report`` (an observation, no change of custody). A
"black cylinder" (黑气瓶) carries a code the platform never issued: it turns up
at a station's pre-fill check or in an inspector's scan, and the ledger refuses
the event, which is itself the finding.
"""

from __future__ import annotations

from datetime import timedelta

from ledger import tracecode
from ledger.domain import EventKind

from .life import Simulation

__all__ = ["spot_checks", "black_cylinders"]


def spot_checks(sim: Simulation) -> None:
    """Before deliveries start: a few shops get a visit, and two cylinders each a look."""
    shops = sim.city.shops
    inspectors = sim.city.regulator_inspectors
    regulator = sim.city.regulator
    for n in range(max(1, len(shops) // 8)):
        shop = sim.rng.choice(shops)
        inspector = inspectors[n % len(inspectors)]
        at = sim.at(7.75, 35)
        shelf = [c for model in sorted(shop.full) for c in shop.full[model] if c.registered]
        for cylinder in sim.rng.sample(shelf, min(2, len(shelf))):
            sim.scan(regulator, inspector, True, EventKind.REPORT, cylinder, at, person=inspector,
                     point=shop.point, data={"note": "spot check: label readable, inspection in date"})
            at += sim.seconds(60, 240)


def _fake_code(sim: Simulation) -> str:
    body = "".join(sim.rng.choice(tracecode.ALPHABET) for _ in range(tracecode.BODY_LENGTH))
    return body + tracecode.check_character(body)


def black_cylinders(sim: Simulation) -> None:
    """Scans of well-formed codes that were never registered."""
    while sim.plants.due("unregistered_code", sim.day):
        code = _fake_code(sim)
        count = sum(1 for p in sim.plants.truth if p.kind == "unregistered_code")
        if count % 2 == 0:
            station = sim.rng.choice(sim.city.stations)
            at = sim.at(6.0, 90)
            key = sim.scan(station, station.id, False, EventKind.FILL, code, at, person=station.operators[0],
                           data={"net_kg": 14.5})
            note = f"offered for filling at {station.name}"
        else:
            shop = sim.rng.choice(sim.city.shops)
            inspector = sim.rng.choice(sim.city.regulator_inspectors)
            at = sim.at(7.9, 30) + timedelta(minutes=5)
            key = sim.scan(sim.city.regulator, inspector, True, EventKind.REPORT, code, at, person=inspector,
                           point=shop.point, data={"note": "cylinder with an unknown code on the shelf"})
            note = f"found on the shelf of {shop.name}"
        sim.plants.plant("unregistered_code", code, [key], note, sim.day)
