"""Queries of what is kept beside the chain: notes' text and salt, and the record of erasures."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from sqlalchemy import Connection, insert, select, update

from . import models as m
from .events import chunks

__all__ = [
    "insert_notes", "of_events", "by_commitments", "get", "erase_note", "erase_end_user", "finding_action",
    "erase_finding_action_note", "record_erasure",
    "erasures_of",
]

def insert_notes(connection: Connection, rows: Sequence[dict[str, object]]) -> None:
    if rows:
        connection.execute(insert(m.notes), list(rows))


def of_events(connection: Connection, event_ids: Iterable[int]) -> dict[int, object]:
    """The note row of each given event that has one, by event id."""
    found: dict[int, object] = {}
    for chunk in chunks(event_ids):
        query = select(m.notes).where(m.notes.c.event.in_(chunk))
        found.update((row.event, row) for row in connection.execute(query))
    return found


def by_commitments(connection: Connection, commitments: Iterable[bytes]) -> dict[bytes, object]:
    found: dict[bytes, object] = {}
    for chunk in chunks(commitments):
        query = select(m.notes).where(m.notes.c.sha256.in_(chunk))
        found.update((bytes(row.sha256), row) for row in connection.execute(query))
    return found


def get(connection: Connection, note_id: str):
    return connection.execute(select(m.notes).where(m.notes.c.id == note_id)).first()


def erase_note(connection: Connection, note_id: str, at: str) -> None:
    """Remove a note's text and salt; its commitment stays, as the chain holds it too."""
    connection.execute(update(m.notes).where(m.notes.c.id == note_id).values(text=None, salt=None, erased_at=at))


def erase_end_user(connection: Connection, ref: str) -> None:
    """Remove an end user's name, phone and address (sealed and any plaintext left) and the phone's
    lookup hash; the ref stays, as events name it."""
    connection.execute(update(m.end_users).where(m.end_users.c.ref == ref).values(
        name=None, phone=None, address=None, sealed=None, phone_hash=None, key_version=None))


def finding_action(connection: Connection, action_id: int):
    return connection.execute(select(m.finding_actions).where(m.finding_actions.c.id == action_id)).first()


def erase_finding_action_note(connection: Connection, action_id: int, at: str) -> None:
    """Empty a closed-loop step's note: the one change the database lets ``finding_actions`` take."""
    connection.execute(update(m.finding_actions).where(m.finding_actions.c.id == action_id)
                       .values(note="", erased_at=at))


def record_erasure(connection: Connection, *, target: str, what: str, fields: str, reason: str,
                   requested_by: str, at: str) -> int:
    result = connection.execute(insert(m.erasures).values(
        target=target, what=what, fields=fields, reason=reason, requested_by=requested_by, erased_at=at))
    return result.inserted_primary_key[0]


def erasures_of(connection: Connection, target: str) -> list:
    query = select(m.erasures).where(m.erasures.c.target == target).order_by(m.erasures.c.id)
    return list(connection.execute(query))
