"""The cylinders of the demo city: their stamps, ages and inspection dates.

The physical fleet exists before the platform knows it: a cylinder is
registered (建档) the first time it passes through a filling station, which is
how a city rolls out one-code tracing. Until then it moves without events.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from ledger.service import Registration

from .config import MODELS, CityConfig, ModelSpec
from .places import MANUFACTURERS

__all__ = ["Cylinder", "add_years", "make_cylinder"]


def add_years(day: date, years: int) -> date:
    try:
        return day.replace(year=day.year + years)
    except ValueError:  # 29 February
        return day.replace(year=day.year + years, day=28)


@dataclass(eq=False, slots=True)
class Cylinder:
    """One physical cylinder and what the simulation knows about it."""

    number: int  # position in the fleet; stable across runs of one seed
    owner: object = field(repr=False)  # the owning ``Company``
    model: ModelSpec
    serial: str
    manufacturer: str
    manufactured_on: date
    design_life_years: int
    tare_kg: float
    last_inspected_on: date
    next_inspection_due: date
    code: str | None = None  # the trace code, once the ledger issued it
    registered: bool = False
    fill_kg: float | None = None
    full: bool = False
    scrapped: bool = False
    withdrawn: bool = False  # lost, stolen or set aside: takes no further part
    scans: int = 0  # events written about it (registration included)
    plants: set[str] = field(default_factory=set)

    @property
    def life_ends(self) -> date:
        return add_years(self.manufactured_on, self.design_life_years)

    @property
    def active(self) -> bool:
        return not (self.scrapped or self.withdrawn)

    def registration(self, owner_id: str, at: datetime, key: str) -> Registration:
        return Registration(
            owner=owner_id, serial=self.serial, manufacturer=self.manufacturer,
            manufactured_on=self.manufactured_on, model=self.model.name, tare_kg=self.tare_kg,
            design_life_years=self.design_life_years, last_inspected_on=self.last_inspected_on,
            next_inspection_due=self.next_inspection_due, occurred_at=at, idempotency_key=key,
        )

    def make_overdue(self, rng: random.Random, today: date, config: CityConfig) -> None:
        """Turn this cylinder into one whose periodic inspection lapsed (still within design life)."""
        # It missed its first inspection, due four years after manufacture.
        self.next_inspection_due = today - timedelta(days=rng.randint(10, 200))
        self.last_inspected_on = add_years(self.next_inspection_due, -config.inspection_interval_years)
        self.manufactured_on = self.last_inspected_on

    def make_past_life(self, rng: random.Random, today: date) -> None:
        """Turn this cylinder into one past its design life whose last inspection is still in date."""
        self.manufactured_on = add_years(today, -self.design_life_years) - timedelta(days=rng.randint(15, 300))
        self.last_inspected_on = today - timedelta(days=rng.randint(60, 500))
        self.next_inspection_due = add_years(self.last_inspected_on, 4)


def make_cylinder(
    rng: random.Random, number: int, owner: object, model: str, start: date, config: CityConfig
) -> Cylinder:
    """A cylinder as found in the city on the first day, with plausible stamps and dates."""
    spec = MODELS[model]
    life = config.design_life_years
    interval = config.inspection_interval_years
    draw = rng.random()
    if draw < 0.03:  # extended once after the 8-year inspection, forced scrap at 12 (GB 5842-2006)
        life = life + 4
        manufactured = start - timedelta(days=rng.randint(8 * 365 + 10, 12 * 365 - 20))
        last = add_years(manufactured, 8) + timedelta(days=rng.randint(0, 30))
        due = min(add_years(last, interval), add_years(manufactured, life))
    elif draw < 0.034:  # missed its 4-year inspection: a few are overdue when first scanned
        manufactured = add_years(start, -interval) - timedelta(days=rng.randint(5, 120))
        last, due = manufactured, add_years(manufactured, interval)
    else:
        manufactured = start - timedelta(days=rng.randint(20, life * 365 - 5))
        if manufactured > add_years(start, -interval):
            last = manufactured
        else:
            last = add_years(manufactured, interval)
            last += timedelta(days=rng.randint(0, min(40, (start - last).days)))
        due = min(add_years(last, interval), add_years(manufactured, life))
    maker = rng.randrange(len(MANUFACTURERS))
    serial = f"{manufactured.year % 100:02d}{maker}{spec.name[4:]}-{number:07d}"
    return Cylinder(
        number=number, owner=owner, model=spec, serial=serial, manufacturer=MANUFACTURERS[maker],
        manufactured_on=manufactured, design_life_years=life,
        tare_kg=round(rng.uniform(*spec.tare_kg), 1), last_inspected_on=last, next_inspection_due=due,
    )
