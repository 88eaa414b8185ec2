"""Oversight services: the three questions, findings and their closed loop, risk lists (``ledger.oversight``)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from functools import cached_property

from .. import cases, oversight
from ..errors import InvalidInput
from ..rules import RulesConfig
from ..audit import DISPUTING
from ..storage import Connection
from ..storage import audit as audit_rows
from ..storage import findings as finding_rows
from ..supervision import DatabaseRegistry
from .judge import judge
from .types import Actor, _now

__all__ = ["OversightService"]

_DEFAULTS = RulesConfig()


class OversightService:
    """Part of ``Ledger``: what regulators and inspectors ask."""

    @property
    def rules_config(self) -> RulesConfig:
        """The limits the rules judge with; the defaults when the ledger has no judge."""
        return self.judge.config if self.judge is not None else _DEFAULTS

    def registry(self, connection: Connection):
        """The parties and people as the rules read them, in this transaction."""
        return self.judge.registry(connection) if self.judge is not None else DatabaseRegistry(connection)

    # -- the three questions, findings, risk lists (ledger.oversight) ---------

    def disputes(self, connection: Connection, cylinder: str) -> list[dict[str, Any]]:
        """The open findings by which an audit disputes the cylinder's stored record (docs/audit.md)."""
        return audit_rows.disputes_of(connection, cylinder, DISPUTING)

    def trace(self, connection: Connection, cylinder: str) -> dict[str, Any]:
        return oversight.trace(self, connection, cylinder, self.registry(connection), self.rules_config)

    def responsible_at(self, connection: Connection, cylinder: str, at: datetime) -> dict[str, Any]:
        return oversight.responsible_at(self, connection, cylinder, at, self.registry(connection),
                                        self.rules_config)

    def finding(self, connection: Connection, finding_id: int) -> dict[str, Any]:
        return oversight.finding(self, connection, finding_id)

    def findings(self, connection: Connection, **filters: Any) -> dict[str, Any]:
        return oversight.findings(self, connection, **filters)

    def finding_counts(self, connection: Connection, **filters: Any) -> dict[str, Any]:
        return oversight.finding_counts(self, connection, **filters)

    def finding_action(self, connection: Connection, actor: Actor, finding_id: int, *, action: str, note: str,
                       assignee: int | str | None = None, now: datetime | None = None,
                       photos: list[bytes] = ()) -> dict[str, Any]:
        """One step of the closed loop; ``photos`` (a handling's, raw JPEG or PNG bytes) are checked first."""
        if len(photos) > cases.MAX_PHOTOS:
            raise InvalidInput(f"at most {cases.MAX_PHOTOS} photos a handling", field="photos")
        checked = [cases.photo(data, keep_gps=self.settings.photo_gps == "keep") for data in photos]
        return oversight.act_on_finding(self, connection, actor, finding_id, action=action, note=note,
                                        assignee=assignee, now=now or _now(), photos=checked)

    def inspectors(self, connection: Connection, region: str | None = None) -> list[dict[str, Any]]:
        """The accounts findings may be dispatched to: ``{account, name, party, region, local}`` each,
        those of ``region`` first."""
        return oversight.inspectors(self, connection, region)

    @cached_property
    def case_deadlines(self):
        """Per severity, how long a dispatched case has (``LEDGER_CASE_DEADLINES``)."""
        return cases.parse_deadlines(self.settings.case_deadlines)

    def my_cases(self, connection: Connection, actor: Actor) -> list[dict[str, Any]]:
        """The open cases dispatched to an inspector's account, nearest deadline first."""
        rows = cases.my_cases(connection, actor)
        history = finding_rows.actions_of(connection, [row.id for row in rows])
        return [oversight._finding_json(row, history[row.id]) for row in rows]

    def count_my_cases(self, connection: Connection, actor: Actor) -> int:
        return cases.count_mine(connection, actor)

    def case_photo(self, connection: Connection, finding_id: int, sha256: str):
        """(media type, bytes) of a photo of a case's handling, or None."""
        return cases.get_photo(connection, finding_id, sha256)

    def escalate_overdue(self, connection: Connection, now: datetime | None = None) -> list[int]:
        """Escalate, in the caller's transaction, the dispatched cases past their deadline; returns their ids."""
        return cases.escalate_overdue(connection, now or _now())

    def risk_cylinders(self, connection: Connection, **filters: Any) -> dict[str, Any]:
        return oversight.risk_cylinders(self, connection, self.rules_config, **filters)

    def risk_enterprises(self, connection: Connection, **filters: Any) -> list[dict[str, Any]]:
        return oversight.risk_enterprises(self, connection, self.rules_config, **filters)

    def review(self, connection: Connection, now: datetime | None = None, limit: int = 200) -> int:
        """Judge, in the caller's transaction, up to ``limit`` cylinders left queued; returns for how many a
        judgement was stored (the reviewer and the sweeper do this in short transactions of their own)."""
        if self.judge is None:
            return 0
        now = now or _now()
        return judge(self.judge, connection, self.judge.queued(connection, now, limit), now).stored

    def review_backlog(self, connection: Connection) -> tuple[int, str | None]:
        """Cylinders waiting for review, and since when the oldest has."""
        return finding_rows.review_backlog(connection)

    def sweep(self, connection: Connection, now: datetime | None = None) -> int:
        """Judge, in the caller's transaction, the cylinders only the clock can turn into findings (vanished,
        unconfirmed); returns how many were examined (the sweeper, ``ledger.sweeper``, does it in chunks)."""
        if self.judge is None:
            return 0
        now = now or _now()
        work = self.judge.due(connection, now)
        for piece in work.chunks(500):
            # Locked before they are read (PostgreSQL), in the appenders' order: in one transaction no
            # reviewer can store a newer judgement between this one's reading and its storing.
            self.lock_cylinders(connection, piece.cylinders)
            judge(self.judge, connection, piece, now)
        return len(work)

