"""Recording services: register cylinders, admit and append custody events. Never commits.

The one way events come in is ``ledger.ingest`` (admit → append → queue → judge
after commit), which begins the transactions; these methods are its steps and
take its connection.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import replace
from datetime import date, datetime

from .. import ingest as ingestion
from .. import crossing, privacy, tracecode
from ..domain import (
    Event, EventKind, NewEvent, Party, PartyKind, Role, State, check_idempotency_key, check_identifier,
    check_plausible_time, format_time,
)
from ..errors import Conflict, IdempotencyConflict, InvalidInput, LedgerError, NotFound, PermissionDenied
from ..facts import check_event_data
from ..outcomes import RaisedFinding, Work
from ..stamp import MANUFACTURER_LENGTH, SERIAL_LENGTH, shown, stamp_key
from ..storage import Connection
from ..storage import events as event_rows
from ..storage import partitions
from ..storage import registry as reg
from ..storage.events import Prepared
from . import judge as judging
from .types import Actor, Outcome, Registration, _now, _text

__all__ = ["RecordingService"]


class RecordingService:
    """Part of ``Ledger``: registering cylinders and recording their events."""

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
        archived = partitions.archived_keys(connection, (k for k, o in zip(keys, outcomes) if o is None and k not in stored))
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
                if key in archived:
                    raise _archived_key()
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
        """Record one event in the caller's transaction, judged inside it; raises the reason when it is rejected.

        For a caller that owns one transaction (a command, a test); what users send goes through ``ingest``.
        """
        outcome = self.record_batch(connection, actor, [event], now)[0]
        if outcome.error is not None:
            raise outcome.error
        return outcome

    def admit(
        self, connection: Connection, actor: Actor, items: Sequence[NewEvent | Prepared | LedgerError],
        now: datetime | None = None,
    ) -> list[Prepared | LedgerError | crossing.Relayed]:
        """Check each item as ``record_batch`` does and encode its free-form parts; the reason instead
        where one is refused. Reads only: run it before the write transaction to keep that short,
        and pass what it returns, with the same ``actor`` and ``now``, to ``record_batch``."""
        now = now or _now()
        admitted: list[Prepared | LedgerError] = []
        end_users = reg.known_end_users(connection, {
            item.to for item in items
            if isinstance(item, NewEvent) and item.kind in privacy.TO_END_USER and isinstance(item.to, str)})
        for item in items:
            if isinstance(item, (LedgerError, Prepared, crossing.Relayed)):
                admitted.append(item)
                continue
            try:
                self._check(connection, actor, item, now)
                if item.kind in privacy.TO_END_USER:
                    privacy.check_end_user(item, end_users)
                item, segment = self._cross(connection, item, actor)
                if isinstance(item, crossing.Relayed):  # recorded by the city holding the chain
                    admitted.append(item)
                    continue
                prepared = privacy.prepare(item)
                admitted.append(prepared if segment is None else replace(prepared, segment=segment))
            except LedgerError as exc:
                admitted.append(exc)
        return admitted

    def record_batch(
        self, connection: Connection, actor: Actor, items: Sequence[NewEvent | Prepared | LedgerError],
        now: datetime | None = None, *, defer_review: bool = False, sequence_after_commit: bool = False,
    ) -> list[Outcome]:
        """Record each valid item exactly once; report each invalid one with its reason.

        Items may already be errors (parsing failed at the edge): they are
        reported in place. One bad item never blocks the others. Items may also
        be what ``admit`` made of them for this ``actor`` and ``now``.
        ``defer_review``: queue the cylinders for judging after the commit (``ingest``'s
        third step, or the reviewer) instead of judging them here; the outcomes then
        carry no findings.
        ``sequence_after_commit``: take no log lock; on a single PostgreSQL node the events are
        stored pending and the caller runs ``ledger.sequencer`` after its commit (``ingest``);
        otherwise they get their log positions here.
        """
        now = now or _now()
        outcomes: list[Outcome | None] = [None] * len(items)
        candidates: list[tuple[int, Prepared]] = []
        for index, item in enumerate(self.admit(connection, actor, items, now)):
            if isinstance(item, LedgerError):
                outcomes[index] = Outcome("rejected", error=item)
            elif isinstance(item, crossing.Relayed):
                outcomes[index] = item.outcome
            else:
                candidates.append((index, item))

        stored = event_rows.by_idempotency_keys(connection, (p.event.idempotency_key for _, p in candidates))
        archived = partitions.archived_keys(
            connection, (p.event.idempotency_key for _, p in candidates if p.event.idempotency_key not in stored))
        chain = event_rows.lock_heads(connection, (p.event.cylinder for _, p in candidates))
        candidates = self._hold(connection, candidates, chain, stored, outcomes, now)
        texts = privacy.note_texts(connection, stored.values())
        fresh: list[tuple[int, Prepared]] = []
        first_in_batch: dict[str, NewEvent] = {}
        repeats: dict[int, str] = {}
        for index, prepared in candidates:
            item = prepared.event
            sent = crossing.client_form(privacy.as_sent(prepared))
            key = item.idempotency_key
            previous = stored.get(key)
            if key in archived:
                outcomes[index] = Outcome("rejected", error=_archived_key())
            elif previous is not None:
                outcomes[index] = (
                    Outcome("duplicate", previous)
                    if crossing.client_form(privacy.sent_form(previous, texts)).same_content(sent)
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
                if self.judge is not None and tracecode.is_valid(item.cylinder):
                    self.judge.unregistered(connection, item, now)
            else:
                first_in_batch[key] = sent
                fresh.append((index, prepared))

        written = event_rows.append(connection, [prepared for _, prepared in fresh], now, chain,
                                    later=sequence_after_commit)
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

    def ingest(self, submissions: Sequence[ingestion.Submission], now: datetime | None = None, *,
               judge: bool = True) -> list[list[Outcome] | BaseException]:
        """The one way events come in: admit → append → queue → judge after commit (``ledger.ingest``)."""
        return ingestion.ingest(self, submissions, now, judge=judge)

    def judge_ingested(self, submissions: Sequence[ingestion.Submission],
                       results: Sequence[list[Outcome] | BaseException], now: datetime) -> list[list[Outcome] | BaseException]:
        """The rules' findings for what ``ingest(submissions, now, judge=False)`` recorded (``ledger.ingest``)."""
        return ingestion.judge_ingested(self, submissions, results, now)

    def ingest_one(self, actor: Actor, items: Sequence[NewEvent | Prepared | LedgerError],
                   now: datetime | None = None, *, judge: bool = True) -> list[Outcome]:
        """``ingest`` for one caller's events; raises what befell them as a whole."""
        (result,) = self.ingest([ingestion.Submission(actor, items)], now, judge=judge)
        if isinstance(result, BaseException):
            raise result
        return result

    def judge_recorded(self, outcomes: Sequence[Outcome], now: datetime | None = None) -> list[Outcome]:
        """The rules' findings for what ``record_batch(defer_review=True)`` created and committed
        (``ledger.ingest``'s last step); raises what judging raised, the cylinders then stay queued."""
        return ingestion.judge_after_commit(self, outcomes, now or _now())

    def _check(self, connection: Connection, actor: Actor, item: NewEvent, now: datetime) -> None:
        if item.kind is EventKind.REGISTER:
            raise InvalidInput("a register event is written by registering the cylinder, not recorded as an event", field="kind")
        check_plausible_time(item.occurred_at, "occurred_at", now)
        check_identifier(item.cylinder, "cylinder")
        check_idempotency_key(item.idempotency_key)
        check_event_data(item.kind, item.data)
        self.check_safety(connection, item)
        if actor.role is not Role.ADMIN and actor.party != item.party:
            raise PermissionDenied("an account records events only for its own party")
        if self.judge is not None:
            self.judge.authorize(connection, actor, item)

    def _after(self, connection: Connection, written: Sequence[Event], now: datetime,
               defer: bool = False) -> dict[int, list[RaisedFinding]]:
        if not written or self.judge is None:
            return {}
        if defer:
            self.judge.defer(connection, written, now)
            return {}
        return judging.judge(self.judge, connection, Work.of_written(written), now).findings


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


def _archived_key() -> IdempotencyConflict:
    return IdempotencyConflict("this idempotency_key was used by an event the ledger recorded and has since archived "
                               "with its block of the log (docs/scale.md); nothing new was written")
