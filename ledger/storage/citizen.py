"""Queries of citizens' reports (ledger.citizen): kept beside the chain, counted by the rate limits."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, func, insert, select, update

from . import models as m

__all__ = ["lock_counted", "insert_report", "by_tracking", "of_finding", "count_from", "count_about", "foldable", "erase_report",
           "get_report"]


# The class of the PostgreSQL advisory locks that serialise reports counted together ("rpt"); the
# log's lock is a single key (ledger.storage.db.LOG_LOCK), these take two.
_REPORT_LOCKS = 0x727074


def lock_counted(connection: Connection, keys: Sequence[bytes]) -> None:
    """Hold, until the transaction ends, a lock per sender and cylinder a report is counted against, so
    two reports racing past the last free place of a limit (or to open the same case) take turns.
    PostgreSQL only: SQLite's writers already take turns (``Database.writing``). Taken in sorted order."""
    if connection.dialect.name != "postgresql":
        return
    for key in sorted({int.from_bytes(hashlib.sha256(k).digest()[:4], "big", signed=True) for k in keys}):
        connection.exec_driver_sql(f"SELECT pg_advisory_xact_lock({_REPORT_LOCKS}, {key})")


def insert_report(connection: Connection, *, photos: Sequence[str], **values: Any) -> int:
    values["photos"] = json.dumps(list(photos)) if photos else None
    return connection.execute(insert(m.citizen_reports).values(**values)).inserted_primary_key[0]


def by_tracking(connection: Connection, tracking_hash: bytes):
    r = m.citizen_reports.c
    return connection.execute(select(m.citizen_reports).where(r.tracking_hash == tracking_hash)).first()


def get_report(connection: Connection, report_id: int):
    return connection.execute(select(m.citizen_reports).where(m.citizen_reports.c.id == report_id)).first()


def of_finding(connection: Connection, finding_id: int) -> list:
    """The reports of one case, oldest first (the one that opened it, then those folded into it)."""
    r = m.citizen_reports.c
    return list(connection.execute(select(m.citizen_reports).where(r.finding == finding_id).order_by(r.id)))


def count_from(connection: Connection, address_hash: bytes, since: str) -> int:
    r = m.citizen_reports.c
    return connection.execute(select(func.count()).where(r.address_hash == address_hash,
                                                         r.created_at >= since)).scalar_one()


def count_about(connection: Connection, cylinder: str, since: str) -> int:
    r = m.citizen_reports.c
    return connection.execute(select(func.count()).where(r.cylinder == cylinder, r.created_at >= since)).scalar_one()


def foldable(connection: Connection, cylinder: str, category: str, since: str, open_statuses: Sequence[str]):
    """The newest case a report of this cylinder and category opened since ``since`` and still open, or None."""
    r, f = m.citizen_reports.c, m.findings.c
    query = (select(f.id).select_from(m.citizen_reports.join(m.findings, f.id == r.finding))
             .where(r.cylinder == cylinder, r.category == category, r.created_at >= since,
                    f.status.in_(list(open_statuses)))
             .order_by(r.id.desc()).limit(1))
    return connection.execute(query).scalar_one_or_none()


def erase_report(connection: Connection, report_id: int, at: str) -> None:
    """Remove a report's text, salt and contact; its commitment stays, as the case's evidence holds it."""
    connection.execute(update(m.citizen_reports).where(m.citizen_reports.c.id == report_id)
                       .values(text=None, salt=None, contact=None, erased_at=at))
