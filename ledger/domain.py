"""Frozen value types of the ledger: parties, people, cylinders, custody events.

Objects here are parsed at the edge and valid by construction: a ``NewEvent``
that exists has a known kind, an aware UTC time and identifiers of the allowed
shape. Nothing here touches a database or HTTP.
"""

from __future__ import annotations

import enum
import functools
import math
import re
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from typing import Any

from .errors import InvalidInput

__all__ = [
    "EventKind",
    "PartyKind",
    "PersonRole",
    "Role",
    "State",
    "FindingKind",
    "Severity",
    "Paper",
    "Party",
    "Person",
    "Location",
    "NewEvent",
    "Event",
    "CylinderView",
    "check_identifier",
    "check_idempotency_key",
    "utc",
    "format_time",
    "parse_time",
    "iso_day",
]


class EventKind(str, enum.Enum):
    """The custody events of DOMAIN.md "The life of a cylinder"."""

    REGISTER = "register"
    FILL = "fill"
    DISPATCH = "dispatch"
    RECEIVE = "receive"
    DELIVER = "deliver"
    COLLECT = "collect"
    RETURN = "return"
    INSPECT = "inspect"
    SCRAP = "scrap"
    REPORT = "report"


class PartyKind(str, enum.Enum):
    GAS_COMPANY = "gas_company"
    FILLING_STATION = "filling_station"
    TRANSPORTER = "transporter"
    SHOP = "shop"
    INSPECTION_STATION = "inspection_station"
    REGULATOR = "regulator"


class PersonRole(str, enum.Enum):
    OPERATOR = "operator"
    DRIVER = "driver"
    ESCORT = "escort"
    DELIVERY_WORKER = "delivery_worker"
    INSPECTOR = "inspector"


class Role(str, enum.Enum):
    """Account roles (CONTRACT.md "Parties and accounts")."""

    ADMIN = "admin"
    REGULATOR = "regulator"
    INSPECTOR = "inspector"
    COMPANY = "company"
    TRANSPORTER = "transporter"
    SHOP = "shop"
    INSPECTION = "inspection"


class State(str, enum.Enum):
    """Where a cylinder is, as the trace answer names it."""

    AT_STATION = "at_station"
    IN_TRANSIT = "in_transit"
    AT_SHOP = "at_shop"
    OUT_FOR_DELIVERY = "out_for_delivery"
    WITH_USER = "with_user"
    AT_INSPECTION = "at_inspection"
    SCRAPPED = "scrapped"


class FindingKind(str, enum.Enum):
    """What a finding says is wrong (CONTRACT.md "Findings"; docs/custody.md has each rule)."""

    CHAIN_TAMPERED = "chain_tampered"
    SEQUENCE_GAP = "sequence_gap"
    CHECKPOINT_MISMATCH = "checkpoint_mismatch"
    CUSTODY_JUMP = "custody_jump"
    HANDOVER_UNCONFIRMED = "handover_unconfirmed"
    EVENT_AFTER_SCRAP = "event_after_scrap"
    FILLED_OVERDUE_INSPECTION = "filled_overdue_inspection"
    FILLED_PAST_DESIGN_LIFE = "filled_past_design_life"
    FILLED_BY_NON_OWNER = "filled_by_non_owner"
    UNLICENSED_PARTY = "unlicensed_party"
    CERTIFICATE_EXPIRED = "certificate_expired"
    MISSING_ESCORT = "missing_escort"
    SHORT_WEIGHT = "short_weight"
    OVERFILL = "overfill"
    UNREGISTERED_CODE = "unregistered_code"
    VANISHED = "vanished"
    IMPOSSIBLE_MOVEMENT = "impossible_movement"
    PROJECTION_EDITED = "projection_edited"  # a cylinder's stored projection differs from its chain (ledger.audit)
    FINDING_STATUS_EDITED = "finding_status_edited"  # a finding's status differs from its closed-loop history
    CITIZEN_REPORT = "citizen_report"  # a citizen's report through the public site (ledger.citizen)
    UNSAFE_INSTALLATION = "unsafe_installation"  # an item of the home safety check failed (ledger.safety)
    DELIVERED_DESPITE_HAZARD = "delivered_despite_hazard"  # delivered although a critical item failed


class Severity(str, enum.Enum):
    """How urgently a finding needs a person; members compare by urgency (``LOW < CRITICAL``)."""

    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    CRITICAL = "critical"

    @property
    def rank(self) -> int:
        return _SEVERITY_RANK[self.value]

    # str would compare alphabetically; urgency is what callers sort by
    def __lt__(self, other: object) -> bool:
        return self.rank < other.rank if isinstance(other, Severity) else NotImplemented

    def __le__(self, other: object) -> bool:
        return self.rank <= other.rank if isinstance(other, Severity) else NotImplemented

    def __gt__(self, other: object) -> bool:
        return self.rank > other.rank if isinstance(other, Severity) else NotImplemented

    def __ge__(self, other: object) -> bool:
        return self.rank >= other.rank if isinstance(other, Severity) else NotImplemented


_SEVERITY_RANK = {"low": 0, "medium": 1, "high": 2, "critical": 3}


# Identifiers of parties, people, cylinders and end users: short, printable,
# and free of characters that would need escaping in the canonical encoding.
_IDENTIFIER = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:\-]{0,63}")
_IDEMPOTENCY_KEY = re.compile(r"[A-Za-z0-9._:\-]{8,128}")

# Times outside this window are refused as absurd: no cylinder event predates
# the platform's oldest plausible records or lies in the far future.
EARLIEST = datetime(1990, 1, 1, tzinfo=timezone.utc)
LATEST_AHEAD = timedelta(days=2)


def check_identifier(value: Any, name: str) -> str:
    if not isinstance(value, str) or not _IDENTIFIER.fullmatch(value):
        raise InvalidInput(
            f"{name} must be 1-64 letters, digits or . _ : - (got {_show(value)})", field=name
        )
    return value


def check_idempotency_key(value: Any) -> str:
    if not isinstance(value, str) or not _IDEMPOTENCY_KEY.fullmatch(value):
        raise InvalidInput(
            "idempotency_key must be 8-128 letters, digits or . _ : - (a UUID is ideal)",
            field="idempotency_key",
        )
    return value


def utc(moment: datetime) -> datetime:
    """The same instant in UTC, truncated to microseconds; naive times are refused."""
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise InvalidInput("times must carry a UTC offset (RFC 3339)")
    return moment.astimezone(timezone.utc)


# A batch's answer formats its one recording time for every event, and each event's time is formatted when
# it is hashed and again when it is answered: repeats are a lookup. Equal instants (datetime equality)
# always have the same text, so the cache may be keyed by value.
@functools.lru_cache(maxsize=4096)
def format_time(moment: datetime) -> str:
    """The one text form of a time in the ledger: ``YYYY-MM-DDTHH:MM:SS.ffffffZ``."""
    if moment.tzinfo is not timezone.utc and moment.utcoffset():  # the identity test spares most calls
        moment = moment.astimezone(timezone.utc)
    # isoformat is several times faster than strftime on this hot path
    return moment.isoformat(timespec="microseconds")[:26] + "Z"


def parse_time(text: Any, name: str = "time") -> datetime:
    if isinstance(text, datetime):
        return utc(text)
    if not isinstance(text, str) or len(text) > 40:
        raise InvalidInput(f"{name} must be an RFC 3339 time with offset", field=name)
    try:
        moment = datetime.fromisoformat(text.replace("z", "Z"))
    except ValueError:
        raise InvalidInput(f"{name} is not an RFC 3339 time: {_show(text)}", field=name) from None
    if moment.tzinfo is None:
        raise InvalidInput(f"{name} must carry a UTC offset, e.g. 2026-05-01T08:30:00+08:00", field=name)
    return utc(moment)


def check_plausible_time(moment: datetime, name: str, now: datetime) -> datetime:
    if moment < EARLIEST or moment > now + LATEST_AHEAD:
        raise InvalidInput(
            f"{name} {format_time(moment)} is not plausible (before 1990 or more than two days ahead)",
            field=name,
        )
    return moment


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


@dataclass(frozen=True, slots=True)
class Paper:
    """A licence or certificate: a number and the last day it is valid."""

    number: str
    valid_until: date

    def valid_on(self, day: date) -> bool:
        return day <= self.valid_until


@dataclass(frozen=True, slots=True)
class Party:
    id: str
    kind: PartyKind
    name: str
    region: str
    licence: Paper | None = None
    parent: str | None = None
    home: str | None = None  # the peer city it is homed in, when not this one (docs/regions.md)


@dataclass(frozen=True, slots=True)
class Person:
    id: str
    party: str
    name: str
    role: PersonRole
    certificate: Paper | None = None


@dataclass(frozen=True, slots=True)
class Location:
    """A WGS-84 position in decimal degrees."""

    lat: float
    lon: float

    def __post_init__(self) -> None:
        for name, value, bound in (("lat", self.lat, 90.0), ("lon", self.lon, 180.0)):
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
                raise InvalidInput(f"location.{name} must be a number", field="location")
            if abs(value) > bound:
                raise InvalidInput(f"location.{name} must be within ±{bound:g}", field="location")

    def as_dict(self) -> dict[str, float]:
        return {"lat": self.lat, "lon": self.lon}


@dataclass(frozen=True, slots=True)
class NewEvent:
    """An event as a client submits it, before the ledger sequences it."""

    cylinder: str
    kind: EventKind
    occurred_at: datetime
    party: str
    idempotency_key: str
    to: str | None = None
    person: str | None = None
    location: Location | None = None
    data: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Event:
    """A sequenced event as stored: ``hash`` covers every field but ``id`` and ``log_index``."""

    cylinder: str
    seq: int
    kind: EventKind
    occurred_at: datetime
    recorded_at: datetime
    party: str
    person: str | None
    to: str | None
    location: Location | None
    data: dict[str, Any]
    idempotency_key: str
    prev_hash: bytes | None
    hash: bytes
    id: int | None = None
    log_index: int | None = None

    def same_content(self, other: NewEvent) -> bool:
        """True when ``other`` asks for exactly this event (an idempotent retry)."""
        return (
            self.cylinder == other.cylinder
            and self.kind == other.kind
            and self.occurred_at == other.occurred_at
            and self.party == other.party
            and self.person == other.person
            and self.to == other.to
            and self.location == other.location
            and self.data == other.data
        )


@dataclass(frozen=True, slots=True)
class CylinderView:
    """A cylinder as the ledger answers for it: its registration facts and where its chain stands.

    The second half is the projection the custody rules rewrite after each write
    (``ledger.supervision``); ``holder`` is None while nobody holds it (scrapped).
    """

    id: str
    owner: str
    serial: str
    manufacturer: str
    model: str
    manufactured_on: date
    tare_kg: float
    design_life_years: int
    registered_at: str
    region: str
    next_inspection_due: date
    life_ends_on: date | None
    holder: str | None
    state: State
    state_since: str
    last_event_at: str
    last_fill_kg: float | None
    chain_length: int

    def __post_init__(self) -> None:
        object.__setattr__(self, "state", State(self.state))

    @classmethod
    def from_mapping(cls, row: Any) -> CylinderView:
        """The view of a stored row (any mapping with at least these names; others are left out)."""
        return cls(**{name: row[name] for name in cls.__dataclass_fields__})


def iso_day(value: Any) -> date | None:
    """``value`` as a date if it is one or an ISO ``YYYY-MM-DD`` string, else ``None`` (never raises)."""
    if isinstance(value, date) and not isinstance(value, datetime):
        return value
    if isinstance(value, str) and len(value) == 10:
        try:
            return date.fromisoformat(value)
        except ValueError:
            return None
    return None
