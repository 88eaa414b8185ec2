"""The province demo's traffic across city lines (docs/regions.md).

Before the cities are served, each registers the other cities' companies, stations, transporters,
shops and inspection stations as parties homed there (``home`` and their id there), and issues the
accounts the traffic is sent with. Once they serve, cylinders homed in one city cross to another over
HTTP, as devices send them: dispatched to its transporter, received there, delivered to its shop,
returned and received back home. Beside them, three anomalies across the line are planted:
a handover nobody in the other city confirmed, a cylinder scrapped in the other city and filled again
at home, and a receive minutes after a dispatch over a thousand kilometres away.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone

import httpx

from ledger.domain import Role
from ledger.service import Ledger
from ledger.service.types import Registration
from ledger.sweeper import Sweeper

from .city import City

__all__ = ["Crossing", "register_neighbours", "prepare", "drive"]

RETRIED = ("segment-refused", "peer-unavailable")  # the sender's log has not yet signed the hand-off: send again


def register_neighbours(ledger: Ledger, others: dict[str, tuple[Ledger, City]]) -> int:
    """Register in ``ledger`` the parties of each other city (by its peer name), as its register shows them."""
    count = 0
    for name, (home, city) in others.items():
        sites = [*city.companies, *city.stations, *city.transporters, *city.shops, *city.inspection_stations]
        with home.db.reading() as c:
            parties = [home.party(c, site.id) for site in sites]
        with ledger.db.writing() as c:
            for party in parties:  # companies first: a station names its company
                ledger.create_party(c, kind=party.kind, name=party.name, region=party.region, licence=party.licence,
                                    parent=party.parent, home=name, id=party.id)
                count += 1
    return count


@dataclass
class Crossing:
    """What the traffic needs: one city's station and company, the other's transporter, crew, shop and
    inspection station, each with an account of its own, and the cylinders registered for it."""

    home: str
    away: str
    station: str
    transporter: str
    shop: str
    inspection: str
    crew: dict
    position: dict  # where the home station scans a dispatch
    tokens: dict[str, str] = field(default_factory=dict)
    travellers: list[str] = field(default_factory=list)
    planted: dict[str, str] = field(default_factory=dict)  # finding kind -> cylinder

    def urls(self, started: dict) -> tuple[str, str]:
        return started["cities"][self.home]["url"], started["cities"][self.away]["url"]


def prepare(home: tuple[str, Ledger, City], away: tuple[str, Ledger, City], now: datetime,
            travellers: int = 2, planted: bool = True) -> Crossing:
    """Accounts on both sides and the cylinders (registered at home, hours ago) the traffic moves; with
    ``planted``, three more for the anomalies."""
    home_name, home_ledger, home_city = home
    away_name, away_ledger, away_city = away
    station, company = home_city.stations[0], home_city.stations[0].company
    transporter = away_city.transporters[0]
    crew = transporter.crews[0]
    crossing = Crossing(home_name, away_name, station.id, transporter.id, away_city.shops[0].id,
                        away_city.inspection_stations[0].id,
                        {"vehicle": crew.vehicle, "driver": crew.driver.id, "escort": crew.escort.id},
                        {"lat": station.point.lat, "lon": station.point.lon})
    with home_ledger.db.writing() as c:
        crossing.tokens["station"] = home_ledger.create_account(c, role=Role.COMPANY, party=station.id,
                                                                name=f"跨市演示·充装站·{away_name}")
        codes = []
        for n in range(travellers + (3 if planted else 0)):
            registered = home_ledger.register(c, company.actor, Registration(
                company.id, f"XC-{uuid.uuid4().hex[:8].upper()}", "浙江金盾压力容器有限公司", date(2022, 5, 1),
                "YSP-15", 15.2, 8, date(2025, 5, 1), date(2029, 5, 1), occurred_at=now - timedelta(days=4)),
                now=now - timedelta(days=4) + timedelta(minutes=n))
            codes.append(registered.event.cylinder)
    crossing.travellers = codes[:travellers]
    crossing.planted = dict(zip(("handover_unconfirmed", "event_after_scrap", "impossible_movement"),
                                codes[travellers:]))
    with away_ledger.db.writing() as c:
        for key, party, role in (("transporter", transporter.id, Role.TRANSPORTER),
                                 ("shop", crossing.shop, Role.SHOP), ("inspection", crossing.inspection, Role.INSPECTION)):
            crossing.tokens[key] = away_ledger.create_account(c, role=role, party=party,
                                                              name=f"跨市演示·{key}·{home_name}")
    return crossing


def drive(crossings: Sequence[Crossing], started: dict, swept: Ledger, now: datetime) -> None:
    """The traffic of every crossing, sent over HTTP to the serving cities; then ``swept``'s clock is run once.

    The events go in three rounds: everything the home cities send first, then what the other cities
    record once the cylinders reach them, then the receives back home. A receive across the line waits
    until the sender's log has signed the hand-off (the checkpoint interval), so each round waits for
    that once rather than once a cylinder.
    """
    with httpx.Client(timeout=60) as client:
        def send(crossing: Crossing, side: int, account: str, cylinder: str, kind: str, at: datetime,
                 to: str | None = None, location: dict | None = None, **data) -> dict:
            base = crossing.urls(started)[side]
            body = {"cylinder": cylinder, "kind": kind, "occurred_at": at.isoformat(),
                    "idempotency_key": f"province-demo-{uuid.uuid4()}", "data": data}
            if to is not None:
                body["to"] = to
            if location is not None:
                body["location"] = location
            deadline = time.monotonic() + 120
            while True:
                answer = client.post(f"{base}/v1/events", json=body,
                                     headers={"Authorization": f"Bearer {crossing.tokens[account]}"})
                if answer.status_code in (200, 201):
                    return answer.json()["event"]
                kind_of = answer.json().get("type", "") if answer.headers.get("content-type", "").endswith(
                    "json") else ""
                if not kind_of.endswith(RETRIED) or time.monotonic() > deadline:
                    raise RuntimeError(f"{kind} of {cylinder} at {base}: {answer.status_code} {answer.text}")
                time.sleep(1)

        start, begin, recent = now - timedelta(hours=8), now - timedelta(days=2), now - timedelta(hours=1)
        home, away = 0, 1

        def at(n: int, minutes: int) -> datetime:  # the travellers' lives, five minutes apart
            return start + timedelta(minutes=minutes + 5 * n)

        # 1. at home: there and back is a clean life; beside it the anomalies planted across the line
        for crossing in crossings:
            for n, cylinder in enumerate(crossing.travellers):
                send(crossing, home, "station", cylinder, "fill", at(n, 0), net_kg=14.5)
                send(crossing, home, "station", cylinder, "dispatch", at(n, 20), to=crossing.transporter)
            if crossing.planted:  # handed over across the line, never received there
                send(crossing, home, "station", crossing.planted["handover_unconfirmed"], "dispatch",
                     now - timedelta(days=3), to=crossing.shop)
                send(crossing, home, "station", crossing.planted["event_after_scrap"], "dispatch", begin,
                     to=crossing.inspection)
                send(crossing, home, "station", crossing.planted["impossible_movement"], "dispatch", recent,
                     to=crossing.transporter, location=crossing.position)
        # 2. in the other city: delivered to its shop and returned; scrapped there; received in Beijing
        for crossing in crossings:
            for n, cylinder in enumerate(crossing.travellers):
                send(crossing, away, "transporter", cylinder, "receive", at(n, 80))
                send(crossing, away, "transporter", cylinder, "dispatch", at(n, 90), to=crossing.shop, **crossing.crew)
                send(crossing, away, "shop", cylinder, "receive", at(n, 120))
                send(crossing, away, "shop", cylinder, "return", at(n, 240), to=crossing.station)
            if crossing.planted:
                scrapped = crossing.planted["event_after_scrap"]
                send(crossing, away, "inspection", scrapped, "receive", begin + timedelta(hours=2))
                send(crossing, away, "inspection", scrapped, "scrap", begin + timedelta(hours=3),
                     reason="failed periodic inspection")
                send(crossing, away, "inspection", scrapped, "return", begin + timedelta(hours=4), to=crossing.station)
                send(crossing, away, "transporter", crossing.planted["impossible_movement"], "receive",
                     recent + timedelta(minutes=5), location={"lat": 39.90, "lon": 116.40})
        # 3. back home: received and filled again (the scrapped one too)
        for crossing in crossings:
            for n, cylinder in enumerate(crossing.travellers):
                send(crossing, home, "station", cylinder, "receive", at(n, 300))
                send(crossing, home, "station", cylinder, "fill", at(n, 320), net_kg=14.5)
            if crossing.planted:
                scrapped = crossing.planted["event_after_scrap"]
                send(crossing, home, "station", scrapped, "receive", begin + timedelta(hours=6))
                send(crossing, home, "station", scrapped, "fill", begin + timedelta(hours=7), net_kg=14.5)
    Sweeper(swept).run(datetime.now(timezone.utc))  # the clock: the handover nobody confirmed
