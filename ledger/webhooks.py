"""Webhooks (docs/cases.md): the outbox's announcements delivered to a city's gateways, signed.

``LEDGER_WEBHOOKS`` names a file of one hook a line, ``<name> <url> <secret> <events>``
(events comma-separated among ``EVENTS``; a line starting with ``#`` is a comment). The events are written to
``webhook_outbox`` in the transaction of what caused them (``ledger.storage.cases.enqueue``),
so a crash loses none. The ``Deliverer`` is a named background worker and owns its
transactions: it fans each announcement out to one job per subscribed hook, POSTs the JSON
body with ``X-Ledger-Signature: sha256=<hex HMAC-SHA256(secret, body)>``, and logs every
attempt in ``webhook_deliveries``; a failed attempt is retried after 30 s, 60 s, 120 s, …
(doubling, at most 6 h apart) until ``MAX_ATTEMPTS``, then the job is ``failed``.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import TYPE_CHECKING

import httpx

from . import outbound
from .domain import format_time
from .errors import Unavailable
from .sealing import SealBroken
from .storage import cases as store

if TYPE_CHECKING:
    from .service import Ledger

__all__ = ["EVENTS", "Hook", "load_hooks", "sign", "Deliverer", "MAX_ATTEMPTS"]

EVENTS = ("finding.critical", "case.dispatched", "case.overdue", "end_user.code")
# Announcements that carry personal data wait in the outbox sealed with the personal-data key
# (ledger.sealing) and are opened only to be sent.
SEALED = frozenset({"end_user.code"})
MAX_ATTEMPTS = 10
FIRST_RETRY = timedelta(seconds=30)
LONGEST_WAIT = timedelta(hours=6)
TIMEOUT = 10.0


@dataclass(frozen=True)
class Hook:
    name: str
    url: str
    secret: bytes
    events: frozenset[str]


def load_hooks(path: Path | None) -> dict[str, Hook]:
    """The hooks of the file at ``path`` (none without one); a malformed line is a ValueError naming it."""
    if path is None:
        return {}
    hooks: dict[str, Hook] = {}
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        parts = line.split()
        events = set(parts[3].split(",")) if len(parts) == 4 else set()
        if (len(parts) != 4 or not re.fullmatch(r"[A-Za-z0-9_.-]{1,64}", parts[0])
                or not re.match(r"https?://", parts[1]) or len(parts[2]) < 16 or not events <= set(EVENTS)):
            raise ValueError(f"{path}:{number}: expected <name> <url> <secret of 16+ characters> "
                             f"<events among {','.join(EVENTS)}>")
        if parts[0] in hooks:
            raise ValueError(f"{path}:{number}: hook {parts[0]} is named twice")
        hooks[parts[0]] = Hook(parts[0], parts[1], parts[2].encode(), frozenset(events))
    return hooks


def sign(secret: bytes, body: bytes) -> str:
    """The ``X-Ledger-Signature`` value: ``sha256=`` and the hex HMAC-SHA256 (RFC 2104) of the body."""
    return "sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest()


def backoff(attempt: int) -> timedelta:
    """How long after the ``attempt``-th failure the next try comes."""
    return min(FIRST_RETRY * 2 ** (attempt - 1), LONGEST_WAIT)


class Deliverer:
    """Delivers what the outbox holds; ``run`` once, or every few seconds (``api.delivering``)."""

    def __init__(self, ledger: Ledger, hooks: dict[str, Hook] | None = None,
                 client: httpx.Client | None = None) -> None:
        self.ledger = ledger
        self.hooks = load_hooks(ledger.settings.webhooks_file) if hooks is None else hooks
        self.client = client or outbound.client(timeout=TIMEOUT, follow_redirects=False)

    def run(self, now: datetime | None = None) -> int:
        """Fan out new announcements, then try every job that is due; returns how many were tried."""
        now = now or datetime.now(timezone.utc)
        self.fan_out(now)
        with self.ledger.db.reading() as connection:
            due = [row.id for row in store.due_jobs(connection, format_time(now))]
        for job in due:
            self.attempt(job, now)
        return len(due)

    def fan_out(self, now: datetime) -> None:
        with self.ledger.db.reading() as connection:  # most rounds find nothing: no write lock for them
            if not store.unfanned(connection, limit=1):
                return
        with self.ledger.db.writing() as connection:
            for outbox, event in store.unfanned(connection):
                if not store.mark_fanned(connection, outbox):  # another process fanned it out
                    continue
                for hook in self.hooks.values():
                    if event in hook.events:
                        store.add_job(connection, outbox, hook.name, format_time(now))

    def attempt(self, job_id: int, now: datetime) -> None:
        with self.ledger.db.reading() as connection:
            job = store.job_body(connection, job_id)
        if job is None or job.status != "pending":
            return
        hook = self.hooks.get(job.hook)
        attempt = job.attempts + 1
        status_code, error = None, None
        body = None
        if hook is None:
            error = f"hook {job.hook} is no longer configured"
        else:
            try:
                body = self.opened(job.event, job.body)
            except (SealBroken, Unavailable, ValueError) as broken:
                error, hook = f"the sealed announcement does not open: {broken}"[:500], None
        if body is not None and hook is not None:
            stamp = str(int(now.timestamp()))
            headers = {"Content-Type": "application/json", "X-Ledger-Event": job.event,
                       "X-Ledger-Delivery": str(job.id), "X-Ledger-Timestamp": stamp,
                       "X-Ledger-Signature": sign(hook.secret, body)}
            try:  # outside any transaction: a slow gateway holds no lock
                status_code = self.client.post(hook.url, content=body, headers=headers).status_code
                if not 200 <= status_code < 300:
                    error = f"answered {status_code}"
            except httpx.HTTPError as failure:
                error = f"{type(failure).__name__}: {failure}"[:500]
        ok = error is None
        status = "delivered" if ok else ("failed" if attempt >= MAX_ATTEMPTS or hook is None else "pending")
        with self.ledger.db.writing() as connection:
            store.record_attempt(connection, job_id, hook=job.hook, event=job.event, attempt=attempt,
                                 at=format_time(now), status_code=status_code, error=error, ok=ok, status=status,
                                 next_at=format_time(now + (timedelta(0) if ok else backoff(attempt))))

    def opened(self, event: str, body: str) -> bytes:
        """The body as sent: a sealed announcement opened with the personal-data key."""
        if event not in SEALED:
            return body.encode()
        sealed = bytes.fromhex(json.loads(body)["sealed"])
        message = self.ledger.personal_keys.open("webhook:" + event, sealed)
        return json.dumps(message, ensure_ascii=False, sort_keys=True).encode()

    def close(self) -> None:
        self.client.close()


def deliveries(ledger: Ledger, connection, cursor: str | None, limit: int) -> dict:
    """The delivery log, newest first (an admin's view)."""
    before = ledger.cursors.read(cursor, "deliveries")
    rows = store.deliveries(connection, before, limit + 1)
    more = len(rows) > limit
    rows = rows[:limit]
    items = [{"id": r.id, "job": r.job, "hook": r.hook, "event": r.event, "attempt": r.attempt, "at": r.at,
              "status_code": r.status_code, "error": r.error, "ok": r.ok} for r in rows]
    return {"items": items, "next_cursor": ledger.cursors.issue("deliveries", rows[-1].id) if more else None}
