"""The shapes of requests and answers (CONTRACT.md "HTTP API").

Requests forbid unknown fields and bound every value: absurd input (negative
weights, dates in 2199, megabyte strings, numbers sent as text) is refused with
a 422 problem before anything reaches the ledger.
"""

from __future__ import annotations

from datetime import date, datetime, timezone
from typing import Annotated, Any, Generic, Literal, TypeVar

from pydantic import (
    AfterValidator, AwareDatetime, BaseModel, BeforeValidator, ConfigDict, Field, Strict, StrictFloat, StrictInt,
    StringConstraints, ValidationInfo, model_validator,
)
from pydantic_core import PydanticCustomError

from ledger.domain import PartyKind, PersonRole, State
from ledger.errors import InvalidInput
from ledger.text import readable, unreadable_character

from .errors import Problem

T = TypeVar("T")

# -- value types ------------------------------------------------------------------

Identifier = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9._:\-]{0,63}$")]
IdempotencyKey = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9._:\-]{8,128}$")]
Region = Annotated[str, StringConstraints(pattern=r"^[0-9]{6}$")]
Hex32 = Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{64}$")]


def readable_text(max_length: int, *, multiline: bool = False) -> Any:
    """The type of every text field people read: ``ledger.text.readable`` checks it, and it arrives stripped.

    No control, format (zero-width, bidi), private-use or unassigned character; a multi-line field
    (a note) may hold line feeds and tabs.
    """
    def check(value: str, info: ValidationInfo) -> str:
        try:
            return readable(value, info.field_name or "text", max_length=max_length, multiline=multiline)
        except InvalidInput as error:
            raise PydanticCustomError("unreadable_text", error.message) from None

    what = "readable text" + (" (line feeds and tabs allowed)" if multiline else ", one line")
    return Annotated[str, Strict(), AfterValidator(check),
                     Field(min_length=1, max_length=max_length, description=f"{what}; no control or invisible characters")]


Readable = readable_text(200)  # names of parties, people, manufacturers
Note = readable_text(2000, multiline=True)
PaperNumber = readable_text(64)  # licence and certificate numbers
Serial = readable_text(64)
Plate = readable_text(16)


def _readable_values(value: Any, path: str) -> None:
    """Refuse a control or invisible character in any key or string below ``value``, naming where it is."""
    if isinstance(value, str):
        bad = unreadable_character(value, multiline=True)
        if bad is not None:
            raise PydanticCustomError("unreadable_text", "{path} holds an invisible or control character (U+{code})",
                                      {"path": path, "code": f"{ord(bad):04X}"})
    elif isinstance(value, dict):
        for key, item in value.items():
            _readable_values(key, f"{path} (a key)")
            _readable_values(item, f"{path}.{key}")
    elif isinstance(value, list):
        for index, item in enumerate(value):
            _readable_values(item, f"{path}[{index}]")


def _text_only(value: Any) -> Any:
    # JSON has no date type: a number is never a date here, though pydantic would take it as epoch seconds.
    if not isinstance(value, (str, date)):
        raise ValueError("must be text in RFC 3339 form")
    return value


def _plausible_day(value: date) -> date:
    if not date(1950, 1, 1) <= value <= date(2100, 12, 31):
        raise ValueError("must lie between 1950-01-01 and 2100-12-31")
    return value


def _plausible_moment(value: datetime) -> datetime:
    if not 1990 <= value.year <= 2100:
        raise ValueError("must lie between 1990 and 2100")
    # The same instant in the ledger's own UTC object: pydantic's is another, which every later comparison
    # and formatting of the time would have to ask for its offset.
    return value.astimezone(timezone.utc)


Day = Annotated[date, BeforeValidator(_text_only), AfterValidator(_plausible_day),
                Field(description="A calendar date, YYYY-MM-DD")]
Moment = Annotated[AwareDatetime, BeforeValidator(_text_only), AfterValidator(_plausible_moment),
                   Field(description="An RFC 3339 time with offset")]
Kg = Annotated[float, Strict(), Field(gt=0, le=200)]
# A weight inside event data keeps the client's number as sent (14 stays 14): the hash covers it.
NetKg = Annotated[StrictInt | StrictFloat, Field(ge=0, le=200)]


class Inbound(BaseModel):
    model_config = ConfigDict(extra="forbid", str_max_length=4096)


class Answer(BaseModel):
    # Answers list their fields; a column the core adds later is left out until it is documented here.
    model_config = ConfigDict(extra="ignore")


class Page(Answer, Generic[T]):
    """One page of a list; pass ``next_cursor`` back as ``cursor`` for the next (null: the end)."""

    items: list[T]
    next_cursor: str | None


# -- parties and people -----------------------------------------------------------


class PaperIn(Inbound):
    number: PaperNumber
    valid_until: Day


class PaperOut(Answer):
    number: str
    valid_until: date


class PartyIn(Inbound):
    kind: PartyKind
    name: Readable
    region: Region = Field(description="6-digit administrative division code, e.g. 330110")
    licence: PaperIn | None = None
    parent: Identifier | None = Field(None, description="a filling station's gas company")
    home: Identifier | None = Field(None, description=(
        "for a party homed in another city: that city's peer name (LEDGER_PEERS); then `id` is required"))
    id: Identifier | None = Field(None, description="for a party homed in another city: its id there")


class CrossingNews(Inbound):
    cylinder: Identifier = Field(description="a cylinder this ledger handed to the announcing city")


class CrossingKept(Answer):
    cylinder: str
    kept: bool = Field(description="whether the announcing city's segment was new, verified and kept")


class PartyOut(Answer):
    id: str
    kind: PartyKind
    name: str
    region: str
    licence: PaperOut | None
    parent: str | None
    home: str | None = Field(None, description="the peer city the party is homed in; null: this city")


class PersonIn(Inbound):
    name: Readable
    role: PersonRole
    certificate: PaperIn | None = None


class PersonOut(Answer):
    id: str
    party: str
    name: str
    role: PersonRole
    certificate: PaperOut | None


# -- end users (personal data) ----------------------------------------------------


class EndUserIn(Inbound):
    kind: Literal["household", "restaurant"]
    name: Readable
    phone: Annotated[str, StringConstraints(pattern=r"^\+?[0-9][0-9 \-]{4,30}$")]
    address: readable_text(400)


class EndUserRef(Answer):
    ref: str = Field(description="the opaque reference a delivery names in `to`")


class EndUserMatch(Answer):
    ref: str
    name: str | None = Field(description="masked: the first character, then * (张*)")
    phone: str | None = Field(description="masked: the first three and last four digits (138****8000)")


class EndUserMatches(Answer):
    items: list[EndUserMatch]


class PersonalDataView(Answer):
    id: int
    ref: str
    account: int
    account_name: str
    role: str
    party: str | None
    reason: str
    viewed_at: str


class CodeIn(Inbound):
    phone: Annotated[str, StringConstraints(max_length=40)]


class CodeSent(Answer):
    sent_to: str = Field(description="the number, masked; the same answer whether or not it is registered")
    expires_at: str
    expires_in: int = Field(description="seconds the code lasts")


class HistoryIn(Inbound):
    phone: Annotated[str, StringConstraints(max_length=40)]
    code: Annotated[str, StringConstraints(max_length=12)]


class OwnDelivery(Answer):
    event: int
    cylinder: str
    kind: Literal["deliver", "collect"]
    occurred_at: str
    shop: dict[str, str | None]
    net_kg: float | None = None
    safety_check: dict[str, Any] | None = Field(None, description="the home safety check, when the delivery recorded one")


class OwnHistory(Answer):
    phone: str = Field(description="the number, masked")
    items: list[OwnDelivery]


class EndUserOut(Answer):
    ref: str
    shop: str
    kind: str
    name: str | None
    phone: str | None
    address: str | None
    created_at: str
    erased_at: str | None = Field(None, description="when name, phone and address were erased (PIPL art. 47)")


# -- events -----------------------------------------------------------------------


class Location(Inbound):
    lat: Annotated[float, Strict(), Field(ge=-90, le=90)]
    lon: Annotated[float, Strict(), Field(ge=-180, le=180)]


class EventData(BaseModel):
    """The facts of an event (≤ 4 KiB in all), every key and string in them readable text. The named keys are
    typed here; which keys each kind may carry is the ledger's closed list (``ledger.facts.DATA_KEYS``), and
    any other key is refused there, by name."""

    model_config = ConfigDict(extra="allow")

    net_kg: NetKg | None = Field(None, description="net gas weight in kg (fill, deliver)")
    vehicle: Plate | None = None
    driver: Identifier | None = None
    escort: Identifier | None = None
    result: Literal["pass", "fail"] | None = None
    next_inspection_due: Day | None = None
    note: readable_text(1000, multiline=True) | None = Field(
        None, description="a report's note: kept beside the chain, which holds only its salted SHA-256")

    @model_validator(mode="after")
    def _readable_extras(self) -> EventData:
        if self.model_extra:
            _readable_values(self.model_extra, "data")
        return self


SubmittedKind = Literal["fill", "dispatch", "receive", "deliver", "collect", "return", "inspect", "scrap", "report"]


class EventIn(Inbound):
    cylinder: Identifier = Field(description="the trace code (any spelling of a valid code is normalised)")
    kind: SubmittedKind
    occurred_at: Moment
    idempotency_key: IdempotencyKey
    to: Identifier | None = Field(None, description="receiving party (dispatch, return) or end-user ref (deliver)")
    person: Identifier | None = None
    location: Location | None = None
    data: EventData = Field(default_factory=EventData)


class NoteOut(Answer):
    """A report's note, kept beside the chain: the chain holds only `sha256` = SHA-256(salt ‖ UTF-8 text)."""

    id: str = Field(description="the note's id (`ledger erase` takes it)")
    sha256: Hex32 = Field(description="the commitment the event's data holds")
    text: str | None = Field(description="the note; null for accounts that may not read notes, and once erased")
    salt: str | None = Field(description="the 32-byte salt, hex; null where text is")
    erased_at: str | None = Field(description="when the text and salt were erased (PIPL art. 47); null: not erased")


class EventOut(Answer):
    id: int
    cylinder: str
    seq: int
    kind: str
    occurred_at: str
    recorded_at: str
    party: str
    person: str | None
    to: str | None
    location: dict[str, float] | None
    data: dict[str, Any]
    idempotency_key: str
    prev_hash: Hex32 | None
    hash: Hex32
    log_index: int | None
    note: NoteOut | None = Field(None, description="a report's note, beside the event (GET answers)")


class Recorded(Answer):
    event: EventOut
    findings: list[dict[str, Any]]


class BatchIn(Inbound):
    # Items are parsed one by one so that one bad item never blocks the others.
    events: list[Any] = Field(min_length=1, max_length=1000,
                              json_schema_extra={"items": {"$ref": "#/components/schemas/EventIn"}})


class BatchItem(Answer):
    index: int
    status: Literal["created", "duplicate", "rejected"]
    event: EventOut | None = None
    error: Problem | None = None


class BatchOut(Answer):
    results: list[BatchItem]


# -- cylinders --------------------------------------------------------------------


class RegistrationIn(Inbound):
    owner: Identifier
    serial: Serial
    manufacturer: Readable
    manufactured_on: Day
    model: readable_text(32)
    tare_kg: Kg
    design_life_years: Annotated[int, Strict(), Field(ge=1, le=30)]
    last_inspected_on: Day
    next_inspection_due: Day
    occurred_at: Moment | None = None
    idempotency_key: IdempotencyKey | None = None


class Registered(Answer):
    id: str
    label_url: str = Field(description="where the printable label image is")
    qr_payload: str = Field(description="the signed URL the label's QR code carries")
    event: EventOut


class CylinderOut(Answer):
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
    life_ends_on: date | None = Field(None, description="end of design service life (forced scrap)")
    holder: str | None
    state: State
    state_since: str
    last_event_at: str
    last_fill_kg: float | None
    chain_length: int
    disputed: bool = Field(False, description="an audit found this cylinder's stored record altered")


# -- proofs -----------------------------------------------------------------------


class InclusionProof(Answer):
    log_index: int
    tree_size: int
    entry_hash: Hex32 = Field(description="the log entry: the event's `hash`")
    leaf_hash: Hex32 = Field(description="the RFC 9162 leaf hash, SHA-256(0x00 || entry), where the audit path starts")
    audit_path: list[Hex32]


class ConsistencyProof(Answer):
    old_size: int
    new_size: int
    proof: list[Hex32]


class BundleProof(Answer):
    log_index: int
    tree_size: int
    audit_path: list[Hex32]


class Dispute(Answer):
    finding: int
    kind: str
    note: str


class Bundle(Answer):
    format: str
    cylinder: str
    checkpoint: str
    events: list[EventOut]
    proofs: list[BundleProof]
    disputed: bool = False  # an audit found this cylinder's stored record altered (docs/audit.md)
    disputes: list[Dispute] = []


class SegmentEventOut(EventOut):
    id: int | None  # none for an event of another city's log


class BundleSegment(Answer):
    origin: str
    checkpoint: str
    events: list[SegmentEventOut]
    proofs: list[BundleProof]


class SegmentsBundle(Answer):
    """``cylinder-ledger/segments/v1``: a chain whose segments live in several cities' logs (docs/regions.md)."""
    format: Literal["cylinder-ledger/segments/v1"]
    cylinder: str
    segments: list[BundleSegment]
    disputed: bool = False
    disputes: list[Dispute] = []


class Health(Answer):
    status: Literal["ok"]
    database: str
