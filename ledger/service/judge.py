"""What the ledger asks of the custody rules: the ``Judge`` a ``Ledger`` is built with.

``ledger.supervision.Supervisor`` is the one implementation; a ``Ledger`` built
without one (``rules=False``, the bare core for benchmarks) checks no custody and
stores no findings, and still answers every question.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any, Protocol

from ..domain import Event, NewEvent, Party, Person
from ..rules import RulesConfig
from ..storage import Connection

__all__ = ["Judge", "Registry"]


class Registry(Protocol):
    """The parties and people the rules read."""

    def party(self, id: str) -> Party | None: ...

    def person(self, id: str) -> Person | None: ...


class Judge(Protocol):
    config: RulesConfig

    def registry(self, connection: Connection) -> Registry:
        """The registry as the rules read it, in this transaction."""

    def registry_changed(self) -> None:
        """This process changed a party or a person: forget what was read of them."""

    def authorize(self, connection: Connection, actor: Any, item: NewEvent) -> None:
        """Raise the reason no account of ``actor``'s party could record ``item``."""

    def after_append(self, connection: Connection, written: Sequence[Event], now: datetime) -> dict[int, list]:
        """Judge the written events' cylinders in this transaction; per event id, the findings it is evidence of."""

    def defer(self, connection: Connection, written: Sequence[Event], now: datetime) -> None:
        """Queue the written events' cylinders for judging after the commit, in this transaction."""

    def unregistered(self, connection: Connection, item: NewEvent, now: datetime) -> None:
        """A well-formed trace code that was never issued was scanned: store the finding."""

    def assess_written(self, connection: Connection, written: Sequence[Event], now: datetime) -> Any:
        """Judge the queued cylinders of committed events; reads only."""

    def store_written(self, connection: Connection, written: Sequence[Event], assessed: Any,
                      now: datetime) -> dict[int, list]:
        """Store what ``assess_written`` found, in a write transaction; what ``after_append`` returns."""

    def assess_queued(self, connection: Connection, now: datetime, limit: int = 200,
                      settled: timedelta = timedelta(0)) -> Any:
        """Judge up to ``limit`` cylinders from the review queue; reads only."""

    def apply_review(self, connection: Connection, assessed: Any, now: datetime) -> int:
        """Store what ``assess_queued`` found, in a write transaction; for how many cylinders."""

    def sweep(self, connection: Connection, now: datetime) -> int:
        """Judge the cylinders only the clock can turn into findings; how many."""

    def review(self, connection: Connection, now: datetime, limit: int = 200) -> int:
        """``assess_queued`` and ``apply_review`` in one transaction; how many."""

