"""From the ledger's values to the API's JSON, and from request bodies to the ledger's values."""

from __future__ import annotations

import dataclasses
import enum
import json
from datetime import date, datetime
from typing import Any

from fastapi.responses import JSONResponse
from pydantic import ValidationError
from pydantic_core import to_json

from ledger import tracecode
from ledger.domain import EventKind, Location, NewEvent, Paper, Party, Person, check_identifier, format_time
from ledger.errors import InvalidInput, LedgerError
from ledger.service import Actor, Ledger, Outcome
from ledger.wire import event_json
from scanners.payload import label_url

from . import permissions
from .errors import ledger_problem, validation_errors
from .schemas import EventIn

__all__ = [
    "FastJSON", "ItemInvalid", "party_json", "person_json", "paper_json", "outcome_json", "finding_json",
    "cylinder_code", "new_event", "parse_item", "batch_item", "label_links",
]


class ItemInvalid(InvalidInput):
    """A batch item that does not match the schema; ``errors`` lists every field at fault."""

    def __init__(self, errors: list[dict[str, str]]) -> None:
        first = errors[0] if errors else {"field": "body", "message": "invalid"}
        super().__init__(f"{first['field']}: {first['message']}", field=first["field"])
        self.errors = errors


class FastJSON(JSONResponse):
    """A JSON answer rendered by pydantic-core: compact UTF-8 as ``JSONResponse`` writes it, in a fraction of
    the time for an answer as long as a batch's (500 events: 0.5 ms instead of 1.6 ms). The answers it renders
    hold only finite numbers (``Ledger.admit`` refuses others); were one not, it would be written as null."""

    def render(self, content: Any) -> bytes:
        return to_json(content, inf_nan_mode="null")


def paper_json(paper: Paper | None) -> dict[str, Any] | None:
    return None if paper is None else {"number": paper.number, "valid_until": paper.valid_until.isoformat()}


def party_json(party: Party) -> dict[str, Any]:
    return {"id": party.id, "kind": party.kind.value, "name": party.name, "region": party.region,
            "licence": paper_json(party.licence), "parent": party.parent, "home": party.home}


def person_json(person: Person) -> dict[str, Any]:
    return {"id": person.id, "party": person.party, "name": person.name, "role": person.role.value,
            "certificate": paper_json(person.certificate)}


def finding_json(finding: Any) -> dict[str, Any]:
    """A finding from the custody rules, whatever value type they chose, as plain JSON."""
    if hasattr(finding, "as_dict"):
        finding = finding.as_dict()
    elif dataclasses.is_dataclass(finding):
        finding = dataclasses.asdict(finding)
    return json.loads(json.dumps(finding, default=_plain))


def _plain(value: Any) -> Any:
    if isinstance(value, datetime):
        return format_time(value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, (bytes, bytearray)):
        return value.hex()
    if isinstance(value, (set, frozenset, tuple)):
        return list(value)
    return str(value)


def outcome_json(outcome: Outcome) -> dict[str, Any]:
    return {"event": event_json(outcome.event), "findings": [finding_json(f) for f in outcome.findings]}


def cylinder_code(text: str) -> str:
    """A valid trace code in its canonical spelling; any other identifier as given (it will not be found).

    Raises ``InvalidInput`` for text no cylinder could be named by (a NUL, a space, a slash), which
    must not reach a query: PostgreSQL refuses NUL in text.
    """
    try:
        return tracecode.normalize(text)
    except tracecode.TraceCodeError:
        return check_identifier(text, "cylinder")


def label_links(ledger: Ledger, code: str) -> dict[str, str]:
    """Where a cylinder's label image is, and the signed URL its QR code carries."""
    base = ledger.settings.base_url
    return {"label_url": f"{base}/v1/cylinders/{code}/label.svg", "qr_payload": label_url(base, code, ledger.label_key)}


def new_event(body: EventIn, actor: Actor) -> NewEvent:
    """The event to record for ``actor``'s party (``Ledger.admit`` refuses data that cannot be encoded)."""
    kind = EventKind(body.kind)
    party = permissions.check_kind(actor, kind)
    data = body.data.model_dump(mode="json", exclude_unset=True)
    location = None if body.location is None else Location(body.location.lat, body.location.lon)
    return NewEvent(cylinder_code(body.cylinder), kind, body.occurred_at, party, body.idempotency_key,
                    to=body.to, person=body.person, location=location, data=data)


def parse_item(raw: Any, actor: Actor) -> NewEvent | LedgerError:
    """One batch item, parsed on its own: the event, or the reason it cannot be one."""
    try:
        return new_event(EventIn.model_validate(raw), actor)
    except ValidationError as error:
        return ItemInvalid(validation_errors(error.errors(include_url=False)))
    except LedgerError as error:
        return error


def batch_item(index: int, outcome: Outcome) -> dict[str, Any]:
    item: dict[str, Any] = {"index": index, "status": outcome.status}
    if outcome.event is not None:
        item["event"] = event_json(outcome.event)
    if outcome.error is not None:
        problem = ledger_problem(outcome.error)
        if isinstance(outcome.error, ItemInvalid):
            problem["errors"] = outcome.error.errors
        item["error"] = problem
    return item
