"""The driver's durable outbox: every scan is on disk before the driver moves on.

An ``Outbox`` is a SQLite file on the handheld (WAL, ``synchronous=FULL``: a
scan that ``add`` returned survives a power cut). Each scan keeps the event it
asks for, the device time with its UTC offset, an optional position and an
idempotency key fixed at scan time, so a scan sent twice is recorded once.

A scan's status moves only forward, and only on the server's answer::

    pending ──► recorded     the server created the event
            ├─► duplicate    the server already had it (an earlier sync got through)
            └─► rejected     refused with a reason; the driver fixes it (new key) or drops it

A scan that was sent at least once and is still pending may already be on the
server, so it can be neither fixed nor dropped until a sync brings its answer.
"""

from __future__ import annotations

import json
import sqlite3
import uuid
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Iterator, Sequence

from ledger import tracecode
from ledger.domain import EventKind, Location, check_identifier, utc
from ledger.errors import InvalidInput

from .errors import ScanNotEditable, ScanNotFound
from .payload import Scan, ScanSource

__all__ = ["STATUSES", "StoredScan", "Outcome", "Outbox", "UNCHANGED"]

STATUSES = ("pending", "recorded", "duplicate", "rejected")
UNCHANGED: Any = object()  # ``fix`` leaves a field as it is unless given a value
# The ledger refuses larger data; refusing it here keeps it out of the outbox entirely.
_MAX_DATA_BYTES = 4096

_SCHEMA = """
CREATE TABLE IF NOT EXISTS scans (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    cylinder TEXT NOT NULL,
    kind TEXT NOT NULL,
    occurred_at TEXT NOT NULL,
    idempotency_key TEXT NOT NULL UNIQUE,
    to_party TEXT,
    person TEXT,
    lat REAL,
    lon REAL,
    data TEXT NOT NULL,
    source TEXT NOT NULL,
    verified INTEGER NOT NULL,
    status TEXT NOT NULL DEFAULT 'pending'
        CHECK (status IN ('pending', 'recorded', 'duplicate', 'rejected')),
    reason TEXT,
    findings TEXT NOT NULL DEFAULT '[]',
    event TEXT,
    sends INTEGER NOT NULL DEFAULT 0,
    answered_at TEXT
);
CREATE INDEX IF NOT EXISTS scans_by_status ON scans (status, id);
"""


@dataclass(frozen=True, slots=True)
class StoredScan:
    """A scan as the outbox holds it; ``findings`` and ``event`` are what the server answered."""

    id: int
    cylinder: str
    kind: str
    occurred_at: str
    idempotency_key: str
    to: str | None
    person: str | None
    location: Location | None
    data: dict[str, Any]
    source: str
    verified: bool
    status: str
    reason: str | None = None
    findings: list[dict[str, Any]] = field(default_factory=list)
    event: dict[str, Any] | None = None
    sends: int = 0

    def as_event(self) -> dict[str, Any]:
        """The item of ``POST /v1/events/batch`` that asks for this scan's event."""
        item: dict[str, Any] = {
            "cylinder": self.cylinder,
            "kind": self.kind,
            "occurred_at": self.occurred_at,
            "idempotency_key": self.idempotency_key,
        }
        if self.to is not None:
            item["to"] = self.to
        if self.person is not None:
            item["person"] = self.person
        if self.location is not None:
            item["location"] = {"lat": float(self.location.lat), "lon": float(self.location.lon)}
        if self.data:
            item["data"] = self.data
        return item


@dataclass(frozen=True, slots=True)
class Outcome:
    """The server's answer for one scan (``status`` is recorded, duplicate or rejected)."""

    scan_id: int
    idempotency_key: str
    status: str
    reason: str | None = None
    findings: list[dict[str, Any]] = field(default_factory=list)
    event: dict[str, Any] | None = None


class Outbox:
    """The outbox at ``path`` (created on first use). One instance per thread."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._db = sqlite3.connect(self.path, timeout=30, isolation_level=None)
        self._db.row_factory = sqlite3.Row
        self._db.execute("PRAGMA journal_mode=WAL")
        # FULL: a committed scan is on the flash before add() returns, power cut or not.
        self._db.execute("PRAGMA synchronous=FULL")
        with self._transaction() as db:
            for statement in _SCHEMA.split(";"):
                if statement.strip():
                    db.execute(statement)

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> Outbox:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield self._db
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    def add(
        self,
        scans: Sequence[Scan | str],
        kind: str,
        *,
        to: str | None = None,
        person: str | None = None,
        location: Location | None = None,
        data: dict[str, Any] | None = None,
        occurred_at: datetime | None = None,
    ) -> list[StoredScan]:
        """Stores a truckload in one transaction: all scans or, on any error, none.

        Every scan asks for the same event; a cylinder scanned twice in one call
        is stored once. Returns the stored scans in scan order.
        """
        kind, to, person, location, payload = _checked_intent(kind, to, person, location, data)
        moment = occurred_at or datetime.now().astimezone()
        utc(moment)  # refuses a time without offset
        when = moment.isoformat(timespec="milliseconds")
        codes: dict[str, Scan] = {}
        for scan in scans:
            parsed = scan if isinstance(scan, Scan) else Scan(tracecode.normalize(scan), ScanSource.TYPED, False)
            codes.setdefault(parsed.code, parsed)
        if not codes:
            raise InvalidInput("no cylinders were scanned")
        with self._transaction() as db:
            ids = [
                db.execute(
                    "INSERT INTO scans (cylinder, kind, occurred_at, idempotency_key, to_party, person, lat, lon,"
                    " data, source, verified) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (code, kind, when, str(uuid.uuid4()), to, person,
                     location.lat if location else None, location.lon if location else None,
                     payload, scan.source.value, int(scan.verified)),
                ).lastrowid
                for code, scan in codes.items()
            ]
        return [self.get(scan_id) for scan_id in ids]

    def get(self, scan_id: int) -> StoredScan:
        row = self._db.execute("SELECT * FROM scans WHERE id = ?", (scan_id,)).fetchone()
        if row is None:
            raise ScanNotFound(f"there is no scan {scan_id} in this outbox")
        return _stored(row)

    def list(self, status: str | None = None) -> list[StoredScan]:
        """Scans in scan order, optionally only those with ``status``."""
        if status is not None and status not in STATUSES:
            raise InvalidInput(f"status must be one of {', '.join(STATUSES)}", field="status")
        where, args = ("WHERE status = ?", (status,)) if status else ("", ())
        return [_stored(row) for row in self._db.execute(f"SELECT * FROM scans {where} ORDER BY id", args)]

    def claim(self, limit: int, after: int = 0) -> list[StoredScan]:
        """Up to ``limit`` pending scans with an id above ``after``, oldest first, marked as sent.

        Choosing and marking is one transaction, so ``fix`` and ``drop`` see either
        an unsent scan (and the batch takes the edited one) or a sent one (and refuse).
        """
        with self._transaction() as db:
            rows = db.execute(
                "SELECT id FROM scans WHERE status = 'pending' AND id > ? ORDER BY id LIMIT ?", (after, limit)
            ).fetchall()
            db.executemany("UPDATE scans SET sends = sends + 1 WHERE id = ?", [(row["id"],) for row in rows])
        return [self.get(row["id"]) for row in rows]

    def record_outcomes(self, outcomes: Sequence[Outcome]) -> None:
        """Stores the server's answers in one transaction.

        An answer counts only for the scan still pending under the same
        idempotency key it was sent with; anything else is ignored.
        """
        now = datetime.now().astimezone().isoformat(timespec="milliseconds")
        with self._transaction() as db:
            db.executemany(
                "UPDATE scans SET status = ?, reason = ?, findings = ?, event = ?, answered_at = ?"
                " WHERE id = ? AND idempotency_key = ? AND status = 'pending'",
                [
                    (o.status, o.reason, json.dumps(o.findings), json.dumps(o.event) if o.event else None,
                     now, o.scan_id, o.idempotency_key)
                    for o in outcomes
                ],
            )

    def fix(
        self,
        scan_id: int,
        *,
        cylinder: str = UNCHANGED,
        kind: str = UNCHANGED,
        to: str | None = UNCHANGED,
        person: str | None = UNCHANGED,
        data: dict[str, Any] = UNCHANGED,
    ) -> StoredScan:
        """Edits a rejected (or never sent) scan and queues it again under a new idempotency key."""
        with self._transaction() as db:
            old = self._editable(scan_id)
            code = old.cylinder if cylinder is UNCHANGED else tracecode.normalize(cylinder)
            new_kind, new_to, new_person, _, payload = _checked_intent(
                old.kind if kind is UNCHANGED else kind,
                old.to if to is UNCHANGED else to,
                old.person if person is UNCHANGED else person,
                old.location,
                old.data if data is UNCHANGED else data,
            )
            db.execute(
                "UPDATE scans SET cylinder = ?, kind = ?, to_party = ?, person = ?, data = ?, idempotency_key = ?,"
                " status = 'pending', reason = NULL, findings = '[]', event = NULL, sends = 0, answered_at = NULL"
                " WHERE id = ?",
                (code, new_kind, new_to, new_person, payload, str(uuid.uuid4()), scan_id),
            )
        return self.get(scan_id)

    def drop(self, scan_id: int) -> StoredScan:
        """Deletes a rejected (or never sent) scan; returns what was dropped."""
        with self._transaction() as db:
            old = self._editable(scan_id)
            db.execute("DELETE FROM scans WHERE id = ?", (scan_id,))
        return old

    def _editable(self, scan_id: int) -> StoredScan:
        scan = self.get(scan_id)
        if scan.status in ("recorded", "duplicate"):
            raise ScanNotEditable(f"scan {scan_id} is already recorded on the server; it cannot be changed here")
        if scan.status == "pending" and scan.sends > 0:
            raise ScanNotEditable(
                f"scan {scan_id} was already sent and may be on the server: run sync first to get its answer"
            )
        return scan


def _checked_intent(
    kind: str, to: str | None, person: str | None, location: Location | None, data: dict[str, Any] | None
) -> tuple[str, str | None, str | None, Location | None, str]:
    try:
        event_kind = EventKind(kind)
    except ValueError:
        event_kind = None
    if event_kind is None or event_kind is EventKind.REGISTER:
        allowed = ", ".join(k.value for k in EventKind if k is not EventKind.REGISTER)
        raise InvalidInput(f"kind must be one of {allowed}", field="kind")
    if to is not None:
        check_identifier(to, "to")
    if person is not None:
        check_identifier(person, "person")
    if location is not None and not isinstance(location, Location):
        raise InvalidInput("location must be a Location", field="location")
    if data is not None and not isinstance(data, dict):
        raise InvalidInput("data must be an object of named facts", field="data")
    try:
        payload = json.dumps(data or {}, ensure_ascii=False, sort_keys=True, allow_nan=False)
    except (TypeError, ValueError):
        raise InvalidInput("data must hold only text, numbers, true/false and null", field="data") from None
    if len(payload.encode("utf-8")) > _MAX_DATA_BYTES:
        raise InvalidInput(f"data is larger than {_MAX_DATA_BYTES} bytes", field="data")
    return event_kind.value, to, person, location, payload


def _stored(row: sqlite3.Row) -> StoredScan:
    location = Location(row["lat"], row["lon"]) if row["lat"] is not None else None
    return StoredScan(
        id=row["id"], cylinder=row["cylinder"], kind=row["kind"], occurred_at=row["occurred_at"],
        idempotency_key=row["idempotency_key"], to=row["to_party"], person=row["person"], location=location,
        data=json.loads(row["data"]), source=row["source"], verified=bool(row["verified"]), status=row["status"],
        reason=row["reason"], findings=json.loads(row["findings"]),
        event=json.loads(row["event"]) if row["event"] else None, sends=row["sends"],
    )
