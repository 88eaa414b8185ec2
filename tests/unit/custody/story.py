"""A small city of parties and a builder of cylinder stories, as the scanners would record them."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, datetime, timedelta, timezone
from typing import Any

from ledger.custody import MemoryRegistry
from ledger.domain import Event, EventKind, Location, Paper, Party, PartyKind, Person, PersonRole

UTC = timezone.utc
VALID = Paper("LIC-OK", date(2030, 12, 31))
LAPSED = Paper("LIC-OLD", date(2025, 12, 31))

CO, CO2 = "co-east", "co-west"
STATION, STATION2 = "st-east", "st-west"
CARRIER, SHOP, SHOP2 = "tr-swift", "shop-lake", "shop-hill"
LAB, REGULATOR = "insp-city", "reg-city"
DRIVER, ESCORT, OLD_DRIVER, WORKER = "drv-wang", "esc-li", "drv-zhou", "wkr-zhao"
OPERATOR, INSPECTOR = "op-chen", "insp-sun"

# Where things are (Hangzhou area and Beijing).
AT_STATION = Location(30.30, 120.10)
AT_SHOP = Location(30.27, 120.16)
IN_BEIJING = Location(39.90, 116.40)

PARTIES = [
    Party(CO, PartyKind.GAS_COMPANY, "East Gas Co.", "330110", VALID),
    Party(CO2, PartyKind.GAS_COMPANY, "West Gas Co.", "330106", VALID),
    Party(STATION, PartyKind.FILLING_STATION, "East Filling Station", "330110", VALID, parent=CO),
    Party(STATION2, PartyKind.FILLING_STATION, "West Filling Station", "330106", VALID, parent=CO2),
    Party(CARRIER, PartyKind.TRANSPORTER, "Swift Hazmat Transport", "330110", VALID),
    Party(SHOP, PartyKind.SHOP, "Lakeside Gas Shop", "330102", VALID),
    Party(SHOP2, PartyKind.SHOP, "Hillside Gas Shop", "330102", LAPSED),
    Party(LAB, PartyKind.INSPECTION_STATION, "City Cylinder Inspection", "330100", VALID),
    Party(REGULATOR, PartyKind.REGULATOR, "City Market Supervision", "330100", None),
]
PEOPLE = [
    Person(DRIVER, CARRIER, "Wang", PersonRole.DRIVER, Paper("DRV-1", date(2029, 1, 1))),
    Person(ESCORT, CARRIER, "Li", PersonRole.ESCORT, Paper("ESC-1", date(2029, 1, 1))),
    Person(OLD_DRIVER, CARRIER, "Zhou", PersonRole.DRIVER, Paper("DRV-2", date(2026, 2, 28))),
    Person(WORKER, SHOP, "Zhao", PersonRole.DELIVERY_WORKER),
    Person(OPERATOR, STATION, "Chen", PersonRole.OPERATOR),
    Person(INSPECTOR, REGULATOR, "Sun", PersonRole.INSPECTOR),
]
REGISTRY = MemoryRegistry(PARTIES, PEOPLE)
CREW = {"vehicle": "ZA-12345", "driver": DRIVER, "escort": ESCORT}
START = datetime(2026, 3, 2, 0, 0, tzinfo=UTC)  # 08:00 in Hangzhou


def at(hours: float = 0, days: float = 0) -> datetime:
    """A moment counted from START."""
    return START + timedelta(days=days, hours=hours)


class Story:
    """Events of one cylinder in the order they were recorded (seq = arrival order)."""

    def __init__(self, cylinder: str = "CYL-0001", registered: datetime = START, **facts: Any) -> None:
        self.cylinder = cylinder
        self.events: list[Event] = []
        register = {
            "owner": CO, "serial": "E-2024-0001", "manufacturer": "Zhejiang Cylinder Works",
            "manufactured_on": "2024-01-15", "model": "YSP-15", "tare_kg": 14.9, "design_life_years": 8,
            "last_inspected_on": "2024-01-15", "next_inspection_due": "2028-01-15",
        }
        register.update(facts)
        self.add("register", CO, registered - timedelta(hours=1), data=register)

    def add(self, kind: str, party: str, when: datetime, *, to: str | None = None, person: str | None = None,
            data: dict[str, Any] | None = None, location: Location | None = None,
            recorded: datetime | None = None) -> Event:
        seq = len(self.events)
        event = Event(
            cylinder=self.cylinder, seq=seq, kind=EventKind(kind), occurred_at=when,
            recorded_at=recorded or when + timedelta(minutes=1), party=party, person=person, to=to,
            location=location, data=data or {}, idempotency_key=f"key-{self.cylinder}-{seq:04d}",
            prev_hash=None if seq == 0 else bytes(32), hash=bytes(32), id=1000 + seq,
        )
        self.events.append(event)
        return event

    # the usual steps of a cylinder's round, as each party scans them
    def fill(self, when: datetime, kg: float = 14.5, station: str = STATION) -> Event:
        return self.add("fill", station, when, data={"net_kg": kg}, location=AT_STATION)

    def dispatch(self, party: str, to: str, when: datetime, crew: dict[str, Any] | None = None) -> Event:
        return self.add("dispatch", party, when, to=to, data=dict(CREW if crew is None else crew))

    def give_back(self, party: str, to: str, when: datetime, crew: dict[str, Any] | None = None) -> Event:
        return self.add("return", party, when, to=to, data=dict(CREW if crew is None else crew))

    def receive(self, party: str, when: datetime, **kw: Any) -> Event:
        return self.add("receive", party, when, **kw)

    def deliver(self, when: datetime, kg: float | None = 14.4, shop: str = SHOP, user: str = "user-0042") -> Event:
        return self.add("deliver", shop, when, to=user, person=WORKER if shop == SHOP else None,
                        data={} if kg is None else {"net_kg": kg}, location=AT_SHOP)

    def round_trip(self, start: datetime) -> datetime:
        """A clean full round from filling to the empty back at the station; returns its end."""
        self.fill(start)
        self.dispatch(STATION, CARRIER, start + timedelta(hours=1))
        self.receive(CARRIER, start + timedelta(hours=1, minutes=5))
        self.dispatch(CARRIER, SHOP, start + timedelta(hours=3))
        self.receive(SHOP, start + timedelta(hours=3, minutes=10))
        self.add("dispatch", SHOP, start + timedelta(hours=5), to=WORKER, person=WORKER)
        self.deliver(start + timedelta(hours=6))
        self.add("collect", SHOP, start + timedelta(days=20), person=WORKER)
        self.give_back(SHOP, CARRIER, start + timedelta(days=21), crew={})
        self.receive(CARRIER, start + timedelta(days=21, minutes=5))
        self.give_back(CARRIER, STATION, start + timedelta(days=21, hours=2))
        self.receive(STATION, start + timedelta(days=21, hours=2, minutes=5))
        return start + timedelta(days=21, hours=3)

    def arriving(self, order: list[int]) -> list[Event]:
        """The same events, renumbered as if they had arrived in ``order`` (indices into self.events)."""
        return [replace(self.events[i], seq=n) for n, i in enumerate(order)]
