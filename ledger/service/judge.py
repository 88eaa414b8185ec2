"""What the ledger asks of the custody rules: the ``Judge`` a ``Ledger`` is built with.

``ledger.supervision.Supervisor`` is the one implementation; a ``Ledger`` built
without one (``rules=False``, the bare core for benchmarks) checks no custody and
stores no findings, and still answers every question.

There is one way to judge, whoever asks and in whichever transactions its caller
owns: pick the ``Work`` (the cylinders of events just written, the review queue,
or those the clock is due to judge), ``assess`` it in any snapshot, then ``store``
it in a write transaction (``judge`` below does both in one).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any, Protocol

from ..domain import Event, NewEvent, Party, Person
from ..outcomes import Judged, Work
from ..rules import RulesConfig
from ..storage import Connection

__all__ = ["Judge", "Registry", "judge"]


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

    def defer(self, connection: Connection, written: Sequence[Event], now: datetime) -> None:
        """Queue the written events' cylinders for judging after the commit, in this transaction."""

    def unregistered(self, connection: Connection, item: NewEvent, now: datetime) -> None:
        """A well-formed trace code that was never issued was scanned: store the finding."""

    def queued(self, connection: Connection, now: datetime, limit: int = 200,
               settled: timedelta = timedelta(0)) -> Work:
        """Up to ``limit`` cylinders waiting on the review queue (queued at least ``settled`` ago)."""

    def due(self, connection: Connection, now: datetime) -> Work:
        """The cylinders only the clock can have turned into findings."""

    def assess(self, connection: Connection, work: Work, now: datetime) -> Any:
        """Judge ``work``'s cylinders; reads only, so any snapshot will do."""

    def store(self, connection: Connection, assessed: Any, now: datetime) -> Judged:
        """Store what ``assess`` found that still describes each chain, in a write transaction."""


def judge(judge: Judge, connection: Connection, work: Work, now: datetime) -> Judged:
    """Assess ``work`` and store it in the caller's one transaction (a registration, a command)."""
    return judge.store(connection, judge.assess(connection, work, now), now)
