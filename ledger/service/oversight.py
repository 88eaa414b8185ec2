"""Oversight services: the three questions, findings and their closed loop, risk lists (``ledger.oversight``)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from .. import oversight
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

    def finding_action(self, connection: Connection, actor: Actor, finding_id: int, *, action: str, note: str,
                       assignee: int | str | None = None, now: datetime | None = None) -> dict[str, Any]:
        return oversight.act_on_finding(self, connection, actor, finding_id, action=action, note=note,
                                        assignee=assignee, now=now or _now())

    def inspectors(self, connection: Connection) -> list[dict[str, Any]]:
        """The accounts findings may be dispatched to: ``{account, name, party}`` each."""
        return oversight.inspectors(self, connection)

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

