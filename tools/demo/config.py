"""The knobs of the demo city: its size, its time window, its cylinder models and anomalies.

A ``CityConfig`` and a seed decide the whole city: the same pair always gives
the same parties, cylinders and events (see ``tools.demo.build``).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta, timezone

from ledger.rules.config import DEFAULT_FILL_LIMITS

__all__ = [
    "ModelSpec", "MODELS", "CityConfig", "SIZES", "ANOMALY_KINDS", "TAMPER_KINDS",
    "LOCAL", "DEFAULT_NOW",
]

# The city keeps China Standard Time; events are stored in UTC.
LOCAL = timezone(timedelta(hours=8))
# The instant a simulation ends when the caller names none (tests, benchmarks).
DEFAULT_NOW = datetime(2026, 5, 1, 0, 0, tzinfo=timezone.utc)


@dataclass(frozen=True)
class ModelSpec:
    """A cylinder model: allowed fill and its tolerance, tare range, how long one lasts a user.

    The allowed fill and tolerance are the custody rules' own table
    (``ledger.rules.config.DEFAULT_FILL_LIMITS``; YSP-15 is 14.5 ± 0.5 kg by GB 17267),
    so a clean fill in the demo is a legal fill for the rules. Tare ranges and
    consumption are this demo's assumptions.
    """

    name: str
    allowed_kg: float
    tolerance_kg: float
    tare_kg: tuple[float, float]
    household_days: float  # mean days one cylinder lasts a household
    restaurant_days: float  # ... and a restaurant
    slots: int  # truck space, in YSP-15 equivalents


def _model(name: str, tare: tuple[float, float], household: float, restaurant: float, slots: int) -> ModelSpec:
    limit = DEFAULT_FILL_LIMITS[name]
    return ModelSpec(name, limit.allowed_kg, limit.tolerance_kg, tare, household, restaurant, slots)


MODELS = {
    "YSP-5": _model("YSP-5", (6.8, 7.6), 14.0, 2.0, 1),
    "YSP-10": _model("YSP-10", (10.8, 11.9), 24.0, 3.0, 1),
    "YSP-15": _model("YSP-15", (14.6, 16.2), 35.0, 4.0, 1),
    "YSP-50": _model("YSP-50", (46.0, 51.0), 120.0, 9.0, 3),
}

# Every finding kind the generator can plant (CONTRACT.md "Findings").
ANOMALY_KINDS = (
    "custody_jump", "handover_unconfirmed", "event_after_scrap", "filled_overdue_inspection",
    "filled_past_design_life", "filled_by_non_owner", "unlicensed_party", "certificate_expired",
    "missing_escort", "short_weight", "overfill", "unregistered_code", "vanished",
    "impossible_movement",
)
# Planted only on request: they need rows edited behind the ledger's back.
TAMPER_KINDS = ("chain_tampered", "sequence_gap")


@dataclass(frozen=True)
class CityConfig:
    """How big the city is and what goes wrong in it.

    ``anomaly_rate`` is the share of opportunities that go wrong, per kind:
    of registered cylinders for cylinder kinds, of truck trips for
    ``missing_escort`` and ``certificate_expired``. Any rate above zero plants
    every kind at least once (docs/demo.md lists each opportunity).
    """

    companies: int = 3
    stations: int = 5
    transporters: int = 4
    shops: int = 36
    households: int = 3600
    restaurants: int = 240
    inspection_stations: int = 2
    days: int = 42
    now: datetime = DEFAULT_NOW
    anomaly_rate: float = 0.002
    tamper: bool = False
    # shares of each model among households' cylinders; restaurants use YSP-15 and YSP-50
    household_models: dict[str, float] = field(
        default_factory=lambda: {"YSP-15": 0.86, "YSP-10": 0.09, "YSP-5": 0.05}
    )
    truck_slots: int = 140  # YSP-15 equivalents one hazardous-goods truck carries
    inspection_interval_years: int = 4  # LPG steel cylinders, GB/T 8334 (kept per cylinder)
    design_life_years: int = 8  # GB 5842-2006: 8 years (+ at most one 4-year extension)

    def __post_init__(self) -> None:
        if self.now.tzinfo is None:
            raise ValueError("now must be an aware time")
        if self.days < 35:
            raise ValueError("a city needs at least 35 days: 'vanished' means 30 days without a scan")
        if not 0 <= self.anomaly_rate <= 0.2:
            raise ValueError("anomaly_rate must be between 0 and 0.2")
        if self.companies < 2 or self.stations < self.companies:
            raise ValueError("a city needs two gas companies, each with a filling station")
        if self.shops < 2 * self.companies or self.transporters < 1 or self.inspection_stations < 1:
            raise ValueError("a city needs two shops per company, a transporter and an inspection station")

    def with_(self, **changes: object) -> CityConfig:
        return replace(self, **changes)

    @property
    def users(self) -> int:
        return self.households + self.restaurants

    def estimated_events(self) -> int:
        """Rough count of events the city writes (about 11 per exchange, fewer while labels roll out)."""
        household = self.households * self.days / 33.0
        restaurant = self.restaurants * 2.6 * self.days / 5.0
        return int((household + restaurant) * 9.3)

    @classmethod
    def for_events(cls, events: int, **changes: object) -> CityConfig:
        """A city sized to write about ``events`` events over eight weeks (benchmarks)."""
        base = cls(days=56, **changes)
        scale = max(events / base.estimated_events(), 0.05)
        shops = max(int(base.shops * scale), 12)
        return base.with_(
            households=max(int(base.households * scale), 300),
            restaurants=max(int(base.restaurants * scale), 20),
            shops=shops,
            stations=max(min(int(base.stations * scale ** 0.5), 40), base.companies),
            transporters=max(min(int(base.transporters * scale ** 0.5), 60), 2),
            inspection_stations=max(min(int(scale ** 0.5), 6), 2),
        )


SIZES = {
    # seconds: tests and a first look
    "small": CityConfig(companies=2, stations=3, transporters=2, shops=10, households=900, restaurants=60),
    # the default of `ledger demo`: about a hundred thousand events
    "medium": CityConfig(),
    # tens of thousands of cylinders, about a million events
    "large": CityConfig(companies=4, stations=9, transporters=8, shops=120, households=24000,
                        restaurants=1600, inspection_stations=3, days=56),
}
