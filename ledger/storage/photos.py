"""Storage of a delivery's safety-check photos (``delivery_photos``), beside the chain."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import Connection, insert, select

from . import models as m

__all__ = ["keep_photo", "known_photos", "get_photo"]


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
