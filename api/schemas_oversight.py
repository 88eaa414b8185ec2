"""The shapes of the three questions, findings and risk lists (CONTRACT.md "The three questions" and on)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import ConfigDict, Field

from ledger.domain import FindingKind, Severity, State

from .schemas import Answer, Inbound, Note

FindingStatus = Literal["open", "dispatched", "handled", "closed", "resolved"]
RiskReason = Literal["overdue_inspection", "inspection_due_soon", "past_design_life", "broken_chain", "vanished",
                     "unregistered", "short_weight", "open_findings"]


class Aliased(Answer):
    model_config = ConfigDict(extra="ignore", populate_by_name=True)


class PartyRef(Answer):
    """A party as the answers name it; kind, name and region are null for an opaque end-user reference."""

    id: str
    kind: str | None
    name: str | None
    region: str | None


class LastFill(Answer):
    station: PartyRef
    at: str
    net_kg: float | None
    event: int | None


class Origin(Answer):
    owner: PartyRef
    last_fill: LastFill | None


class CustodySpan(Aliased):
    holder: PartyRef
    from_: str = Field(alias="from")
    until: str | None
    events: list[int | None] = Field(description="the events' ids in this log; null for an event another "
                                                  "city's log holds (see chain.events)")


class Current(Answer):
    holder: PartyRef | None
    state: State
    since: str


class Responsible(Answer):
    now: PartyRef | None
    first_responsible: PartyRef


class Chain(Answer):
    status: Literal["intact", "broken"]
    length: int
    head: str
    breaks: list[dict[str, Any]]
    events: list[dict[str, Any]] = Field([], description=(
        "each event of the chain by seq: `seq`, `kind`, `log` (the origin of the log that holds it) and `id` "
        "(its id in this log; null when another city's log holds it, docs/regions.md)"))


class FindingStep(Answer):
    id: int | None = Field(None, description="the step's id; `ledger erase A<id>` erases its note")
    action: str
    status: str
    actor: str
    assignee: str | None
    note: str = Field(description="empty once erased")
    at: str
    erased_at: str | None = Field(None, description="when the note was erased (PIPL art. 47)")
    evidence: dict[str, Any] | None = Field(None, description=(
        "a system step's note as data: `code` and its parameters (docs/api.md, Evidence); null for steps "
        "people took and for steps recorded before evidence was kept"))
    photos: list[str] = Field([], description="SHA-256 (hex) of each photo the step brought; "
                                              "GET /v1/findings/{id}/photos/{sha256}")


class FindingOut(Answer):
    id: int
    kind: FindingKind
    severity: Severity
    cylinder: str | None
    party: str | None
    region: str | None
    events: list[int]
    note: str = Field(description="what was found, in English, with ids and UTC times (kept for compatibility)")
    evidence: dict[str, Any] | None = Field(None, description=(
        "what was found, as data: `code` and its parameters (docs/api.md, Evidence); null for findings "
        "recorded before evidence was kept"))
    detected_at: str
    status: FindingStatus
    assignee: str | None = Field(description="the account id the finding was dispatched to, as text "
                                             "(findings dispatched by name in earlier versions hold the name)")
    resolved_by: int | None
    due_at: str | None = Field(None, description="the deadline the last dispatch set (docs/cases.md)")
    escalated_at: str | None = Field(None, description="when the deadline passed unhandled and the case was "
                                                       "escalated to the supervising regulator (督办)")
    history: list[FindingStep]


class FindingCounts(Answer):
    """How many findings the filters select, counted by the city's database (docs/api.md)."""

    total: int = Field(description="the findings `GET /v1/findings` lists under the same filters")
    by_status: dict[FindingStatus, int] = Field(description="every status, 0 where none")
    by_kind: dict[FindingKind, int] = Field(description="every kind, 0 where none")
    by_severity: dict[Severity, int] = Field(description="every severity, 0 where none")


class DeliveryOut(Answer):
    id: int
    job: int
    hook: str
    event: str
    attempt: int
    at: str
    status_code: int | None
    error: str | None
    ok: bool


class TraceOut(Answer):
    cylinder: dict[str, Any] = Field(description="registration facts, projection and whether it is in date")
    origin: Origin
    custody: list[CustodySpan]
    current: Current
    responsible: Responsible
    chain: Chain
    findings: list[FindingOut]


class ResponsibleAt(Aliased):
    party: PartyRef
    from_: str = Field(alias="from")
    until: str | None
    event: int | None


class FindingActionIn(Inbound):
    action: Literal["dispatch", "handle", "supervise", "close", "reopen"]
    assignee: Annotated[int, Field(strict=True, ge=1, le=2**31 - 1, description=(
        "dispatch: the account id of an enabled inspector account of a regulator party that is none of "
        "the finding's own parties"))] | None = None
    note: Note


class RiskCylinder(Answer):
    """One cylinder on a risk list; an unregistered code carries where and when it was scanned instead."""

    cylinder: str | None
    reason: RiskReason
    owner: str | None = None
    region: str | None = None
    model: str | None = None
    serial: str | None = None
    state: str | None = None
    holder: str | None = None
    next_inspection_due: str | None = None
    life_ends_on: str | None = None
    last_event_at: str | None = None
    scanned_by: str | None = None
    detected_at: str | None = None
    finding: int | None = None
    status: str | None = None


class EnterpriseParty(PartyRef):
    home: str | None = None  # the peer city it is homed in (LEDGER_PEERS), when not this one (docs/regions.md)


class RiskEnterprise(Answer):
    party: EnterpriseParty
    colour: Literal["green", "yellow", "red"]
    score: float
    cylinders: int
    reasons: list[str]
