"""The values the ledger's services take and give: who acts, what became of an event, a registration."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, replace
from datetime import date, datetime, timezone
from typing import Any

from ..domain import Paper, Role
from ..outcomes import Outcome
from ..text import readable

__all__ = ["Actor", "Outcome", "Registration", "token_hash"]


def token_hash(token: str) -> bytes:
    # Tokens are 256 random bits, so a plain hash is as strong as a slow one.
    return hashlib.sha256(token.encode()).digest()


@dataclass(frozen=True)
class Actor:
    """Who acts: an account's role and, except for admin and regulator, its one party."""

    role: Role
    party: str | None
    name: str
    account: int | None = None


@dataclass(frozen=True)
class Registration:
    owner: str
    serial: str
    manufacturer: str
    manufactured_on: date
    model: str
    tare_kg: float
    design_life_years: int
    last_inspected_on: date
    next_inspection_due: date
    occurred_at: datetime | None = None
    idempotency_key: str | None = None

    def facts(self) -> dict[str, Any]:
        return {
            "owner": self.owner, "serial": self.serial, "manufacturer": self.manufacturer,
            "manufactured_on": self.manufactured_on.isoformat(), "model": self.model,
            "tare_kg": self.tare_kg, "design_life_years": self.design_life_years,
            "last_inspected_on": self.last_inspected_on.isoformat(),
            "next_inspection_due": self.next_inspection_due.isoformat(),
        }



def _now() -> datetime:
    return datetime.now(timezone.utc)


def _text(value: Any, name: str, limit: int) -> str:
    return readable(value, name, max_length=limit)


def _paper(paper: Paper | None, name: str) -> Paper | None:
    """A licence or certificate whose number is readable text (it is printed and compared by eye)."""
    return None if paper is None else replace(paper, number=readable(paper.number, f"{name}.number", max_length=64))
