"""The parties of the demo city, created through the ledger's registry.

Gas companies own the cylinders and run filling stations; transporters run
crews (a vehicle, a driver and an escort, each person with a certificate);
shops employ a clerk and delivery workers and serve end users; inspection
stations inspect and scrap; one regulator audits. End users' personal data goes
to the ``end_users`` table only; events name a user by an opaque reference.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from ledger.domain import Paper, PartyKind, PersonRole, Role
from ledger.service import Actor, Ledger
from ledger.storage import Connection

from .config import CityConfig
from .places import (
    DISTRICTS, HANGZHOU, District, Point, km_between, near, person_name, phone_number, plate, street_address,
    trade_name,
)

__all__ = ["Site", "Crew", "Company", "Station", "Transporter", "Shop", "User", "InspectionStation", "City", "found_city"]

LOCALE = HANGZHOU  # the names the city is founded with (the province demo founds others)
_EATERIES = ("小吃店", "面馆", "饭店", "菜馆", "快餐店", "大排档")
_BLACK_POINT_USERS = 40  # enough regulars that a drop at the lapsed point sells within days


@dataclass(eq=False, repr=False)
class Site:
    id: str
    name: str
    point: Point
    region: str
    actor: Actor

    def __repr__(self) -> str:  # sites link to each other: the generated repr would print the city
        return f"{type(self).__name__}({self.id}, {self.name!r})"


@dataclass(eq=False)
class Worker:
    id: str
    certificate_until: date


@dataclass(eq=False)
class Crew:
    vehicle: str
    driver: Worker
    escort: Worker


@dataclass(eq=False, repr=False)
class Company(Site):
    stations: list[Station] = field(default_factory=list)


@dataclass(eq=False, repr=False)
class Station(Site):
    company: Company | None = None
    operators: list[str] = field(default_factory=list)
    shops: list[Shop] = field(default_factory=list)
    transporters: list[Transporter] = field(default_factory=list)
    full: dict[str, list] = field(default_factory=dict)  # model -> [(cylinder, ready_at)]
    empty: list = field(default_factory=list)  # cylinders waiting to be filled or inspected
    outbound: list = field(default_factory=list)  # [(cylinder, reason, checked at)] for the inspection shuttle
    aside: list = field(default_factory=list)  # not to be filled here: another company's, or scrapped


@dataclass(eq=False, repr=False)
class Transporter(Site):
    crews: list[Crew] = field(default_factory=list)
    lapsed: Worker | None = None  # an escort whose certificate runs out during the window


@dataclass(eq=False, repr=False)
class Shop(Site):
    company: Company | None = None
    station: Station | None = None
    transporter: Transporter | None = None
    clerk: str = ""
    workers: list[str] = field(default_factory=list)
    users: list[User] = field(default_factory=list)
    full: dict[str, list] = field(default_factory=dict)  # model -> [cylinder]
    empty: list = field(default_factory=list)  # [(cylinder, collected_at)]
    target: dict[str, int] = field(default_factory=dict)  # full cylinders to keep per model
    demand: dict[str, float] = field(default_factory=dict)  # expected exchanges a day per model
    waiting: dict[str, int] = field(default_factory=dict)  # today's calls the shelf could not serve
    licensed: bool = True


@dataclass(eq=False, repr=False)
class User:
    ref: str
    kind: str  # household | restaurant
    point: Point
    shop: Shop
    model: str
    in_use: list = field(default_factory=list)  # [cylinder]; the one that runs out next is first

    def __repr__(self) -> str:
        return f"User({self.ref}, {self.kind})"


@dataclass(eq=False, repr=False)
class InspectionStation(Site):
    inspectors: list[str] = field(default_factory=list)


@dataclass(eq=False, repr=False)
class City:
    companies: list[Company]
    stations: list[Station]
    transporters: list[Transporter]
    shops: list[Shop]
    inspection_stations: list[InspectionStation]
    regulator: Site
    regulator_inspectors: list[str]
    black_point: Shop  # a supply point whose licence lapsed before the window
    users: list[User]

    def sites(self) -> list[Site]:
        return [*self.companies, *self.stations, *self.transporters, *self.shops, self.black_point,
                *self.inspection_stations, self.regulator]


class _Founder:
    """Creates parties and people through ``Ledger``; one instance per city."""

    def __init__(self, ledger: Ledger, connection: Connection, rng: random.Random, start: date, at: datetime) -> None:
        self.ledger, self.c, self.rng, self.start, self.at = ledger, connection, rng, start, at

    def licence(self, prefix: str, until: date | None = None) -> Paper:
        until = until or self.start + timedelta(days=self.rng.randint(240, 1400))
        return Paper(f"{prefix}{self.start.year}-{self.rng.randint(10000, 99999)}", until)

    def party(self, kind: PartyKind, name: str, district: District, role: Role, licence: Paper | None,
              parent: str | None = None, radius: float | None = None):
        party = self.ledger.create_party(self.c, kind=kind, name=name, region=district.region,
                                         licence=licence, parent=parent, now=self.at)
        point = near(self.rng, district.centre, radius if radius is not None else district.radius_km)
        return party.id, point, Actor(role, party.id, name)

    def person(self, party: str, role: PersonRole, until: date | None = None) -> Worker:
        until = until or self.start + timedelta(days=self.rng.randint(200, 1500))
        paper = Paper(f"{role.value[:3].upper()}-{self.rng.randint(100000, 999999)}", until)
        person = self.ledger.create_person(self.c, party=party, name=person_name(self.rng), role=role,
                                           certificate=paper, now=self.at)
        return Worker(person.id, until)


def _district(rng: random.Random) -> District:
    return rng.choices(DISTRICTS, weights=[d.weight for d in DISTRICTS])[0]


def found_city(ledger: Ledger, connection: Connection, rng: random.Random, config: CityConfig, start: date) -> City:
    """Create every party, person and end user of the city; returns the simulation's view of them."""
    at = datetime.combine(start - timedelta(days=30), datetime.min.time(), tzinfo=config.now.tzinfo)
    f = _Founder(ledger, connection, rng, start, at)
    companies = []
    for n in range(config.companies):
        name = (LOCALE.companies[n] if n < len(LOCALE.companies) else f"{LOCALE.city}{trade_name(rng)}燃气有限公司")
        pid, point, actor = f.party(PartyKind.GAS_COMPANY, name, DISTRICTS[n % len(DISTRICTS)], Role.COMPANY,
                                    f.licence("GC"))
        companies.append(Company(pid, name, point, DISTRICTS[n % len(DISTRICTS)].region, actor))
    stations = []
    for n in range(config.stations):
        company = companies[n % len(companies)]
        district = _district(rng)
        name = f"{company.name.removesuffix('有限公司')}{district.name}充装站（{n + 1}号）"
        pid, point, actor = f.party(PartyKind.FILLING_STATION, name, district, Role.COMPANY,
                                    f.licence("TS-FILL-"), parent=company.id)
        station = Station(pid, name, point, district.region, actor, company=company)
        station.operators = [f.person(pid, PersonRole.OPERATOR).id for _ in range(rng.randint(2, 4))]
        company.stations.append(station)
        stations.append(station)
    transporters = [_transporter(f, n) for n in range(config.transporters)]
    for n, station in enumerate(stations):
        station.transporters = [transporters[n % len(transporters)]]
        if len(transporters) > 1 and rng.random() < 0.5:
            station.transporters.append(transporters[(n + 1) % len(transporters)])
    shops = [_shop(f, n, companies, DISTRICTS[n] if n < len(DISTRICTS) else _district(rng)) for n in range(config.shops)]
    for shop in shops:
        shop.station = min(shop.company.stations, key=lambda s: km_between(s.point, shop.point))
        shop.transporter = rng.choice(shop.station.transporters)
        shop.station.shops.append(shop)
    black = _shop(f, len(shops), companies, _district(rng), lapsed=True)
    inspection = []
    for n in range(config.inspection_stations):
        district = _district(rng)
        name = f"{LOCALE.inspection}第{n + 1}检验站"
        pid, point, actor = f.party(PartyKind.INSPECTION_STATION, name, district, Role.INSPECTION, f.licence("INSP-"))
        site = InspectionStation(pid, name, point, district.region, actor)
        site.inspectors = [f.person(pid, PersonRole.INSPECTOR).id for _ in range(2)]
        inspection.append(site)
    centre = DISTRICTS[0]
    authority = f"{LOCALE.city}市市场监督管理局"
    pid, point, actor = f.party(PartyKind.REGULATOR, authority, centre, Role.REGULATOR, None, radius=0.5)
    regulator = Site(pid, authority, point, centre.region, actor)
    grid = [f.person(pid, PersonRole.INSPECTOR).id for _ in range(4)]
    users = _users(f, config, shops, black)
    return City(companies, stations, transporters, shops, inspection, regulator, grid, black, users)


def _transporter(f: _Founder, n: int) -> Transporter:
    district = DISTRICTS[(n * 3) % len(DISTRICTS)]
    name = f"{LOCALE.city}{trade_name(f.rng)}危险货物运输有限公司（{district.name}{n + 1}号）"
    pid, point, actor = f.party(PartyKind.TRANSPORTER, name, district, Role.TRANSPORTER, f.licence("DG-TRANS-"))
    site = Transporter(pid, name, point, district.region, actor)
    # Certificates are renewed well ahead, except one escort's, which lapses mid-window.
    far = f.start + timedelta(days=400)
    for _ in range(f.rng.randint(3, 5)):
        site.crews.append(Crew(plate(f.rng, LOCALE.plate), f.person(pid, PersonRole.DRIVER, far + timedelta(days=f.rng.randint(0, 900))),
                               f.person(pid, PersonRole.ESCORT, far + timedelta(days=f.rng.randint(0, 900)))))
    site.lapsed = f.person(pid, PersonRole.ESCORT, f.start + timedelta(days=f.rng.randint(3, 20)))
    return site


def _shop(f: _Founder, n: int, companies: list[Company], district: District, lapsed: bool = False) -> Shop:
    company = companies[n % len(companies)]
    name = f"{district.name}{trade_name(f.rng)}{'液化气代售点' if lapsed else '液化气供应站'}（{n + 1}号）"
    until = f.start - timedelta(days=f.rng.randint(60, 200)) if lapsed else None
    pid, point, actor = f.party(PartyKind.SHOP, name, district, Role.SHOP, f.licence("GAS-OP-", until))
    shop = Shop(pid, name, point, district.region, actor, company=company, licensed=not lapsed)
    shop.clerk = f.person(pid, PersonRole.OPERATOR).id
    shop.workers = [f.person(pid, PersonRole.DELIVERY_WORKER).id for _ in range(1 if lapsed else f.rng.randint(2, 5))]
    return shop


def _users(f: _Founder, config: CityConfig, shops: list[Shop], black: Shop) -> list[User]:
    by_region: dict[str, list[Shop]] = {}
    for shop in shops:
        by_region.setdefault(shop.region, []).append(shop)
    regions = [d for d in DISTRICTS if d.region in by_region]
    weights = [d.weight for d in regions]
    household_models = list(config.household_models)
    model_weights = list(config.household_models.values())
    users = []
    for n in range(config.users + _BLACK_POINT_USERS):
        if n >= config.users:  # the lapsed point keeps a few regular customers
            shop, kind = black, "household"
        else:
            district = f.rng.choices(regions, weights=weights)[0]
            shop = f.rng.choice(by_region[district.region])
            kind = "restaurant" if n < config.restaurants else "household"
        if kind == "restaurant":
            model = "YSP-50" if f.rng.random() < 0.45 else "YSP-15"
        else:
            model = f.rng.choices(household_models, weights=model_weights)[0]
        district = next(d for d in DISTRICTS if d.region == shop.region)
        name = person_name(f.rng) if kind == "household" else f"{person_name(f.rng)[0]}记{f.rng.choice(_EATERIES)}"
        ref = f.ledger.create_end_user(f.c, shop.actor, kind=kind, name=name, phone=phone_number(f.rng),
                                       address=street_address(f.rng, district, LOCALE.city), now=f.at)
        user = User(ref, kind, near(f.rng, shop.point, 2.5), shop, model)
        shop.users.append(user)
        users.append(user)
    return users
