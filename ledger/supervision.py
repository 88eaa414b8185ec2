"""Where the custody rules meet the database: authorisation, findings, the projection.

``Supervisor`` is the ``Judge`` a ``Ledger`` is built with (``ledger.service.judge``):

- ``authorize`` refuses, before anything is written, an event no account of that
  party could record (``ledger.custody.authorize``);
- judging a cylinder is always the same two steps: ``_assess`` runs the rules over
  its story in the order things happened, reading only (the rules start from
  what they carried forward from the events they judged before,
  ``cylinders.judged``, and read only the new events; when those do not simply
  continue the story the whole chain is judged), and ``_apply`` stores new
  findings, marks ``resolved`` with a note the findings a late event explains,
  and rewrites the cylinder's projection (holder, state, inspection due, life);
- ``defer`` queues the cylinders a write touched, in that write's transaction;
  the ingest use case then has them judged once the write is committed
  (``assess_written`` in a read snapshot, ``store_written`` in a short write
  transaction), or leaves them to the reviewer (``assess_queued`` and
  ``apply_review``, likewise); ``after_append`` does both steps inside the write
  itself, for registrations and for callers that own one transaction;
- ``sweep`` does the same for cylinders that nobody scanned, for the findings the
  clock alone produces (``vanished``, ``handover_unconfirmed``).

No method begins or commits a transaction: each takes its caller's connection.
"""

from __future__ import annotations

import threading
import time
from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any, NamedTuple

from pydantic_core import from_json, to_json

from . import custody, rules
from .domain import Event, FindingKind, NewEvent, Party, Person, format_time
from .outcomes import RaisedFinding
from .rules import FindingDraft, RulesConfig
from .storage import Connection
from .storage import events as event_rows
from .storage import findings as store
from .storage import registry as reg

__all__ = ["DatabaseRegistry", "RegistryCache", "Supervisor", "SYSTEM"]

SYSTEM = "ledger"  # the actor named in a finding's history when the ledger itself acts


class Assessment(NamedTuple):
    """What the rules make of one cylinder's chain as read."""

    events: list[Event]  # the events judged, by seq: the whole chain, or those after the carried judgement
    judgement: rules.Judgement
    stored: int | None  # how many events the stored judgement covered when read; None: none was stored
    projection: dict[str, Any]  # the cylinder's row as the judgement leaves it, built before any write

    @property
    def head(self) -> int:
        """Seq of the newest event the judgement covers."""
        return self.events[-1].seq if self.events else self.judgement.length - 1


class RegistryCache:
    """Parties and people as recently read, shared by every transaction of one process.

    Entries live ``ttl`` seconds, so a licence renewed by another process is seen
    within that time; this process's own changes clear the cache at once. Rules
    run on every write and would otherwise read the same parties thousands of
    times a second.
    """

    def __init__(self, ttl: float = 30.0) -> None:
        self.ttl = ttl
        self._entries: dict[tuple[str, str], tuple[float, object]] = {}
        self._lock = threading.Lock()

    def get(self, kind: str, id: str, load):
        now = time.monotonic()
        entry = self._entries.get((kind, id))
        if entry is not None and now - entry[0] < self.ttl:
            return entry[1]
        value = load(id)
        with self._lock:
            if len(self._entries) > 100_000:
                self._entries.clear()
            self._entries[(kind, id)] = (now, value)
        return value

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()


class DatabaseRegistry:
    """The registry the rules read, through the process's ``RegistryCache``."""

    def __init__(self, connection: Connection, cache: RegistryCache | None = None) -> None:
        self.connection = connection
        self.cache = cache or RegistryCache(ttl=0)

    def party(self, id: str) -> Party | None:
        return self.cache.get("party", id, lambda key: reg.get_party(self.connection, key))

    def person(self, id: str) -> Person | None:
        return self.cache.get("person", id, lambda key: reg.get_person(self.connection, key))


class Supervisor:
    def __init__(self, config: RulesConfig | None = None) -> None:
        self.config = config or RulesConfig()
        self.cache = RegistryCache()

    def registry(self, connection: Connection) -> DatabaseRegistry:
        return DatabaseRegistry(connection, self.cache)

    def registry_changed(self) -> None:
        """This process changed a party or a person: the rules read them afresh."""
        self.cache.clear()

    # -- before writing ----------------------------------------------------------

    def authorize(self, connection: Connection, actor, item: NewEvent) -> None:
        registry = self.registry(connection)
        party = registry.party(actor.party) if actor.party else None
        custody.authorize(party, actor.role, item, registry)

    # -- after writing -----------------------------------------------------------

    def after_append(self, connection: Connection, written: Sequence[Event], now: datetime) -> dict[int, list[RaisedFinding]]:
        """Re-evaluate the touched cylinders; returns, per written event id, the open findings it is evidence of."""
        triggers = _last_per_cylinder(written)
        drafts = self._evaluate(connection, triggers, now)
        store.dequeue_review(connection, triggers)  # their whole history has just been evaluated
        return _by_event(written, drafts)

    def assess_written(self, connection: Connection, written: Sequence[Event], now: datetime) -> dict[str, Assessment]:
        """Judge the cylinders of events a committed write queued; reads only (``ledger.ingest``, step 3)."""
        return self._assess(connection, _last_per_cylinder(written), now)

    def store_written(self, connection: Connection, written: Sequence[Event], assessed: dict[str, Assessment],
                      now: datetime) -> dict[int, list[RaisedFinding]]:
        """Store what ``assess_written`` found, in a write transaction; returns what ``after_append`` returns.

        What was found is stored for each cylinder whose chain has not grown since it
        was read; any other (another writer appended meanwhile) is judged again here.
        The queue rows go in the same transaction, so a crash before it leaves the
        cylinders to the reviewer.
        """
        triggers = _last_per_cylinder(written)
        current = self._unchanged(connection, assessed)
        drafts = self._apply(connection, current, triggers, now)
        # Another write judged these since (it carried our events forward): judge their whole chains
        # here, so that the answer still names each finding our events are evidence of.
        grown = {cylinder: trigger for cylinder, trigger in triggers.items() if cylinder not in current}
        if grown:
            drafts.update(self._apply(connection, self._assess_whole(connection, grown, now), grown, now))
        store.dequeue_review(connection, triggers)
        return _by_event(written, drafts)

    def defer(self, connection: Connection, written: Sequence[Event], now: datetime) -> None:
        """Leave the written events' cylinders to the reviewer (``review``), in this transaction."""
        store.enqueue_review(connection, (event.cylinder for event in written), format_time(now))

    def review(self, connection: Connection, now: datetime, limit: int = 200) -> int:
        """Evaluate up to ``limit`` queued cylinders, longest waiting first, in one transaction; returns how many."""
        return self.apply_review(connection, self.assess_queued(connection, now, limit), now)

    def assess_queued(self, connection: Connection, now: datetime, limit: int = 200,
                      settled: timedelta = timedelta(0)) -> dict[str, Assessment]:
        """Run the rules over up to ``limit`` queued cylinders; reads only, so any snapshot will do.

        The reviewer does this outside the write transaction, where the replay
        and the rules cost the appenders nothing; ``apply_review`` then keeps
        only what still describes the cylinder's whole chain. ``settled``: take
        only cylinders queued at least that long ago (a single event's writer
        judges its own a moment after queueing them, ``ledger.ingest``).
        """
        before = format_time(now - settled) if settled else None
        return self._assess(connection, store.queued_for_review(connection, limit, since_before=before), now)

    def apply_review(self, connection: Connection, assessed: dict[str, Assessment], now: datetime) -> int:
        """Store what ``assess_queued`` found, in the write transaction; returns for how many cylinders.

        An assessment is stored if it judged something new and no other judgement of
        its cylinder was stored since it was read (another process's reviewer, a
        single event's writer): it started from the one it read. A cylinder whose
        chain grew meanwhile keeps what was judged, as if the review had come a
        moment earlier, and stays queued, moved to the back, for the events it has
        not judged yet; during a burst of uploads a review thus always makes
        progress instead of being overtaken. The queue rows change in the same
        transaction as the findings, so a crash in between leaves the cylinder
        queued, never half-reviewed. On PostgreSQL the cylinders are locked first,
        in the order appends lock them.
        """
        if not assessed:
            return 0
        event_rows.lock_cylinders(connection, assessed)
        lengths = store.coverage(connection, assessed)
        fresh = {cylinder: assessment for cylinder, assessment in assessed.items()
                 if cylinder in lengths and lengths[cylinder][0] == assessment.stored
                 and assessment.head + 1 > (assessment.stored or 0)}
        if fresh:
            self._apply(connection, fresh, {}, now, latest_explains=True)
        whole = [cylinder for cylinder, (stored, length) in lengths.items()
                 if (fresh[cylinder].head + 1 if cylinder in fresh else stored) == length]
        store.dequeue_review(connection, whole)
        store.requeue_review(connection, [cylinder for cylinder in fresh if cylinder not in whole], format_time(now))
        return len(fresh)

    def _unchanged(self, connection: Connection, assessed: dict[str, Assessment]) -> dict[str, Assessment]:
        """The assessments that still cover their cylinder's whole chain: its head is the one judged.

        In a write transaction; the cylinders are locked first (PostgreSQL), in the order appends
        lock them, so no chain can grow before what was found is stored.
        """
        event_rows.lock_cylinders(connection, assessed)
        heads = event_rows.heads(connection, assessed)
        return {cylinder: assessment for cylinder, assessment in assessed.items()
                if heads.get(cylinder, (None,))[0] == assessment.head}

    def sweep(self, connection: Connection, now: datetime) -> int:
        """Evaluate the cylinders the clock may have turned into findings; returns how many.

        On PostgreSQL each chunk's cylinders are locked before they are read, in the
        appenders' order (the chunks in id order), so that no reviewer or writer stores
        a newer judgement between this one's reading and its storing.
        """
        quiet = format_time(now - timedelta(days=self.config.vanished_days))
        open_since = format_time(now - timedelta(hours=self.config.handover_hours))
        resting = [state.value for state in self.config.resting_states]
        candidates = sorted(store.sweep_candidates(connection, quiet_since=quiet, open_since=open_since,
                                                   resting=resting))
        for start in range(0, len(candidates), 500):
            chunk = candidates[start:start + 500]
            event_rows.lock_cylinders(connection, chunk)
            self._evaluate(connection, dict.fromkeys(chunk), now)
        return len(candidates)

    def _evaluate(self, connection: Connection, triggers: dict[str, Event | None], now: datetime) -> dict[str, list]:
        """Assess and apply in one transaction (see ``_assess`` and ``_apply``)."""
        return self._apply(connection, self._assess(connection, triggers, now), triggers, now)

    def _assess(self, connection: Connection, cylinders, now: datetime) -> dict[str, Assessment]:
        """Judge each cylinder's new events from what the rules carried forward, or its whole chain; reads only."""
        registry = self.registry(connection)
        carried: dict[str, dict | None] = {}
        stored: dict[str, int | None] = {}
        later: dict[str, list[Event]] = defaultdict(list)
        for cylinder, judged, length, *row in store.judged_and_later(connection, cylinders):
            if cylinder not in carried:  # the carried judgement comes again with each later event
                carried[cylinder] = None if judged is None else from_json(judged)
                stored[cylinder] = None if judged is None else length
            if row[0] is not None:
                later[cylinder].append(event_rows.from_row(row))
        assessed, whole = {}, []
        for cylinder in cylinders:
            saved, events = carried.get(cylinder), later[cylinder]
            if saved is None:  # never judged: its whole chain came
                assessed[cylinder] = self._judge(cylinder, events, registry, now, stored=stored.get(cylinder))
            elif rules.resumable(saved, events, registry, self.config):
                assessed[cylinder] = self._judge(cylinder, events, registry, now, saved, stored[cylinder])
            else:
                whole.append(cylinder)
        assessed.update(self._assess_whole(connection, whole, now, stored))
        return assessed

    def _assess_whole(self, connection: Connection, cylinders, now: datetime,
                      stored: dict[str, int | None] | None = None) -> dict[str, Assessment]:
        """Judge each cylinder's whole chain, whatever was carried; reads only. ``stored``: what ``_assess`` read."""
        registry = self.registry(connection)
        chains: dict[str, list[Event]] = defaultdict(list)
        for row in store.histories(connection, cylinders):
            chains[row[1]].append(event_rows.from_row(row))
        stored = stored or {}
        return {cylinder: self._judge(cylinder, chains[cylinder], registry, now, stored=stored.get(cylinder))
                for cylinder in cylinders}

    def _judge(self, cylinder: str, events: list[Event], registry, now: datetime, carried: dict | None = None,
               stored: int | None = None) -> Assessment:
        judgement = rules.judge(events, registry, self.config, now, carried=carried)
        return Assessment(events, judgement, stored, _projection(cylinder, judgement))

    def _apply(self, connection: Connection, assessed: dict[str, Assessment], triggers: dict[str, Event | None],
               now: datetime, latest_explains: bool = False) -> dict[str, list]:
        """Store new findings, resolve and reopen stored ones, rewrite the projection.

        ``latest_explains``: a finding that no longer holds is explained by the
        cylinder's newest recorded event (else by its trigger; None: the clock).
        """
        stored = store.stored_for(connection, assessed)
        at = format_time(now)
        projection = []
        result: dict[str, list] = {}
        for cylinder, assessment in assessed.items():
            events, judgement = assessment.events, assessment.judgement
            trigger = (events[-1] if events else None) if latest_explains else triggers.get(cylinder)
            ids = {event.seq: event.id for event in events}
            keyed = {key: id_ for key, _, id_ in stored[cylinder]}
            fresh = judgement.findings
            outcome = rules.reconcile(stored[cylinder], fresh, trigger, judgement.scope)
            for draft in outcome.new:
                keyed[draft.key] = self._store(connection, draft, ids, at)
            for resolution in outcome.resolved:
                finding_id = keyed[resolution.key]
                explained_by = None if resolution.event is None else ids[resolution.event]
                store.set_status(connection, finding_id, "resolved", at, resolved_by=explained_by)
                store.add_action(connection, finding_id, "resolve", "resolved", SYSTEM, resolution.note, at,
                                 evidence=resolution.evidence)
            for draft in outcome.reopened:
                store.set_status(connection, keyed[draft.key], "open", at, resolved_by=None)
                store.add_action(connection, keyed[draft.key], "reopen", "open", SYSTEM,
                                 f"implied again by the history: {draft.note}", at,
                                 evidence={"code": "implied_again", "finding": draft.evidence})
            result[cylinder] = [
                (draft.events, RaisedFinding(keyed[draft.key], draft.kind, draft.severity, draft.party, draft.note))
                for draft in fresh
            ]
            projection.append(assessment.projection)
        store.write_projection(connection, projection)
        return result

    def _store(self, connection: Connection, draft: FindingDraft, ids: dict[int, int], at: str) -> int:
        party = self.registry(connection).party(draft.party) if draft.party else None
        missing = [seq for seq in draft.events if seq not in ids]  # evidence judged before: look it up
        if missing:
            ids = {**ids, **store.event_ids(connection, draft.cylinder, missing)}
        finding_id = store.insert_finding(
            connection, key=draft.key, kind=draft.kind.value, severity=draft.severity.value,
            cylinder=draft.cylinder, party=draft.party, region=party.region if party else None,
            events=[ids[seq] for seq in draft.events], note=draft.note, evidence=draft.evidence, detected_at=at,
            status="open", assignee=None, resolved_by=None, updated_at=at,
        )
        store.add_action(connection, finding_id, "detect", "open", SYSTEM, draft.note, at, evidence=draft.evidence)
        return finding_id

    # -- codes with no chain -------------------------------------------------------

    def unregistered(self, connection: Connection, item: NewEvent, now: datetime) -> None:
        """A well-formed trace code that was never issued was scanned: 黑气瓶 (DOMAIN.md)."""
        key = rules.finding_key(FindingKind.UNREGISTERED_CODE, item.cylinder, item.party)
        if store.stored_for(connection, [item.cylinder])[item.cylinder]:
            return
        at = format_time(now)
        party = reg.get_party(connection, item.party)
        note = (f"{item.party} scanned {item.cylinder} ({item.kind.value}, {format_time(item.occurred_at)}), "
                "a code the platform never issued")
        evidence = {"code": "unregistered_scan", "party": item.party, "cylinder": item.cylinder,
                    "kind": item.kind.value, "at": format_time(item.occurred_at)}
        finding_id = store.insert_finding(
            connection, key=key, kind=FindingKind.UNREGISTERED_CODE.value,
            severity=rules.SEVERITY[FindingKind.UNREGISTERED_CODE].value, cylinder=item.cylinder, party=item.party,
            region=party.region if party else None, events=[], note=note, evidence=evidence, detected_at=at,
            status="open", assignee=None, resolved_by=None, updated_at=at,
        )
        store.add_action(connection, finding_id, "detect", "open", SYSTEM, note, at, evidence=evidence)


def _last_per_cylinder(written: Sequence[Event]) -> dict[str, Event]:
    """Each written cylinder's last event: the one that explains what its judgement resolves."""
    return {event.cylinder: event for event in written}


def _by_event(written: Sequence[Event], drafts: dict[str, list]) -> dict[int, list[RaisedFinding]]:
    """Per written event id, the findings it is evidence of."""
    by_event: dict[int, list[RaisedFinding]] = defaultdict(list)
    for event in written:
        for seqs, finding in drafts.get(event.cylinder, ()):
            if event.seq in seqs:
                by_event[event.id].append(finding)
    return by_event


def _projection(cylinder: str, judgement: rules.Judgement) -> dict[str, Any]:
    """The cylinder's projected columns as ``judgement`` leaves them (``store.write_projection``)."""
    trace = judgement.trace
    fill = trace.origin.last_fill
    return {
        "cid": cylinder, "holder": trace.current.holder, "state": trace.current.state.value,
        "state_since": format_time(trace.current.since), "last_event_at": format_time(judgement.last_event_at),
        "due": trace.next_inspection_due, "fill_kg": None if fill is None else fill.net_kg,
        "length": judgement.length, "life_ends": judgement.life_ends,
        "judged": to_json(judgement.carried).decode(),  # pydantic-core: a third of json.dumps' time
    }
