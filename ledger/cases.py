"""The case loop's extras (docs/cases.md): deadlines per severity, escalation of overdue cases (督办),
inspectors' inboxes, photos of handling, and the webhook announcements of each.

Functions take the caller's connection and never begin or commit: the sweeper escalates in a
transaction of its own (``ledger.sweeper``), a request in its own.
"""

from __future__ import annotations

import hashlib
import io
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from .domain import Role, format_time, parse_time
from .errors import InvalidInput, PermissionDenied
from .storage import Connection
from .storage import cases as store
from .storage import findings as finding_rows

__all__ = ["SEVERITIES", "parse_deadlines", "due_at", "on_dispatch", "escalate_overdue", "my_cases", "Photo",
           "photo", "MAX_PHOTOS", "MAX_PHOTO_BYTES", "SYSTEM"]

SEVERITIES = ("critical", "high", "medium", "low")
DEFAULT_DEADLINES = "critical=24h,high=72h,medium=7d,low=14d"
MAX_PHOTOS = 3
MAX_PHOTO_BYTES = 5 * 1024 * 1024
MAX_PIXELS = 40_000_000  # a phone's photo is 12-50 Mpx; beyond this it is a decompression bomb, not evidence
SYSTEM = "ledger"
OPEN_FOR_INSPECTOR = ("dispatched", "handled")
_UNITS = {"m": timedelta(minutes=1), "h": timedelta(hours=1), "d": timedelta(days=1)}
_GPS_IFD = 0x8825  # EXIF tag GPSInfo (EXIF 2.32 §4.6.3)


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


@dataclass(frozen=True)
class Photo:
    media_type: str
    data: bytes
    sha256: str


_MAGIC = ((b"\xff\xd8\xff", "JPEG", "image/jpeg"), (b"\x89PNG\r\n\x1a\n", "PNG", "image/png"))


def photo(data: bytes, *, keep_gps: bool = False) -> Photo:
    """Check one photo of a handling and make what is stored: JPEG or PNG by its first bytes, at most
    ``MAX_PHOTO_BYTES``, a whole image; EXIF GPS removed unless ``keep_gps`` (an inspector's phone
    stamps where it stood, which may be someone's home)."""
    if len(data) > MAX_PHOTO_BYTES:
        raise InvalidInput(f"a photo may be at most {MAX_PHOTO_BYTES // (1024 * 1024)} MB", field="photos")
    kind = next(((fmt, media) for magic, fmt, media in _MAGIC if data.startswith(magic)), None)
    if kind is None:
        raise InvalidInput("a photo must be a JPEG or PNG image", field="photos")
    from PIL import Image  # only a handling with photos needs it

    fmt, media = kind
    try:
        with Image.open(io.BytesIO(data)) as image:
            if image.format != fmt or image.width * image.height > MAX_PIXELS:
                raise InvalidInput("a photo must be a whole JPEG or PNG image of at most 40 Mpx", field="photos")
            image.load()
            if not keep_gps:
                exif = image.getexif()
                exif.pop(_GPS_IFD, None)
                out = io.BytesIO()
                # re-encoded: only the EXIF kept is written, so no GPS rides along in XMP or text chunks either
                options = {"quality": 95} if fmt == "JPEG" else {}
                image.save(out, format=fmt, exif=exif.tobytes(), **options)
                data = out.getvalue()
    except InvalidInput:
        raise
    except Exception as error:  # noqa: BLE001 - Pillow's many ways of saying "not an image"
        raise InvalidInput(f"a photo could not be read as {fmt}: {type(error).__name__}", field="photos") from None
    return Photo(media, data, hashlib.sha256(data).hexdigest())


def store_photos(connection: Connection, finding_id: int, photos: list[Photo], actor_name: str, at: str) -> None:
    for item in photos:
        store.insert_photo(connection, finding=finding_id, sha256=item.sha256, media_type=item.media_type,
                           data=item.data, added_by=actor_name, created_at=at)


def get_photo(connection: Connection, finding_id: int, sha256: str):
    return store.get_photo(connection, finding_id, sha256)
