"""Storage of the case loop's extras: deadlines and escalation, inspectors' inboxes, photos, the webhook outbox."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import Connection, delete, func, insert, select, update

from . import models as m

__all__ = [
    "overdue", "mark_escalated", "assigned_to", "count_assigned", "insert_photo", "get_photo", "delete_photos",
    "enqueue", "unfanned", "add_job", "mark_fanned", "due_jobs", "job_body", "record_attempt", "deliveries",
]


def overdue(connection: Connection, now: str, limit: int = 500) -> list:
    """Dispatched cases whose deadline has passed and that were not escalated yet, oldest deadline first."""
    f = m.findings.c
    query = (select(m.findings).where(f.status == "dispatched", f.due_at.is_not(None), f.due_at < now,
                                      f.escalated_at.is_(None)).order_by(f.due_at, f.id).limit(limit))
    return list(connection.execute(query))


def mark_escalated(connection: Connection, finding_id: int, at: str) -> bool:
    """Set ``escalated_at`` unless already set; True only for the one caller that set it."""
    f = m.findings.c
    result = connection.execute(update(m.findings).where(f.id == finding_id, f.escalated_at.is_(None),
                                                          f.status == "dispatched").values(escalated_at=at))
    return result.rowcount == 1


def assigned_to(connection: Connection, assignee: str, statuses: tuple[str, ...], limit: int = 200) -> list:
    """Cases of one assignee in the given statuses, nearest deadline first."""
    f = m.findings.c
    query = (select(m.findings).where(f.assignee == assignee, f.status.in_(statuses))
             .order_by(f.due_at.is_(None), f.due_at, f.id).limit(limit))
    return list(connection.execute(query))


def count_assigned(connection: Connection, assignee: str, statuses: tuple[str, ...]) -> int:
    f = m.findings.c
    return connection.execute(select(func.count()).where(f.assignee == assignee, f.status.in_(statuses))).scalar_one()


def insert_photo(connection: Connection, **values: Any) -> None:
    connection.execute(insert(m.case_photos).values(**values))


def get_photo(connection: Connection, finding_id: int, sha256: str):
    p = m.case_photos.c
    return connection.execute(select(p.media_type, p.data).where(p.finding == finding_id, p.sha256 == sha256)
                              .limit(1)).first()


# -- webhooks -----------------------------------------------------------------------------------


def enqueue(connection: Connection, event: str, body: dict[str, Any], at: str) -> None:
    """In the caller's transaction: the announcement is durable exactly when its cause is."""
    connection.execute(insert(m.webhook_outbox).values(event=event, body=json.dumps(body, ensure_ascii=False,
                                                                                    sort_keys=True),
                                                       created_at=at, fanned_out=False))


def unfanned(connection: Connection, limit: int = 200) -> list:
    o = m.webhook_outbox.c
    return list(connection.execute(select(o.id, o.event).where(o.fanned_out.is_(False)).order_by(o.id).limit(limit)))


def add_job(connection: Connection, outbox: int, hook: str, at: str) -> None:
    connection.execute(insert(m.webhook_jobs).values(outbox=outbox, hook=hook, status="pending", attempts=0,
                                                     next_attempt_at=at))


def mark_fanned(connection: Connection, outbox: int) -> bool:
    o = m.webhook_outbox.c
    return connection.execute(update(m.webhook_outbox).where(o.id == outbox, o.fanned_out.is_(False))
                              .values(fanned_out=True)).rowcount == 1


def due_jobs(connection: Connection, now: str, limit: int = 50) -> list:
    j = m.webhook_jobs.c
    return list(connection.execute(select(m.webhook_jobs).where(j.status == "pending", j.next_attempt_at <= now)
                                   .order_by(j.next_attempt_at, j.id).limit(limit)))


def job_body(connection: Connection, job_id: int):
    j, o = m.webhook_jobs.c, m.webhook_outbox.c
    return connection.execute(select(j.id, j.hook, j.attempts, j.status, o.event, o.body)
                              .select_from(m.webhook_jobs.join(m.webhook_outbox, o.id == j.outbox))
                              .where(j.id == job_id)).first()


def record_attempt(connection: Connection, job_id: int, *, hook: str, event: str, attempt: int, at: str,
                   status_code: int | None, error: str | None, ok: bool, status: str, next_at: str) -> None:
    connection.execute(insert(m.webhook_deliveries).values(job=job_id, hook=hook, event=event, attempt=attempt, at=at,
                                                           status_code=status_code, error=error, ok=ok))
    connection.execute(update(m.webhook_jobs).where(m.webhook_jobs.c.id == job_id)
                       .values(status=status, attempts=attempt, next_attempt_at=next_at))


def deliveries(connection: Connection, before_id: int | None, limit: int) -> list:
    d = m.webhook_deliveries.c
    query = select(m.webhook_deliveries).order_by(d.id.desc()).limit(limit)
    if before_id is not None:
        query = query.where(d.id < before_id)
    return list(connection.execute(query))


def delete_photos(connection: Connection, finding_id: int, sha256s: list[str]) -> None:
    """Remove photos of a case (an erased citizen's report's); steps that named them keep the hashes."""
    if sha256s:
        p = m.case_photos.c
        connection.execute(delete(m.case_photos).where(p.finding == finding_id, p.sha256.in_(sha256s)))
