"""Citizens' reports as the API and the pages ask for them (``ledger.citizen``; docs/citizens.md)."""

from __future__ import annotations

from datetime import datetime
from functools import cached_property
from typing import Any

from .. import citizen
from ..domain import Role
from ..errors import NotFound, PermissionDenied
from ..storage import Connection
from ..storage import findings as finding_rows
from .types import Actor, _now

__all__ = ["CitizenService"]


class CitizenService:
    """Part of ``Ledger``: what a citizen sends and asks without signing in, and what a case's handlers read."""

    @cached_property
    def report_limits(self) -> citizen.Limits:
        """The rate limits and fold window of ``LEDGER_REPORT_LIMITS``."""
        return citizen.parse_limits(self.settings.report_limits)

    def submit_report(self, connection: Connection, *, category: Any, text: Any, address: str,
                      cylinder: Any = None, contact: Any = None, photos: list[bytes] | tuple = (),
                      now: datetime | None = None) -> str:
        """Take a citizen's report from ``address`` (the client's IP address, never stored as it is); returns
        its tracking code."""
        sent = citizen.Sent(category=category, text=text, cylinder=cylinder, contact=contact, photos=tuple(photos))
        keyed = citizen.address_hash(self.label_key.private_bytes_raw(), address)
        return citizen.submit(connection, sent, address=keyed, limits=self.report_limits, now=now or _now())

    def report_tracking(self, connection: Connection, code: Any) -> dict[str, Any]:
        """What the tracking code's holder may see of the report's case: steps and outcome, no person."""
        return citizen.tracking(connection, code)

    def case_reports(self, connection: Connection, actor: Actor, finding_id: int) -> list[dict[str, Any]]:
        """The citizens' reports of a case with their text and contact: for regulators, and for the inspector
        the case is dispatched to."""
        if finding_rows.get_finding(connection, finding_id) is None:
            raise NotFound(f"no finding {finding_id}")
        if not may_read_reports(connection, actor, finding_id):
            raise PermissionDenied("only regulators and the inspector handling the case read its citizens' reports")
        return citizen.reports_of(connection, finding_id)


def may_read_reports(connection: Connection, actor: Actor, finding_id: int) -> bool:
    if actor.role is Role.REGULATOR:
        return True
    if actor.role is Role.INSPECTOR and actor.account is not None:
        row = finding_rows.get_finding(connection, finding_id)
        return row is not None and row.assignee == str(actor.account)
    return False
