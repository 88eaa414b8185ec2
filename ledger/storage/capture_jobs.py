"""EPCIS capture jobs as rows: stored, claimed under a lease, advanced chunk by chunk, finished, read.

A job is claimed by one process at a time: a conditional UPDATE moves it to
``running`` with a lease; the worker renews the lease with every chunk it
records. A job whose lease ran out (its process died) is claimed again by the
next worker that looks, and resumes from ``done``. Each chunk's outcomes are a
row of ``capture_results``, written in the same transaction that advances
``done``, so the two never disagree.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import (
    Column, Connection, ForeignKey, Integer, LargeBinary, String, Table, Text, and_, func, or_, select, update,
)

from ..domain import format_time
from .models import TIME, metadata

__all__ = ["JobRow", "QUEUED", "RUNNING", "FINISHED", "insert_job", "any_open", "claim_job", "advance_job", "finish_job",
           "job_by_id", "job_results"]

capture_jobs = Table(
    "capture_jobs",
    metadata,
    Column("id", String(24), primary_key=True),
    Column("account", Integer, ForeignKey("accounts.id"), nullable=True, index=True),
    Column("role", String(32), nullable=False),
    Column("party", String(64), nullable=True),
    Column("actor_name", String(200), nullable=False),
    Column("received_at", TIME, nullable=False),
    Column("started_at", TIME, nullable=True),
    Column("finished_at", TIME, nullable=True),
    Column("status", String(16), nullable=False),
    Column("lease_until", TIME, nullable=True),
    Column("attempts", Integer, nullable=False),
    Column("digest", LargeBinary(32), nullable=False),
    Column("total", Integer, nullable=False),
    Column("done", Integer, nullable=False),
    Column("events", Text, nullable=False),
)

capture_results = Table(
    "capture_results",
    metadata,
    Column("job", String(24), ForeignKey("capture_jobs.id"), primary_key=True),
    Column("first", Integer, primary_key=True),
    Column("results", Text, nullable=False),
)

QUEUED, RUNNING, FINISHED = "queued", "running", "finished"


def _json(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


@dataclass(frozen=True)
class JobRow:
    id: str
    account: int | None
    role: str
    party: str | None
    actor_name: str
    received_at: str
    started_at: str | None
    finished_at: str | None
    status: str
    lease_until: str | None
    attempts: int
    digest: bytes
    total: int
    done: int
    events: dict[str, Any] | None = None  # read only for the worker


def insert_job(connection: Connection, *, id: str, account: int | None, role: str, party: str | None,
               actor_name: str, received_at: datetime, digest: bytes, events: dict[str, Any]) -> None:
    """``events``: ``{"@context": ..., "eventList": [...]}``, the document's events and the context they are read in."""
    connection.execute(capture_jobs.insert().values(
        id=id, account=account, role=role, party=party, actor_name=actor_name,
        received_at=format_time(received_at), status=QUEUED, attempts=0, digest=digest, total=len(events["eventList"]),
        done=0, events=_json(events)))


def _open(stamp: str):
    return or_(capture_jobs.c.status == QUEUED,
               and_(capture_jobs.c.status == RUNNING, capture_jobs.c.lease_until < stamp))


def any_open(connection: Connection, now: datetime) -> bool:
    """Whether some job waits to be claimed: read first, so an idle worker never takes the write lock."""
    return connection.execute(select(capture_jobs.c.id).where(_open(format_time(now))).limit(1)).first() is not None


def claim_job(connection: Connection, now: datetime, lease_until: datetime) -> JobRow | None:
    """The oldest job that is queued or whose worker's lease ran out, now leased to the caller; or None."""
    stamp = format_time(now)
    open_ = _open(stamp)
    candidates = connection.execute(
        select(capture_jobs.c.id).where(open_).order_by(capture_jobs.c.received_at).limit(5)).scalars().all()
    for job_id in candidates:
        # Conditional: of two processes that both saw the job open, only one moves it.
        claimed = connection.execute(
            update(capture_jobs).where(capture_jobs.c.id == job_id, open_).values(
                status=RUNNING, lease_until=format_time(lease_until), attempts=capture_jobs.c.attempts + 1,
                started_at=func.coalesce(capture_jobs.c.started_at, stamp))).rowcount
        if claimed:
            return job_by_id(connection, job_id, with_events=True)
    return None


def advance_job(connection: Connection, job_id: str, first: int, results: list[dict[str, Any]],
                lease_until: datetime) -> bool:
    """Store one chunk's outcomes and move ``done`` past it; False when the job is no longer this worker's."""
    moved = connection.execute(
        update(capture_jobs).where(capture_jobs.c.id == job_id, capture_jobs.c.status == RUNNING,
                                   capture_jobs.c.done == first).values(
            done=first + len(results), lease_until=format_time(lease_until))).rowcount
    if moved:
        connection.execute(capture_results.insert().values(job=job_id, first=first, results=_json(results)))
    return bool(moved)


def finish_job(connection: Connection, job_id: str, now: datetime) -> None:
    """Finished: the events are no longer needed (their outcomes stay), the lease is given up."""
    connection.execute(update(capture_jobs).where(capture_jobs.c.id == job_id).values(
        status=FINISHED, finished_at=format_time(now), lease_until=None, events="{}"))


def job_by_id(connection: Connection, job_id: str, *, with_events: bool = False) -> JobRow | None:
    columns = [column for column in capture_jobs.c if with_events or column.name != "events"]
    row = connection.execute(select(*columns).where(capture_jobs.c.id == job_id)).mappings().first()
    if row is None:
        return None
    values = dict(row)
    if with_events:
        values["events"] = json.loads(values["events"])
    return JobRow(**values)


def job_results(connection: Connection, job_id: str) -> list[dict[str, Any]]:
    """Every recorded outcome of the job, in the document's order."""
    rows = connection.execute(select(capture_results.c.results).where(capture_results.c.job == job_id)
                              .order_by(capture_results.c.first)).scalars()
    return [item for text in rows for item in json.loads(text)]
