"""The case loop's extras (docs/cases.md): deadlines per severity, escalation of overdue cases (督办),
inspectors' inboxes, photos of handling, and the webhook announcements of each.

Functions take the caller's connection and never begin or commit: the sweeper escalates in a
transaction of its own (``ledger.sweeper``), a request in its own.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Any

from .domain import Role, format_time, parse_time
from .errors import PermissionDenied
from .photos import MAX_PHOTO_BYTES, Photo, photo
from .storage import Connection
from .storage import cases as store
from .storage import findings as finding_rows

__all__ = ["SEVERITIES", "parse_deadlines", "due_at", "on_dispatch", "escalate_overdue", "my_cases", "Photo",
           "photo", "MAX_PHOTOS", "MAX_PHOTO_BYTES", "SYSTEM"]

SEVERITIES = ("critical", "high", "medium", "low")
DEFAULT_DEADLINES = "critical=24h,high=72h,medium=7d,low=14d"
MAX_PHOTOS = 3
SYSTEM = "ledger"
OPEN_FOR_INSPECTOR = ("dispatched", "handled")
_UNITS = {"m": timedelta(minutes=1), "h": timedelta(hours=1), "d": timedelta(days=1)}


def parse_deadlines(text: str) -> dict[str, timedelta]:
    """``critical=24h,high=72h,medium=7d,low=14d``: every severity, a whole number of m, h or d each."""
    found: dict[str, timedelta] = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        match = re.fullmatch(r"(\w+)=(\d{1,5})([mhd])", part)
        if not match or match[1] not in SEVERITIES or int(match[2]) == 0:
            raise ValueError(f"LEDGER_CASE_DEADLINES: {part!r} is not <severity>=<n>m|h|d "
                             f"(severities {', '.join(SEVERITIES)})")
        found[match[1]] = int(match[2]) * _UNITS[match[3]]
    defaults = {} if set(found) == set(SEVERITIES) else parse_deadlines(DEFAULT_DEADLINES)
    return {**defaults, **found}


def due_at(severity: str, dispatched: datetime, deadlines: dict[str, timedelta]) -> str:
    return format_time(dispatched + deadlines[severity])


def on_dispatch(connection: Connection, row, account: str, now: datetime, deadlines: dict[str, timedelta]) -> dict:
    """What a dispatch sets beside the status (a new deadline, not yet escalated), and its announcement."""
    due = due_at(row.severity, now, deadlines)
    case = _case(row, due_at=due, status="dispatched", assignee=account)
    store.enqueue(connection, "case.dispatched", {"event": "case.dispatched", "case": case}, format_time(now))
    return {"due_at": due, "escalated_at": None}


def _case(row, **changed: Any) -> dict[str, Any]:
    case = {"id": row.id, "kind": row.kind, "severity": row.severity, "cylinder": row.cylinder, "party": row.party,
            "region": row.region, "status": row.status, "assignee": row.assignee, "due_at": row.due_at}
    return {**case, **changed}


def escalate_overdue(connection: Connection, now: datetime) -> list[int]:
    """Escalate each dispatched case past its deadline to the supervising regulator (督办), once.

    ``mark_escalated`` sets ``escalated_at`` only where it is still empty, so of two sweepers racing
    (or a sweep repeated) exactly one writes the ``escalate`` step and the ``case.overdue`` announcement.
    """
    at = format_time(now)
    done = []
    for row in store.overdue(connection, at):
        if not store.mark_escalated(connection, row.id, at):
            continue
        finding_rows.add_action(connection, row.id, "escalate", row.status, SYSTEM,
                   f"deadline {row.due_at} passed without handling: escalated to the supervising regulator (督办)",
                   at, row.assignee)
        store.enqueue(connection, "case.overdue", {"event": "case.overdue", "case": _case(row, escalated_at=at)}, at)
        done.append(row.id)
    return done


def my_cases(connection: Connection, actor) -> list:
    """The cases dispatched to the actor's account and not yet closed (an inspector's inbox)."""
    if actor.role is not Role.INSPECTOR or actor.account is None:
        raise PermissionDenied("an inbox of cases is an inspector account's")
    return store.assigned_to(connection, str(actor.account), OPEN_FOR_INSPECTOR)


def count_mine(connection: Connection, actor) -> int:
    if actor.role is not Role.INSPECTOR or actor.account is None:
        return 0
    return store.count_assigned(connection, str(actor.account), OPEN_FOR_INSPECTOR)


def overdue(finding: dict[str, Any], now: datetime) -> bool:
    return finding["status"] == "dispatched" and finding.get("due_at") is not None and (
        finding.get("escalated_at") is not None or parse_time(finding["due_at"]) < now)


def store_photos(connection: Connection, finding_id: int, photos: list[Photo], actor_name: str, at: str) -> None:
    for item in photos:
        store.insert_photo(connection, finding=finding_id, sha256=item.sha256, media_type=item.media_type,
                           data=item.data, added_by=actor_name, created_at=at)


def get_photo(connection: Connection, finding_id: int, sha256: str):
    return store.get_photo(connection, finding_id, sha256)
