"""The simulation's state and its day: what every party does, in the order of a working day.

A day in the city (China Standard Time): stations register and fill what came
back (from 05:30); delivery workers exchange users' empties for full cylinders
(08:30-20:30); trucks carry full cylinders to the shops and empties back (from
07:30 and 13:00); a shuttle takes cylinders due for inspection or scrapping to
an inspection station (14:30); grid inspectors spot-check shops. Every scan
goes to its device's outbox (``tools.demo.sync``).
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from ledger.domain import EventKind

from .anomalies import Plants
from .city import City, Crew, InspectionStation, Site, Station, Transporter, User
from .config import LOCAL, MODELS, CityConfig
from .fleet import Cylinder, make_cylinder
from .places import Point
from .sync import Outbox

__all__ = ["Simulation", "Trip", "Visit"]


@dataclass(slots=True)
class Trip:
    """A hazardous-goods trip: the facts every dispatch and return of it carries."""

    transporter: Transporter
    crew: Crew
    escort: str | None  # None: the trip left without an escort

    def data(self) -> dict[str, str]:
        facts = {"vehicle": self.crew.vehicle, "driver": self.crew.driver.id}
        if self.escort is not None:
            facts["escort"] = self.escort
        return facts


@dataclass(slots=True)
class Visit:
    """A cylinder at the inspection station: why it came and when it is worked on."""

    cylinder: Cylinder
    station: Station
    site: InspectionStation
    reason: str  # inspect | scrap
    ready: int  # the day the inspector gets to it
    passed: bool = False
    mistaken: bool = False  # scrapped, yet sent back with the passed ones


class Simulation:
    """Everything the day steps share: the city, the fleet, the outbox, the planted anomalies."""

    def __init__(self, config: CityConfig, rng: random.Random, outbox: Outbox, city: City, start: date) -> None:
        self.config, self.rng, self.outbox, self.city, self.start = config, rng, outbox, city, start
        self.day = 0
        self.today = start
        self.midnight = datetime.combine(start, time(), tzinfo=LOCAL)
        self.fleet: list[Cylinder] = []
        self.calendar: dict[int, list[tuple[User, Cylinder]]] = {}
        self.workshop: list[Visit] = []
        self.plants = Plants(0, rng, config.days, 0, 0)
        self.doorstep = None  # a Doorstep gives deliveries their safety checks (tools/demo/doorstep.py)

    # -- time ------------------------------------------------------------------

    def begin(self, day: int, midnight: datetime) -> None:
        self.day, self.midnight = day, midnight
        self.today = midnight.date()

    def at(self, hours: float, jitter_minutes: float = 0) -> datetime:
        """A local time of the current day, optionally jittered forward by up to ``jitter_minutes``."""
        minutes = hours * 60 + (self.rng.uniform(0, jitter_minutes) if jitter_minutes else 0)
        return self.midnight + timedelta(seconds=round(minutes * 60))

    def seconds(self, low: int, high: int) -> timedelta:
        return timedelta(seconds=self.rng.randint(low, high))

    # -- scans -----------------------------------------------------------------

    def scan(self, site: Site, device: str, mobile: bool, kind: EventKind, cylinder: object, at: datetime,
             *, person: str | None = None, to: str | None = None, point: Point | None = None,
             data: dict | None = None) -> str | None:
        return self.outbox.scan(device, site.actor, mobile, kind, cylinder, at, person=person, to=to,
                                point=point or site.point, data=data)

    def crews(self, transporter: Transporter) -> list[Crew]:
        """Crews whose driver and escort both hold a certificate valid today."""
        return [c for c in transporter.crews
                if c.driver.certificate_until >= self.today and c.escort.certificate_until >= self.today]

    # -- the fleet on the first day ----------------------------------------------

    def stock_city(self) -> None:
        """Place the physical fleet: in users' homes, on shop shelves, at the stations."""
        rng = self.rng
        for user in self.city.users:
            spec = MODELS[user.model]
            count = 1
            if user.kind == "restaurant":
                count = rng.randint(2, 3) if user.model == "YSP-50" else rng.randint(2, 4)
            mean = spec.restaurant_days if user.kind == "restaurant" else spec.household_days
            for _ in range(count):
                cylinder = self._new(user.shop.company, user.model)
                user.in_use.append(cylinder)
                self._book(user, cylinder, rng.randint(0, max(1, round(mean * rng.uniform(0.7, 1.3)))))
        for shop in [*self.city.shops, self.city.black_point]:
            demand: dict[str, float] = {}
            for user in shop.users:
                spec = MODELS[user.model]
                mean = spec.restaurant_days if user.kind == "restaurant" else spec.household_days
                demand[user.model] = demand.get(user.model, 0.0) + len(user.in_use) / mean
            shop.demand = demand
            if shop.licensed:  # stock what sells; a rare model is ordered when a user calls
                shop.target = {m: math.ceil(2.5 * rate) + 1 if rate >= 0.4 else 0 for m, rate in demand.items()}
            for model, target in shop.target.items():
                shop.full[model] = [self._new(shop.company, model, full=True) for _ in range(target)]
            for model, rate in demand.items():
                for _ in range(math.ceil(rate)):
                    shop.empty.append((self._new(shop.company, model), self.midnight - timedelta(hours=20)))
        for station in self.city.stations:
            for shop in station.shops:
                for model, rate in shop.demand.items():
                    station.empty.extend(self._new(station.company, model) for _ in range(math.ceil(3 * rate) + 1))

    def _new(self, owner, model: str, full: bool = False) -> Cylinder:
        cylinder = make_cylinder(self.rng, len(self.fleet), owner, model, self.start, self.config)
        cylinder.full = full
        self.fleet.append(cylinder)
        return cylinder

    def _book(self, user: User, cylinder: Cylinder, in_days: int) -> None:
        self.calendar.setdefault(self.day + in_days, []).append((user, cylinder))

    def book_next(self, user: User, cylinder: Cylinder) -> None:
        """When the cylinder just delivered to ``user`` will run out."""
        spec = MODELS[user.model]
        mean = spec.restaurant_days if user.kind == "restaurant" else spec.household_days
        self._book(user, cylinder, max(1, round(self.rng.lognormvariate(math.log(mean), 0.25))))
