"""Storage of a delivery's safety-check photos (``delivery_photos``), beside the chain."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import json

from sqlalchemy import Connection, delete, insert, select

from . import models as m

__all__ = ["keep_photo", "known_photos", "get_photo", "photos_of_deliveries_to", "drop_photos"]


def keep_photo(connection: Connection, **values: Any) -> bool:
    """Store one photo unless the same bytes (same SHA-256) are stored already; True if stored now."""
    p = m.delivery_photos.c
    if connection.execute(select(p.sha256).where(p.sha256 == values["sha256"])).first() is not None:
        return False
    connection.execute(insert(m.delivery_photos).values(**values))
    return True


def known_photos(connection: Connection, digests: Iterable[str]) -> set[str]:
    """Which of ``digests`` are stored."""
    wanted = list(digests)
    if not wanted:
        return set()
    p = m.delivery_photos.c
    return set(connection.execute(select(p.sha256).where(p.sha256.in_(wanted))).scalars())


def get_photo(connection: Connection, sha256: str):
    """(media_type, data, party) of a stored photo, or None."""
    p = m.delivery_photos.c
    return connection.execute(select(p.media_type, p.data, p.party).where(p.sha256 == sha256)).first()


def photos_of_deliveries_to(connection: Connection, ref: str) -> set[str]:
    """The digests of the safety-check photos that deliveries to end user ``ref`` name."""
    e = m.events.c
    found: set[str] = set()
    for (data,) in connection.execute(select(e.data).where(e.to_ref == ref, e.kind == "deliver")):
        check = (json.loads(data) if isinstance(data, str) else data or {}).get("safety_check") or {}
        found.update(p for p in check.get("photos", ()) if isinstance(p, str))
    return found


def drop_photos(connection: Connection, digests: Iterable[str]) -> int:
    """Delete the stored photos of ``digests``; returns how many were stored."""
    wanted = list(digests)
    if not wanted:
        return 0
    p = m.delivery_photos.c
    return connection.execute(delete(m.delivery_photos).where(p.sha256.in_(wanted))).rowcount
