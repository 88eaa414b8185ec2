"""Build a demo city into a ledger: parties, then day after day of scans, synced as devices sync.

``build_city(ledger, config, seed)`` is deterministic: the same seed and
configuration give the same parties, trace codes, events and hashes, because
every draw comes from ``random.Random(seed)`` and every time from the
simulated clock (``config.now`` ends the window). The ledger must be migrated
and empty; the caller owns it and its keys.

The ledger issues trace codes (``ledger.tracecode.generate``), party, person,
end-user and note ids (``ledger.service.new_id``) and notes' salts
(``ledger.notes.new_salt``) from the operating system's randomness, as it must
in production. While a city is built, all three draw from the seed instead
(``seeded_identifiers``); everything else (checks, storage, hashing) is the
production path. The originals are back before anything is served.
"""

from __future__ import annotations

import contextlib
import random
import threading
import time as clock
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta

from ledger import citizen, notes, service, tracecode
from ledger.service import Ledger

from . import field as regulator
from .anomalies import Plant, Plants
from .city import City, found_city
from .doorstep import Doorstep, citizens_report
from .config import LOCAL, CityConfig
from .fleet import Cylinder
from .life import Simulation
from .shops import delivery_rounds, lend_between_shops
from .stations import fill_shift, inspection_bench, inspection_returns, inspection_shuttle
from .sync import Outbox, Writer
from .tamper import tamper_with
from .trucks import supply_trips

__all__ = ["CityBuild", "build_city", "seeded_identifiers"]


_LOCK = threading.Lock()  # one build at a time may swap the generators


@contextlib.contextmanager
def seeded_identifiers(rng: random.Random) -> Iterator[None]:
    """Within the block, new trace codes, ids and notes' salts come from ``rng``."""
    alphabet = service._ID_ALPHABET

    def trace_code() -> str:
        body = "".join(rng.choice(tracecode.ALPHABET) for _ in range(tracecode.BODY_LENGTH))
        return body + tracecode.check_character(body)

    def new_id(prefix: str, length: int = 7) -> str:
        return prefix + "".join(rng.choice(alphabet) for _ in range(length))

    def new_salt() -> bytes:
        return rng.randbytes(notes.SALT_BYTES)

    def tracking_code() -> str:
        body = "".join(rng.choice(tracecode.ALPHABET) for _ in range(citizen.TRACKING_BODY))
        return body + citizen._check_symbol(body)

    with _LOCK:
        saved = tracecode.generate, service.new_id, notes.new_salt, citizen.new_tracking_code
        tracecode.generate, service.new_id, notes.new_salt = trace_code, new_id, new_salt
        citizen.new_tracking_code = tracking_code
        try:
            yield
        finally:
            tracecode.generate, service.new_id, notes.new_salt, citizen.new_tracking_code = saved


@dataclass
class CityBuild:
    """What was built: the city, the planted truth and what the ledger made of the scans."""

    seed: int
    config: CityConfig
    city: City = field(repr=False)
    fleet: list[Cylinder] = field(repr=False)
    plants: list[Plant] = field(repr=False)
    missed: dict[str, int]
    outcomes: dict[str, int]
    registered: int
    rejections: list[tuple[str, str, str]] = field(repr=False)
    seconds: float
    tampered: list[Plant] = field(default_factory=list, repr=False)
    doorstep: dict[str, str] = field(default_factory=dict)  # story -> trace code, tracking code or ref

    @property
    def events(self) -> int:
        """Events in the ledger, registrations included."""
        return self.outcomes.get("created", 0) + self.registered - sum(
            1 for p in self.tampered if p.kind == "sequence_gap")

    @property
    def truth(self) -> list[Plant]:
        return [*self.plants, *self.tampered]

    def showcase(self) -> dict[str, str]:
        """Trace codes worth a look: ``clean`` (a full, unremarkable life) and one per planted kind."""
        touched = {id(p.cylinder) for p in self.truth}
        clean = [c for c in self.fleet if c.code and c.active and id(c) not in touched]
        picks = {"clean": max(clean, key=lambda c: (c.scans, -c.number)).code} if clean else {}
        for plant in self.truth:
            if plant.code and plant.kind not in picks:
                picks[plant.kind] = plant.code
        return picks

    def meta(self) -> dict[str, object]:
        return {"seed": self.seed, "now": self.config.now.isoformat(), "days": self.config.days,
                "anomaly_rate": self.config.anomaly_rate, "events": self.events,
                "cylinders": self.registered, "missed": self.missed}


def _day_of_city(sim: Simulation) -> None:
    due = sim.calendar.pop(sim.day, [])
    for station in sim.city.stations:
        fill_shift(sim, station)
    regulator.black_cylinders(sim)
    regulator.spot_checks(sim)
    inspection_bench(sim)
    inspection_returns(sim)
    delivery_rounds(sim, due)
    for station in sim.city.stations:
        supply_trips(sim, station)
    lend_between_shops(sim)
    for station in sim.city.stations:
        inspection_shuttle(sim, station)


def build_city(
    ledger: Ledger, config: CityConfig, seed: int = 7, *,
    progress: Callable[[int], None] | None = None, transaction_events: int = 5000,
) -> CityBuild:
    """Create the city in ``ledger`` and simulate ``config.days`` days ending at ``config.now``.

    ``progress`` is called with the number of records written after each
    transaction. Returns the planted truth with event ids filled in.
    """
    started = clock.perf_counter()
    rng = random.Random(seed)
    ids, keys, sync = (random.Random(rng.getrandbits(64)) for _ in range(3))
    first = config.now.astimezone(LOCAL).date() - timedelta(days=config.days)
    writer = Writer(ledger, transaction_events=transaction_events, progress=progress)
    with seeded_identifiers(ids):
        with ledger.db.writing() as connection:
            city = found_city(ledger, connection, rng, config, first)
        outbox = Outbox(sync, keys, config.now)
        sim = Simulation(config, rng, outbox, city, first)
        sim.stock_city()
        trips = config.days * max(1, config.shops // 3)
        sim.plants = Plants(config.anomaly_rate, rng, config.days, len(sim.fleet), trips)
        sim.doorstep = Doorstep(seed, [item.code for item in ledger.checklist], config.days,
                                planted=config.anomaly_rate > 0)
        for day in range(config.days):
            midnight = datetime.combine(first + timedelta(days=day), time(), tzinfo=LOCAL)
            sim.begin(day, midnight)
            _day_of_city(sim)
            writer.watch = sim.plants.keys
            writer.write(outbox.close_day(midnight + timedelta(days=1)))
        writer.write(outbox.drain())
        doorstep = dict(sim.doorstep.shown)
        if config.anomaly_rate > 0:
            doorstep.update(citizens_report(ledger, doorstep.get("delivered_despite_hazard"), config.now))
        if sim.doorstep.end_user:
            doorstep["end_user"] = sim.doorstep.end_user
    sim.plants.settle(writer.fate)
    tampered = tamper_with(ledger, rng, config) if config.tamper else []
    return CityBuild(
        seed=seed, config=config, city=city, fleet=sim.fleet, plants=sim.plants.truth,
        missed=sim.plants.missed(), outcomes=dict(writer.outcomes), registered=writer.registered,
        rejections=writer.rejections, seconds=clock.perf_counter() - started, tampered=tampered,
        doorstep=doorstep,
    )
