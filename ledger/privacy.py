"""Personal data and the chain: what may enter it, what stays beside it, and how it is erased.

The chain is append-only and served to every party, so nothing in it can ever be
erased. Three rules keep personal data out of it (docs/privacy.md):

1. an end user is named only by the opaque ref ``POST /v1/end-users`` issued; their
   name, phone and address live in ``end_users`` (``check_end_user``);
2. each kind's data is a closed set of keys (``ledger.facts.check_event_data``);
3. a report's note is kept beside the chain, which holds only its salted commitment
   (``ledger.notes``; ``prepare`` and ``store_notes``).

``erase`` removes a note's text and salt, an end user's personal data or a closed-loop
step's note on a lawful request (PIPL art. 47) and records who asked, why and when, never
what was erased.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from . import notes
from .domain import Event, EventKind, NewEvent, format_time
from .errors import InvalidInput, NotFound
from .storage import Connection
from .storage import events as event_rows
from .storage import notes as note_rows
from .storage import photos as photo_rows
from .storage import registry as reg
from .storage.events import Prepared
from .text import readable

__all__ = [
    "TO_END_USER", "check_end_user", "prepare", "as_sent", "note_texts", "sent_form", "store_notes",
    "notes_beside", "Erasure", "erase", "erased_at",
]

# The exchanges with an end user: `to` names one only by the opaque ref a shop registered.
TO_END_USER = frozenset({EventKind.DELIVER, EventKind.COLLECT})


def check_end_user(item: NewEvent, known: set[str]) -> None:
    """Refuse a deliver or collect whose ``to`` is not a registered end-user ref (any shop's: a user may
    buy from several). A name or phone number there would be hashed into the chain for good."""
    if item.to is None:
        if item.kind is EventKind.DELIVER:
            raise InvalidInput("a delivery must name the end user in `to` by the ref their registration "
                               "returned (real-name purchase)", field="to")
    elif item.to not in known:
        # the value is not echoed: it may be the very name and phone number the ref keeps out of the chain
        raise InvalidInput("`to` must be the ref of a registered end user, never a name "
                           "or phone number", field="to")


def prepare(item: NewEvent) -> Prepared:
    """``item`` encoded for the chain; a report's note leaves it, and only its commitment stays."""
    if item.kind is EventKind.REPORT:
        note = notes.seal(item.data["note"])
        return event_rows.prepare(replace(item, data=note.data()), note)
    return event_rows.prepare(item)


def as_sent(prepared: Prepared) -> NewEvent:
    """The event as its client sent it, the note's text in place of its commitment."""
    if prepared.note is None:
        return prepared.event
    return replace(prepared.event, data={"note": prepared.note.text})


def note_texts(connection: Connection, events: Iterable[Event]) -> dict[bytes, str | None]:
    """The stored text of each report's note among ``events``, by commitment (``None``: erased)."""
    wanted = [c for c in (notes.commitment_of(e.data) for e in events if e.kind is EventKind.REPORT) if c]
    if not wanted:
        return {}
    return {sha: row.text for sha, row in note_rows.by_commitments(connection, wanted).items()}


def sent_form(event: Event, texts: dict[bytes, str | None]) -> Event:
    """A stored event as its client sent it, to tell a retry from another event under the same key;
    an erased note matches no text."""
    sha = notes.commitment_of(event.data) if event.kind is EventKind.REPORT else None
    return event if sha is None else replace(event, data={"note": texts.get(sha)})


def store_notes(connection: Connection, prepared: Sequence[Prepared], written: Sequence[Event],
                now: datetime) -> None:
    """Keep the notes of just-written events beside the chain, in the same transaction."""
    from .service import new_id  # the one id generator; service imports this module

    at = format_time(now)
    note_rows.insert_notes(connection, [
        dict(id=new_id("N", 12), event=event.id, sha256=item.note.sha256, salt=item.note.salt,
             text=item.note.text, created_at=at)
        for item, event in zip(prepared, written) if item.note is not None])


def notes_beside(connection: Connection, events: Sequence[Event], *, may_read: bool) -> dict[int, dict[str, Any]]:
    """What answers show beside each report event: its note's id and commitment and, to those who may
    read notes, its text and salt (anyone holding both can check the commitment); ``erased_at`` once
    erased, when text and salt are gone for everyone."""
    ids = [e.id for e in events if e.kind is EventKind.REPORT and e.id is not None]
    if not ids:
        return {}
    shown: dict[int, dict[str, Any]] = {}
    for event_id, row in note_rows.of_events(connection, ids).items():
        readable_now = may_read and row.erased_at is None
        shown[event_id] = {
            "id": row.id, "sha256": bytes(row.sha256).hex(),
            "text": row.text if readable_now else None,
            "salt": bytes(row.salt).hex() if readable_now and row.salt is not None else None,
            "erased_at": row.erased_at,
        }
    return shown


@dataclass(frozen=True)
class Erasure:
    """What ``erase`` did: ``done`` is False when the target had already been erased (nothing changed)."""

    target: str
    what: str  # note | end_user | finding_note | citizen_report
    fields: tuple[str, ...]
    done: bool
    erased_at: str


_END_USER_FIELDS = ("name", "phone", "address")


def erase(connection: Connection, target: str, *, reason: str, requested_by: str, now: datetime) -> Erasure:
    """Erase the text and salt of note ``target`` (``N…``), the personal data of end user ``target``
    (``U…``) or the note of closed-loop step ``target`` (``A<id>``), and record the erasure: who asked,
    why, when, which fields; never their content.

    Idempotent: erasing again changes nothing and records nothing. The chain, the log and
    every proof are untouched; none of them covered what is erased.
    """
    reason = readable(reason, "reason", max_length=500, multiline=True)
    requested_by = readable(requested_by, "requested_by", max_length=200)
    at = format_time(now)
    note = note_rows.get(connection, target)
    if note is not None:
        if note.erased_at is not None:
            return Erasure(target, "note", ("text", "salt"), False, note.erased_at)
        note_rows.erase_note(connection, target, at)
        return _recorded(connection, Erasure(target, "note", ("text", "salt"), True, at), reason, requested_by)
    user = reg.get_end_user(connection, target)
    if user is not None:  # with the photos of the user's home that the deliveries' safety checks took
        photos = photo_rows.drop_photos(connection, photo_rows.photos_of_deliveries_to(connection, target))
        if user.sealed is None and all(getattr(user, name) is None for name in _END_USER_FIELDS) and not photos:
            return Erasure(target, "end_user", _END_USER_FIELDS, False, erased_at(connection, target) or at)
        note_rows.erase_end_user(connection, target)
        fields = (*_END_USER_FIELDS, "photos") if photos else _END_USER_FIELDS
        return _recorded(connection, Erasure(target, "end_user", fields, True, at), reason, requested_by)
    step = _finding_step(connection, target)
    if step is not None:
        if step.erased_at is not None:
            return Erasure(target, "finding_note", ("note",), False, step.erased_at)
        note_rows.erase_finding_action_note(connection, step.id, at)
        return _recorded(connection, Erasure(target, "finding_note", ("note",), True, at), reason, requested_by)
    from . import citizen  # a citizen's report (``CR<id>``): its text, salt, contact and photos

    report = citizen.erase(connection, target, at)
    if report is not None:
        done, when = report
        erasure = Erasure(target, "citizen_report", ("text", "salt", "contact", "photos"), done, when)
        return _recorded(connection, erasure, reason, requested_by) if done else erasure
    raise NotFound(f"no note, end user, finding step or citizen report {target}")


def _finding_step(connection: Connection, target: str):
    """The closed-loop step ``A<id>`` names (its id as findings' history shows it), or ``None``."""
    if len(target) < 2 or target[0] != "A" or not target[1:].isdigit() or len(target) > 19:
        return None
    return note_rows.finding_action(connection, int(target[1:]))


def erased_at(connection: Connection, target: str) -> str | None:
    """When ``target`` was last erased, or ``None``."""
    earlier = note_rows.erasures_of(connection, target)
    return earlier[-1].erased_at if earlier else None


def _recorded(connection: Connection, erasure: Erasure, reason: str, requested_by: str) -> Erasure:
    note_rows.record_erasure(connection, target=erasure.target, what=erasure.what, fields=",".join(erasure.fields),
                             reason=reason, requested_by=requested_by, at=erasure.erased_at)
    return erasure
