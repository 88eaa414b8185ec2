"""Use cases of the ledger: register, record, read, prove. Never commits.

Every method takes the caller's open connection (``Database.writing()`` or
``reading()``); the caller owns the transaction, so a request, a CLI command or
a benchmark decides where it ends.
"""

from __future__ import annotations

import hashlib
import secrets
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime, timezone
from typing import Any

from . import oversight, privacy, tracecode
from .bundle import FORMAT
from .config import Settings
from .cursor import CursorCodec
from .domain import (
    Event, EventKind, NewEvent, Paper, Party, PartyKind, Person, PersonRole, Role, State,
    check_event_data, check_idempotency_key, check_identifier, check_plausible_time, format_time,
)
from .errors import Conflict, IdempotencyConflict, InvalidInput, LedgerError, NotFound, PermissionDenied
from .keys import load_key
from .log import LogTree, SubrootCache, checkpoint_at, latest_checkpoint, leaf_hash, publish_checkpoint
from .outcomes import Outcome, RaisedFinding
from .signednote import Checkpoint, NoteSigner, NoteVerifier
from .stamp import MANUFACTURER_LENGTH, SERIAL_LENGTH, shown, stamp_key
from .storage import Connection
from .storage import events as event_rows
from .storage import findings as finding_rows
from .storage import registry as reg
from .storage.db import Database
from .storage.events import Prepared
from .text import readable
from .wire import event_json

__all__ = ["Actor", "Outcome", "Registration", "Ledger"]

_ID_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_PARTY_PREFIX = {
    PartyKind.GAS_COMPANY: "G", PartyKind.FILLING_STATION: "F", PartyKind.TRANSPORTER: "T",
    PartyKind.SHOP: "S", PartyKind.INSPECTION_STATION: "I", PartyKind.REGULATOR: "R",
}


def new_id(prefix: str, length: int = 7) -> str:
    return prefix + "".join(secrets.choice(_ID_ALPHABET) for _ in range(length))


def token_hash(token: str) -> bytes:
    # Tokens are 256 random bits, so a plain hash is as strong as a slow one.
    return hashlib.sha256(token.encode()).digest()


@dataclass(frozen=True)
class Actor:
    """Who acts: an account's role and, except for admin and regulator, its one party."""

    role: Role
    party: str | None
    name: str
    account: int | None = None


@dataclass(frozen=True)
class Registration:
    owner: str
    serial: str
    manufacturer: str
    manufactured_on: date
    model: str
    tare_kg: float
    design_life_years: int
    last_inspected_on: date
    next_inspection_due: date
    occurred_at: datetime | None = None
    idempotency_key: str | None = None

    def facts(self) -> dict[str, Any]:
        return {
            "owner": self.owner, "serial": self.serial, "manufacturer": self.manufacturer,
            "manufactured_on": self.manufactured_on.isoformat(), "model": self.model,
            "tare_kg": self.tare_kg, "design_life_years": self.design_life_years,
            "last_inspected_on": self.last_inspected_on.isoformat(),
            "next_inspection_due": self.next_inspection_due.isoformat(),
        }


# Hooks the custody rules install: check an event before it is written, and
# react to written events (projection, findings) in the same transaction.
Authorizer = Callable[[Connection, Actor, NewEvent], None]
AfterAppend = Callable[[Connection, Sequence[Event], datetime], dict[int, list[RaisedFinding]]]


class Ledger:
    """The ledger of one database, with its signing keys."""

    def __init__(self, settings: Settings, database: Database | None = None, *, rules: bool = True,
                 rules_config=None) -> None:
        """``rules=False`` gives the bare core (no custody checks, no findings), for benchmarks."""
        self.settings = settings
        self.db = database or Database(settings.database_url)
        self.cache = SubrootCache()
        self._signer: NoteSigner | None = None
        self._label_key = None
        self._cursors: CursorCodec | None = None
        self.authorize: Authorizer | None = None
        self.after_append: AfterAppend | None = None
        self.on_unregistered: Callable[[Connection, NewEvent, datetime], None] | None = None
        self.defer_append: Callable[[Connection, Sequence[Event], datetime], None] | None = None
        if rules:
            from .supervision import Supervisor

            Supervisor(rules_config).install(self)

    # -- keys ------------------------------------------------------------------

    @property
    def signer(self) -> NoteSigner:
        if self._signer is None:
            self._signer = NoteSigner(self.settings.log_origin, load_key(self.settings.key_file))
        return self._signer

    @property
    def verifier(self) -> NoteVerifier:
        return self.signer.verifier

    @property
    def label_key(self):
        if self._label_key is None:
            self._label_key = load_key(self.settings.label_key_file)
        return self._label_key

    @property
    def cursors(self) -> CursorCodec:
        """The codec of every list's cursors; its key derives from the label key, which every process shares."""
        if self._cursors is None:
            self._cursors = CursorCodec.derived_from(self.label_key.private_bytes_raw())
        return self._cursors

    # -- registry --------------------------------------------------------------

    def create_party(
        self, connection: Connection, *, kind: PartyKind, name: str, region: str,
        licence: Paper | None = None, parent: str | None = None, now: datetime | None = None,
    ) -> Party:
        name = _text(name, "name", 200)
        if not (isinstance(region, str) and len(region) == 6 and region.isdigit()):
            raise InvalidInput("region must be a 6-digit administrative division code, e.g. 330110", field="region")
        if kind is PartyKind.FILLING_STATION:
            owner = reg.get_party(connection, parent) if parent else None
            if owner is None or owner.kind is not PartyKind.GAS_COMPANY:
                raise InvalidInput("a filling station names its gas company in parent", field="parent")
        elif parent is not None:
            raise InvalidInput("only a filling station has a parent", field="parent")
        party = Party(new_id(_PARTY_PREFIX[kind]), kind, name, region, _paper(licence, "licence"), parent)
        reg.insert_party(connection, party, format_time(now or _now()))
        self._registry_changed()
        return party

    def create_person(
        self, connection: Connection, *, party: str, name: str, role: PersonRole,
        certificate: Paper | None = None, now: datetime | None = None,
    ) -> Person:
        if reg.get_party(connection, party) is None:
            raise NotFound(f"no party {party}")
        person = Person(new_id("W"), party, _text(name, "name", 200), role, _paper(certificate, "certificate"))
        reg.insert_person(connection, person, format_time(now or _now()))
        self._registry_changed()
        return person

    def _registry_changed(self) -> None:
        supervisor = getattr(self, "supervisor", None)
        if supervisor is not None:
            supervisor.cache.clear()

    def create_account(
        self, connection: Connection, *, role: Role, party: str | None, name: str, now: datetime | None = None
    ) -> str:
        """Create an account; returns its bearer token, which is stored only as a hash."""
        if role in (Role.ADMIN, Role.REGULATOR):
            if party is not None and reg.get_party(connection, party) is None:
                raise NotFound(f"no party {party}")
        elif party is None:
            raise InvalidInput(f"a {role.value} account must belong to a party (--party)", field="party")
        elif reg.get_party(connection, party) is None:
            raise NotFound(f"no party {party}")
        token = "cl_" + secrets.token_urlsafe(32)
        reg.insert_account(connection, token_hash(token), role.value, party, _text(name, "name", 200),
                           format_time(now or _now()))
        return token

    def authenticate(self, connection: Connection, token: str) -> Actor | None:
        row = reg.account_by_token_hash(connection, token_hash(token))
        if row is None:
            return None
        return Actor(Role(row.role), row.party, row.name, row.id)

    # -- cylinders -------------------------------------------------------------

    def register(
        self, connection: Connection, actor: Actor, registration: Registration, now: datetime | None = None
    ) -> Outcome:
        """Issue a trace code and write the genesis ``register`` event; raises the reason for a refusal."""
        outcome = self.register_batch(connection, actor, [registration], now)[0]
        if outcome.error is not None:
            raise outcome.error
        return outcome

    def register_batch(
        self, connection: Connection, actor: Actor, registrations: Sequence[Registration], now: datetime | None = None
    ) -> list[Outcome]:
        """Register many cylinders in one go (a new delivery of cylinders); one bad item never blocks the others."""
        now = now or _now()
        outcomes: list[Outcome | None] = [None] * len(registrations)
        owners: dict[str, Party | None] = {}
        registrations = list(registrations)
        for index, registration in enumerate(registrations):
            try:  # the text first: nothing unreadable reaches a query (PostgreSQL refuses NUL in any of them)
                registrations[index] = _check_registration(registration)
                if registration.idempotency_key is not None:
                    check_idempotency_key(registration.idempotency_key)
            except LedgerError as exc:
                outcomes[index] = Outcome("rejected", error=exc)
        keys = [r.idempotency_key or f"register:{uuid.uuid4()}" for r in registrations]
        stored = event_rows.by_idempotency_keys(connection, [k for k, o in zip(keys, outcomes) if o is None])
        stamps = [_stamp_of(r) if o is None else None for r, o in zip(registrations, outcomes)]
        taken = reg.registered_stamps(connection, (s for s in stamps if s is not None))
        fresh: list[tuple[int, Registration, Party, datetime]] = []
        claimed: set[str] = set()
        for index, (registration, key) in enumerate(zip(registrations, keys)):
            if outcomes[index] is not None:
                continue
            try:
                if registration.owner not in owners:
                    owners[registration.owner] = reg.get_party(connection, registration.owner)
                owner = owners[registration.owner]
                if owner is None or owner.kind is not PartyKind.GAS_COMPANY:
                    raise InvalidInput("owner must be a registered gas company", field="owner")
                if actor.role is not Role.ADMIN and not (actor.role is Role.COMPANY and actor.party == owner.id):
                    raise PermissionDenied("only the owning gas company may register its cylinders")
                occurred = check_plausible_time(registration.occurred_at or now, "occurred_at", now)
                existing = stored.get(key)
                if existing is not None:
                    if existing.kind is EventKind.REGISTER and existing.data == registration.facts():
                        outcomes[index] = Outcome("duplicate", existing)
                        continue
                    raise IdempotencyConflict("this idempotency_key was already used for another registration")
                stamp = stamps[index]
                if stamp in taken:
                    raise _registered_already(registration, taken[stamp])
                if stamp in claimed:
                    raise Conflict(f"{registration.manufacturer} cylinder {registration.serial} is named twice "
                                   "in this batch")
                claimed.add(stamp)
                fresh.append((index, registration, owner, occurred))
            except LedgerError as exc:
                outcomes[index] = Outcome("rejected", error=exc)

        codes = self._new_codes(connection, len(fresh))
        rows = []
        for (index, registration, owner, occurred), code in zip(fresh, codes):
            at = format_time(occurred)
            rows.append(dict(
                id=code, owner=owner.id, serial=registration.serial, manufacturer=registration.manufacturer,
                stamp_key=stamps[index], model=registration.model, manufactured_on=registration.manufactured_on,
                tare_kg=registration.tare_kg, design_life_years=registration.design_life_years, registered_at=at,
                region=owner.region, next_inspection_due=registration.next_inspection_due, holder=owner.id,
                state=State.AT_STATION.value, state_since=at, last_event_at=at, last_fill_kg=None, life_ends_on=None,
                chain_length=1,
            ))
        inserted = reg.insert_cylinders(connection, rows)
        if len(inserted) < len(rows):  # another transaction registered the same stamp meanwhile
            raced = reg.registered_stamps(connection, (stamps[index] for index, *_ in fresh))
            for (index, registration, *_), code in zip(fresh, codes):
                if code not in inserted:
                    first = raced.get(stamps[index])
                    outcomes[index] = Outcome("rejected", error=Conflict(
                        "another registration took this cylinder's new trace code at the same moment; send it again")
                        if first is None else _registered_already(registration, first))
            kept = [(f, code) for f, code in zip(fresh, codes) if code in inserted]
            fresh, codes = [f for f, _ in kept], [code for _, code in kept]
        genesis = [event_rows.prepare(NewEvent(code, EventKind.REGISTER, occurred, owner.id, keys[index],
                                               data=registration.facts()))
                   for (index, registration, owner, occurred), code in zip(fresh, codes)]
        written = event_rows.append(connection, genesis, now, chain={})
        findings = self._after(connection, written, now)
        for (index, *_), event in zip(fresh, written):
            outcomes[index] = Outcome("created", event, findings=findings.get(event.id, []))
        return outcomes

    def _new_codes(self, connection: Connection, count: int) -> list[str]:
        """Fresh trace codes; a code is never reused, not even after scrapping (DOMAIN.md)."""
        codes: set[str] = set()
        while len(codes) < count:
            wanted = {tracecode.generate() for _ in range(count - len(codes))} - codes
            codes |= wanted - reg.existing_cylinders(connection, wanted)
        return sorted(codes)

    # -- events ----------------------------------------------------------------

    def record(self, connection: Connection, actor: Actor, event: NewEvent, now: datetime | None = None) -> Outcome:
        """Record one event; raises the reason when it is rejected."""
        outcome = self.record_batch(connection, actor, [event], now)[0]
        if outcome.error is not None:
            raise outcome.error
        return outcome

    def admit(
        self, connection: Connection, actor: Actor, items: Sequence[NewEvent | Prepared | LedgerError],
        now: datetime | None = None,
    ) -> list[Prepared | LedgerError]:
        """Check each item as ``record_batch`` does and encode its free-form parts; the reason instead
        where one is refused. Reads only: run it before the write transaction to keep that short,
        and pass what it returns, with the same ``actor`` and ``now``, to ``record_batch``."""
        now = now or _now()
        admitted: list[Prepared | LedgerError] = []
        end_users = reg.known_end_users(connection, {
            item.to for item in items
            if isinstance(item, NewEvent) and item.kind in privacy.TO_END_USER and isinstance(item.to, str)})
        for item in items:
            if isinstance(item, (LedgerError, Prepared)):
                admitted.append(item)
                continue
            try:
                self._check(connection, actor, item, now)
                if item.kind in privacy.TO_END_USER:
                    privacy.check_end_user(item, end_users)
                admitted.append(privacy.prepare(item))
            except LedgerError as exc:
                admitted.append(exc)
        return admitted

    def record_batch(
        self, connection: Connection, actor: Actor, items: Sequence[NewEvent | Prepared | LedgerError],
        now: datetime | None = None, *, defer_review: bool = False,
    ) -> list[Outcome]:
        """Record each valid item exactly once; report each invalid one with its reason.

        Items may already be errors (parsing failed at the edge): they are
        reported in place. One bad item never blocks the others. Items may also
        be what ``admit`` made of them for this ``actor`` and ``now``.
        ``defer_review``: leave the custody rules to ``review`` (a moment later,
        in another transaction) instead of running them here; the outcomes then
        carry no findings.
        """
        now = now or _now()
        outcomes: list[Outcome | None] = [None] * len(items)
        candidates: list[tuple[int, Prepared]] = []
        for index, item in enumerate(self.admit(connection, actor, items, now)):
            if isinstance(item, LedgerError):
                outcomes[index] = Outcome("rejected", error=item)
            else:
                candidates.append((index, item))

        stored = event_rows.by_idempotency_keys(connection, (p.event.idempotency_key for _, p in candidates))
        chain = event_rows.lock_heads(connection, (p.event.cylinder for _, p in candidates))
        texts = privacy.note_texts(connection, stored.values())
        fresh: list[tuple[int, Prepared]] = []
        first_in_batch: dict[str, NewEvent] = {}
        repeats: dict[int, str] = {}
        for index, prepared in candidates:
            item = prepared.event
            sent = privacy.as_sent(prepared)
            key = item.idempotency_key
            previous = stored.get(key)
            if previous is not None:
                outcomes[index] = (
                    Outcome("duplicate", previous) if privacy.sent_form(previous, texts).same_content(sent)
                    else Outcome("rejected", error=IdempotencyConflict(
                        "this idempotency_key was already used for a different event"))
                )
            elif key in first_in_batch:
                if first_in_batch[key] != sent:
                    outcomes[index] = Outcome("rejected", error=IdempotencyConflict(
                        "this idempotency_key appears twice in the batch with different events"))
                else:
                    repeats[index] = key  # answered below with the event its first occurrence stored
            elif item.cylinder not in chain:
                outcomes[index] = Outcome("rejected", error=NotFound(
                    f"{item.cylinder} is not a registered cylinder (unregistered code)"))
                if self.on_unregistered is not None and tracecode.is_valid(item.cylinder):
                    self.on_unregistered(connection, item, now)
            else:
                first_in_batch[key] = sent
                fresh.append((index, prepared))

        written = event_rows.append(connection, [prepared for _, prepared in fresh], now, chain)
        privacy.store_notes(connection, [prepared for _, prepared in fresh], written, now)
        findings = self._after(connection, written, now, defer_review)
        by_key = {event.idempotency_key: event for event in written}
        for (index, _), event in zip(fresh, written):
            outcomes[index] = Outcome("created", event, findings=findings.get(event.id, []))
        for index, key in repeats.items():
            outcomes[index] = Outcome("duplicate", by_key[key])
        return [outcome for outcome in outcomes if outcome is not None]

    def lock_cylinders(self, connection: Connection, cylinders: Iterable[str]) -> None:
        """Lock these cylinders for the rest of the transaction, in the order every writer locks them.

        ``record_batch`` locks its own cylinders; a transaction that calls it more than
        once (one call per acting account) must lock all of them first, or two such
        transactions could each hold a cylinder the other waits for, and then the log
        lock.
        """
        event_rows.lock_cylinders(connection, cylinders)

    def judge_recorded(self, outcomes: Sequence[Outcome], now: datetime | None = None) -> list[Outcome]:
        """Run the custody rules over what ``record_batch(defer_review=True)`` created, now; returns the
        outcomes with their findings, as ``record_batch`` without deferring would have returned them.

        Call it after the recording transaction has committed: the rules read in a
        snapshot and only storing their findings takes the write lock, so writers
        wait for the appends alone. Until it returns, the cylinders are queued for
        ``review``; a process that dies in between leaves them to the reviewer.
        """
        written = [outcome.event for outcome in outcomes if outcome.status == "created"]
        if not written or self.after_append is None:
            return list(outcomes)
        findings = self.supervisor.judge_recorded(self.db, written, now or _now())
        return [replace(outcome, findings=findings.get(outcome.event.id, [])) if outcome.status == "created"
                else outcome for outcome in outcomes]

    def _check(self, connection: Connection, actor: Actor, item: NewEvent, now: datetime) -> None:
        if item.kind is EventKind.REGISTER:
            raise InvalidInput("a register event is written by registering the cylinder, not recorded as an event", field="kind")
        check_plausible_time(item.occurred_at, "occurred_at", now)
        check_identifier(item.cylinder, "cylinder")
        check_idempotency_key(item.idempotency_key)
        check_event_data(item.kind, item.data)
        if actor.role is not Role.ADMIN and actor.party != item.party:
            raise PermissionDenied("an account records events only for its own party")
        if self.authorize is not None:
            self.authorize(connection, actor, item)

    def _after(self, connection: Connection, written: Sequence[Event], now: datetime,
               defer: bool = False) -> dict[int, list[RaisedFinding]]:
        if not written or self.after_append is None:
            return {}
        if defer and self.defer_append is not None:
            self.defer_append(connection, written, now)
            return {}
        return self.after_append(connection, written, now)

    # -- reading ---------------------------------------------------------------

    def event(self, connection: Connection, event_id: int) -> Event:
        event = event_rows.get(connection, event_id)
        if event is None:
            raise NotFound(f"no event {event_id}")
        return event

    def history(self, connection: Connection, cylinder: str, after_seq: int = -1, limit: int | None = None) -> list[Event]:
        if reg.get_cylinder(connection, cylinder) is None:
            raise NotFound(f"no cylinder {cylinder}")
        return event_rows.history(connection, cylinder, after_seq, limit)

    # -- the log ---------------------------------------------------------------

    def tree(self, connection: Connection) -> LogTree:
        return LogTree(connection, self.cache)

    def checkpoint(self) -> Checkpoint:
        """The latest checkpoint, signing a new one first if the log has grown."""
        with self.db.reading() as connection:
            latest = latest_checkpoint(connection)
            size = event_rows.log_size(connection)
        if latest is not None and latest.size == size:
            self.cache.settle(latest.size)
            return latest
        with self.db.writing() as connection:
            checkpoint = publish_checkpoint(connection, self.cache, self.signer, self.settings.log_origin)
        self.cache.settle(checkpoint.size)
        return checkpoint

    def inclusion(self, connection: Connection, event_id: int, size: int | None = None) -> dict[str, Any]:
        """The event's RFC 9162 inclusion proof: ``entry_hash`` is the event's hash (the log entry),
        ``leaf_hash`` is SHA-256(0x00 || entry), the value a verifier starts the audit path from."""
        event = self.event(connection, event_id)
        tree = self.tree(connection)
        size = tree.get_size() if size is None else size
        path = tree.inclusion_path(event.log_index, size)
        return {"log_index": event.log_index, "tree_size": size, "entry_hash": event.hash.hex(),
                "leaf_hash": leaf_hash(event.hash).hex(), "audit_path": [node.hex() for node in path]}

    def consistency(self, connection: Connection, old: int, new: int) -> dict[str, Any]:
        path = self.tree(connection).consistency_path(old, new)
        return {"old_size": old, "new_size": new, "proof": [node.hex() for node in path]}

    def bundle(self, cylinder: str) -> dict[str, Any]:
        """A self-contained proof of a cylinder's whole history (see ``ledger.bundle``)."""
        checkpoint = self.checkpoint()
        with self.db.reading() as connection:
            history = self.history(connection, cylinder)
            if history[-1].log_index >= checkpoint.size:
                checkpoint = None
        if checkpoint is None:  # written after the checkpoint we read: sign a newer one
            checkpoint = self.checkpoint()
        with self.db.reading() as connection:
            checkpoint_at(connection, checkpoint.size)
            history = self.history(connection, cylinder)
            history = [event for event in history if event.log_index < checkpoint.size]
            tree = self.tree(connection)
            proofs = [
                {"log_index": e.log_index, "tree_size": checkpoint.size,
                 "audit_path": [node.hex() for node in tree.inclusion_path(e.log_index, checkpoint.size)]}
                for e in history
            ]
        return {"format": FORMAT, "cylinder": cylinder, "checkpoint": checkpoint.note,
                "events": [event_json(e) for e in history], "proofs": proofs}

    # -- the three questions, findings, risk lists (ledger.oversight) ---------

    def trace(self, connection: Connection, cylinder: str) -> dict[str, Any]:
        return oversight.trace(self, connection, cylinder)

    def responsible_at(self, connection: Connection, cylinder: str, at: datetime) -> dict[str, Any]:
        return oversight.responsible_at(self, connection, cylinder, at)

    def finding(self, connection: Connection, finding_id: int) -> dict[str, Any]:
        return oversight.finding(self, connection, finding_id)

    def findings(self, connection: Connection, **filters: Any) -> dict[str, Any]:
        return oversight.findings(self, connection, **filters)

    def finding_action(self, connection: Connection, actor: Actor, finding_id: int, *, action: str, note: str,
                       assignee: int | str | None = None, now: datetime | None = None) -> dict[str, Any]:
        return oversight.act_on_finding(self, connection, actor, finding_id, action=action, note=note,
                                        assignee=assignee, now=now or _now())

    def inspectors(self, connection: Connection) -> list[dict[str, Any]]:
        """The accounts findings may be dispatched to: ``{account, name, party}`` each."""
        return oversight.inspectors(self, connection)

    def risk_cylinders(self, connection: Connection, **filters: Any) -> dict[str, Any]:
        return oversight.risk_cylinders(self, connection, **filters)

    def risk_enterprises(self, connection: Connection, **filters: Any) -> list[dict[str, Any]]:
        return oversight.risk_enterprises(self, connection, **filters)

    def review(self, connection: Connection, now: datetime | None = None, limit: int = 200) -> int:
        """Apply the custody rules to up to ``limit`` cylinders a deferred batch left queued; returns how many."""
        if self.after_append is None:
            return 0
        return self.supervisor.review(connection, now or _now(), limit)

    def review_backlog(self, connection: Connection) -> tuple[int, str | None]:
        """Cylinders waiting for review, and since when the oldest has."""
        return finding_rows.review_backlog(connection)

    def sweep(self, connection: Connection, now: datetime | None = None) -> int:
        """Evaluate the cylinders only the clock can turn into findings (vanished, unconfirmed)."""
        return self.supervisor.sweep(connection, now or _now())

    # -- personal data beside the chain (ledger.privacy) ----------------------

    def with_notes(self, connection: Connection, actor: Actor, events: Sequence[Event]) -> list[dict[str, Any]]:
        """``events`` as answers show them, each report's note beside it: its text only to overseers."""
        beside = privacy.notes_beside(connection, events, may_read=actor.role in _NOTE_READERS)
        return [{**event_json(e), "note": beside.get(e.id)} for e in events]

    def erase(self, connection: Connection, target: str, *, reason: str, requested_by: str,
              now: datetime | None = None) -> privacy.Erasure:
        """Erase a note's text or an end user's personal data on a lawful request (``ledger.privacy.erase``)."""
        return privacy.erase(connection, target, reason=reason, requested_by=requested_by, now=now or _now())

    # -- registry reads and end users (used by the HTTP API) -------------------

    def party(self, connection: Connection, party_id: str) -> Party:
        party = reg.get_party(connection, party_id)
        if party is None:
            raise NotFound(f"no party {party_id}")
        return party

    def parties(
        self, connection: Connection, *, kind: PartyKind | None = None, region: str | None = None,
        after: str | None = None, limit: int = 100,
    ) -> list[Party]:
        """Parties in id order, after the id ``after``."""
        return reg.list_parties(connection, kind=kind.value if kind else None, region=region, after=after, limit=limit)

    def people(self, connection: Connection, party_id: str) -> list[Person]:
        self.party(connection, party_id)
        return reg.people_of(connection, party_id)

    def cylinder(self, connection: Connection, cylinder_id: str) -> dict[str, Any]:
        """A cylinder's registration facts and the projection of its chain."""
        row = reg.get_cylinder(connection, cylinder_id)
        if row is None:
            raise NotFound(f"no cylinder {cylinder_id}")
        return dict(row._mapping)

    def create_end_user(
        self, connection: Connection, actor: Actor, *, kind: str, name: str, phone: str, address: str,
        now: datetime | None = None,
    ) -> str:
        """Store an end user's identity for real-name purchase; returns the opaque ``ref`` deliveries name."""
        if actor.role is not Role.SHOP or actor.party is None:
            raise PermissionDenied("only a shop registers its end users")
        if kind not in ("household", "restaurant"):
            raise InvalidInput("kind must be household or restaurant", field="kind")
        ref = new_id("U", 12)
        reg.insert_end_user(
            connection, ref=ref, shop=actor.party, kind=kind, name=_text(name, "name", 200),
            phone=_text(phone, "phone", 32), address=_text(address, "address", 400),
            created_at=format_time(now or _now()),
        )
        return ref

    def end_user(self, connection: Connection, actor: Actor, ref: str) -> dict[str, Any]:
        """An end user's personal data: shown to regulators and inspectors only; once erased, name, phone
        and address are ``None`` and ``erased_at`` says since when."""
        if actor.role not in (Role.REGULATOR, Role.INSPECTOR):
            raise PermissionDenied("end users' personal data is shown only to regulators and inspectors")
        row = reg.get_end_user(connection, ref)
        if row is None:
            raise NotFound(f"no end user {ref}")
        return {**row._mapping, "erased_at": privacy.erased_at(connection, ref)}


# Reports are the regulator's own field observations; other parties see only their commitment.
_NOTE_READERS = frozenset({Role.ADMIN, Role.REGULATOR, Role.INSPECTOR})


def _now() -> datetime:
    return datetime.now(timezone.utc)


def _text(value: Any, name: str, limit: int) -> str:
    return readable(value, name, max_length=limit)


def _paper(paper: Paper | None, name: str) -> Paper | None:
    """A licence or certificate whose number is readable text (it is printed and compared by eye)."""
    return None if paper is None else replace(paper, number=readable(paper.number, f"{name}.number", max_length=64))


def _stamp_of(r: Registration) -> str | None:
    """The registration's stamp key, or None when its serial or manufacturer is refused."""
    try:
        return stamp_key(shown(r.manufacturer, "manufacturer", MANUFACTURER_LENGTH),
                         shown(r.serial, "serial", SERIAL_LENGTH))
    except LedgerError:
        return None


def _registered_already(r: Registration, first: reg.Registered) -> Conflict:
    # The code is printed on the cylinder and its public page is open to all, so any company may be told it.
    scrapped = ("; it was scrapped, and a scrapped cylinder is never registered again (its code is never reused)"
                if first.scrapped else "")
    return Conflict(f"{r.manufacturer} cylinder {r.serial} is already registered as {first.code} "
                    f"({first.manufacturer}, serial {first.serial}, owner {first.owner}){scrapped}")


def _check_registration(r: Registration) -> Registration:
    """``r`` with its serial and manufacturer as stored (``ledger.stamp.shown``); raises ``InvalidInput``."""
    r = replace(r, serial=shown(r.serial, "serial", SERIAL_LENGTH),
                manufacturer=shown(r.manufacturer, "manufacturer", MANUFACTURER_LENGTH))
    _text(r.model, "model", 32)
    if not 0 < r.tare_kg <= 200:
        raise InvalidInput("tare_kg must be between 0 and 200 kg", field="tare_kg")
    if not 1 <= r.design_life_years <= 30:
        raise InvalidInput("design_life_years must be between 1 and 30", field="design_life_years")
    if not date(1950, 1, 1) <= r.manufactured_on <= date.today():
        raise InvalidInput("manufactured_on is not a plausible date", field="manufactured_on")
    if r.last_inspected_on < r.manufactured_on or r.last_inspected_on > date.today():
        raise InvalidInput("last_inspected_on must lie between manufacture and today", field="last_inspected_on")
    if not r.last_inspected_on < r.next_inspection_due <= date(r.last_inspected_on.year + 10, 12, 31):
        raise InvalidInput("next_inspection_due must follow last_inspected_on by at most ten years",
                           field="next_inspection_due")
    return r
