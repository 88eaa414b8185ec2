"""Where the custody rules meet the database: authorisation, findings, the projection.

``Supervisor`` is the ``Judge`` a ``Ledger`` is built with (``ledger.service.judge``):

- ``authorize`` refuses, before anything is written, an event no account of that
  party could record (``ledger.custody.authorize``);
- judging is always the same two steps, whoever asks: ``assess`` runs the rules
  over some cylinders' stories in the order things happened, reading only (the
  rules start from what they carried forward from the events they judged before,
  ``cylinders.judged``, and read only the new events; when those do not simply
  continue the story the whole chain is judged), and ``store`` keeps what still
  describes each chain: it stores new findings, marks ``resolved`` with a note the
  findings a late event explains, and rewrites the cylinder's projection (holder,
  state, inspection due, life);
- what to judge is a ``Work``: the cylinders of events just written
  (``Work.of_written``), those waiting on the review queue (``queued``; ``defer``
  puts them there in the write's own transaction), or those the clock alone may
  have turned into findings (``due``: ``vanished``, ``handover_unconfirmed``).

No method begins or commits a transaction: each takes its caller's connection.
"""

from __future__ import annotations

import threading
import time
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, NamedTuple

from pydantic_core import from_json, to_json

from . import crossing, custody, rules
from .domain import Event, FindingKind, NewEvent, Party, Person, format_time
from .outcomes import Judged, Purpose, RaisedFinding, Work
from .rules import FindingDraft, RulesConfig, installation
from .safety import Checklist
from .storage import Connection
from .storage import events as event_rows
from .storage import findings as store
from .storage import foreign as foreign_rows
from .storage import registry as reg

__all__ = ["Assessed", "DatabaseRegistry", "RegistryCache", "Supervisor", "SYSTEM"]

SYSTEM = "ledger"  # the actor named in a finding's history when the ledger itself acts
# Stored findings no cylinder's story decides: the audit's (``audit:`` keys), citizens' reports
# (``citizen:``) and the installations'.
_NOT_THE_STORY = ("audit:", "citizen:", *(f"{kind.value}:" for kind in sorted(rules.installation.KINDS)))


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


@dataclass(frozen=True)
class Assessed:
    """What ``Supervisor.assess`` made of some ``Work``, for ``Supervisor.store``."""

    work: Work
    cylinders: dict[str, Assessment]

    def __len__(self) -> int:
        return len(self.cylinders)

    def __iter__(self):
        return iter(self.cylinders)


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
    def __init__(self, config: RulesConfig | None = None, checklist: Checklist | None = None) -> None:
        self.config = config or RulesConfig()
        self.checklist = checklist or Checklist()  # the home safety check's items (ledger.safety)
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

    # -- judging: assess (reads only), then store (writes) ---------------------------

    def queued(self, connection: Connection, now: datetime, limit: int = 200,
               settled: timedelta = timedelta(0)) -> Work:
        """Up to ``limit`` cylinders from the review queue, longest waiting first.

        ``settled``: only those queued at least that long ago (a single event's
        writer judges its own a moment after queueing them, ``ledger.ingest``).
        """
        before = format_time(now - settled) if settled else None
        return Work(Purpose.REVIEW, store.queued_for_review(connection, limit, since_before=before))

    def due(self, connection: Connection, now: datetime) -> Work:
        """The cylinders the clock may have turned into findings (``vanished``, ``handover_unconfirmed``)."""
        quiet = format_time(now - timedelta(days=self.config.vanished_days))
        open_since = format_time(now - timedelta(hours=self.config.handover_hours))
        resting = [state.value for state in self.config.resting_states]
        return Work(Purpose.CLOCK, sorted(store.sweep_candidates(connection, quiet_since=quiet,
                                                                 open_since=open_since, resting=resting)))

    def assess(self, connection: Connection, work: Work, now: datetime) -> Assessed:
        """Run the rules over ``work``'s cylinders; reads only, so any snapshot will do."""
        return Assessed(work, self._assess(connection, work.triggers, now))

    def store(self, connection: Connection, assessed: Assessed, now: datetime) -> Judged:
        """Store what ``assess`` found, in a write transaction; the cylinders are locked first.

        On PostgreSQL the cylinders are locked in the order appends lock them, so no
        chain grows and no other judgement is stored between the check and the store.
        What is kept depends on who waits for it (``Purpose``):

        - ``WRITTEN``, ``CLOCK``: an assessment is stored if its cylinder's chain has
          not grown since it was read; a cylinder that grew meanwhile is judged again
          here, whole, so the answer still names each finding the written events are
          evidence of. The written events' cylinders leave the review queue.
        - ``REVIEW``: an assessment is stored if it judged something new and no other
          judgement of its cylinder was stored since it was read (it started from
          the one it read). A cylinder whose chain grew meanwhile keeps what was
          judged, as if the review had come a moment earlier, and goes to the back
          of the queue for the events it has not judged yet: during a burst of
          uploads a review always makes progress instead of being overtaken.

        The queue rows change in the same transaction as the findings, so a crash in
        between leaves the cylinder queued, never half-judged.
        """
        if not assessed.cylinders:
            return Judged({}, 0)
        if assessed.work.purpose is Purpose.REVIEW:
            return Judged({}, self._store_review(connection, assessed.cylinders, now))
        triggers = assessed.work.triggers
        event_rows.lock_cylinders(connection, assessed.cylinders)
        heads = event_rows.chain_heads(connection, assessed.cylinders)
        current = {cylinder: assessment for cylinder, assessment in assessed.cylinders.items()
                   if heads.get(cylinder, (None,))[0] == assessment.head}
        drafts = self._apply(connection, current, triggers, now)
        grown = {cylinder: triggers.get(cylinder) for cylinder in assessed.cylinders if cylinder not in current}
        if grown:
            drafts.update(self._apply(connection, self._assess_whole(connection, grown, now), grown, now))
        written = assessed.work.written
        if written:
            store.dequeue_review(connection, triggers)
        return Judged(_by_event(written, drafts), len(assessed.cylinders))

    def _store_review(self, connection: Connection, assessed: dict[str, Assessment], now: datetime) -> int:
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

    def defer(self, connection: Connection, written: Sequence[Event], now: datetime) -> None:
        """Queue the written events' cylinders for judging after the commit, in this transaction."""
        store.enqueue_review(connection, (event.cylinder for event in written), format_time(now))

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
        crossed = foreign_rows.crossed(connection, carried)  # stories told in several cities' logs: whole
        for cylinder in cylinders:
            saved, events = carried.get(cylinder), later[cylinder]
            if cylinder in crossed:
                whole.append(cylinder)
            elif saved is None:  # never judged: its whole chain came
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
        # the segments other cities' logs hold, verified when they were kept (docs/regions.md): one story
        for row in foreign_rows.rows_of(connection, cylinders):
            chains[row[0]].append(crossing.foreign_event(row))
            chains[row[0]].sort(key=lambda event: event.seq)
        stored = stored or {}
        return {cylinder: self._judge(cylinder, chains[cylinder], registry, now, stored=stored.get(cylinder))
                for cylinder in cylinders}

    def _judge(self, cylinder: str, events: list[Event], registry, now: datetime, carried: dict | None = None,
               stored: int | None = None) -> Assessment:
        judgement = rules.judge(events, registry, self.config, now, carried=carried)
        return Assessment(events, judgement, stored, _projection(cylinder, judgement))

    def projections(self, connection: Connection, cylinders, now: datetime) -> dict[str, dict[str, Any]]:
        """Each cylinder's projection re-derived from its whole chain, as judging it would write it; reads only
        (the audit compares it with the stored one, ``ledger.audit``)."""
        return {cylinder: assessment.projection
                for cylinder, assessment in self._assess_whole(connection, cylinders, now).items()}

    def _apply(self, connection: Connection, assessed: dict[str, Assessment], triggers: dict[str, Event | None],
               now: datetime, latest_explains: bool = False) -> dict[str, list]:
        """Store new findings, resolve and reopen stored ones, rewrite the projection.

        ``latest_explains``: a finding that no longer holds is explained by the
        cylinder's newest recorded event (else by its trigger; None: the clock).
        """
        stored = store.stored_for(connection, assessed)
        registry = self.registry(connection)
        at = format_time(now)
        projection = []
        result: dict[str, list] = {}
        for cylinder, assessment in assessed.items():
            events, judgement = assessment.events, assessment.judgement
            trigger = (events[-1] if events else None) if latest_explains else triggers.get(cylinder)
            ids = {event.seq: event.id for event in events}
            # The audit's findings (``audit:`` keys, ledger.audit) are about the stored rows, not the story,
            # and citizens' reports (``citizen:``, ledger.citizen) about what people saw: no event explains them
            # away. Nor are the home safety check's: they judge the user's installation, across cylinders
            # (``_installations``).
            ours = [item for item in stored[cylinder] if not item[0].startswith(_NOT_THE_STORY)]
            keyed = {key: id_ for key, _, id_ in ours}
            elsewhere = {event.seq for event in events if event.id is None}
            fresh = [draft for draft in judgement.findings if _raised_here(draft, elsewhere, registry)]
            outcome = rules.reconcile(ours, fresh, trigger, judgement.scope)
            for draft in outcome.new:
                keyed[draft.key] = self._store(connection, draft, ids, at)
            for resolution in outcome.resolved:
                finding_id = keyed[resolution.key]
                explained_by = None if resolution.event is None else ids.get(resolution.event)
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
        self._installations(connection, assessed, stored, at, result)
        return result

    def _installations(self, connection: Connection, assessed: dict[str, Assessment],
                       stored: dict[str, list[tuple[str, str, int]]], at: str, result: dict[str, list]) -> None:
        """The home safety checks of the judged deliveries, in the order they happened: each first resolves
        the open ``unsafe_installation`` of its end user it re-checks, then raises what it failed
        (``rules.installation``). A finding's key is the delivery's, so judging a chain again raises nothing twice."""
        checked = sorted((event for assessment in assessed.values() for event in assessment.events
                          if installation.safety_check(event) is not None),
                         key=lambda event: (event.occurred_at, event.cylinder, event.seq))
        if not checked:
            return
        keys = {key for cylinder in assessed for key, _, _ in stored[cylinder]}
        unsafe: dict[str, list[tuple[int, dict]]] = {}  # per end user, the open unsafe installations read so far
        for event in checked:
            if event.to and event.to not in unsafe:
                unsafe[event.to] = [(id_, store.evidence_of(text) or {}) for id_, _, text in store.open_of_kind(
                    connection, FindingKind.UNSAFE_INSTALLATION.value, rules.RESOLVABLE, end_user=event.to)]
            for entry in list(unsafe.get(event.to, ())):
                evidence = installation.rechecked(entry[1], event)
                if evidence is None:
                    continue
                note = (f"re-checked by {event.party} at {evidence['at']} (delivery seq {event.seq} of "
                        f"{event.cylinder}): every failed item is ok now")
                store.set_status(connection, entry[0], "resolved", at, resolved_by=event.id)
                store.add_action(connection, entry[0], "resolve", "resolved", SYSTEM, note, at, evidence=evidence)
                unsafe[event.to].remove(entry)
            for draft in installation.unsafe(event, self.checklist):
                if draft.key in keys:
                    continue
                keys.add(draft.key)
                finding_id = self._store(connection, draft, {event.seq: event.id}, at)
                if draft.kind is FindingKind.UNSAFE_INSTALLATION and event.to:
                    unsafe[event.to].append((finding_id, dict(draft.evidence)))
                result.setdefault(event.cylinder, []).append(
                    (draft.events, RaisedFinding(finding_id, draft.kind, draft.severity, draft.party, draft.note)))

    def _store(self, connection: Connection, draft: FindingDraft, ids: dict[int, int], at: str) -> int:
        party = self.registry(connection).party(draft.party) if draft.party else None
        missing = [seq for seq in draft.events if seq not in ids]  # evidence judged before: look it up
        if missing:
            ids = {**ids, **store.event_ids(connection, draft.cylinder, missing)}
        finding_id = store.insert_finding(
            connection, key=draft.key, kind=draft.kind.value, severity=draft.severity.value,
            cylinder=draft.cylinder, party=draft.party, region=party.region if party else None,
            events=[ids[seq] for seq in draft.events if ids[seq] is not None], note=draft.note, evidence=draft.evidence, detected_at=at,
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


def _raised_here(draft: FindingDraft, elsewhere: set[int], registry: DatabaseRegistry) -> bool:
    """Whether this city raises ``draft`` of a story whose events at seqs ``elsewhere`` are other cities'
    (docs/regions.md, "Where a finding is raised"). Each finding belongs to one city, and to the same one
    however the story grows: the city whose log holds the event the finding is about (the handover it
    opened, or the newest event it rests on); an unlicensed party, to the city it is homed in. A
    certificate finding is raised wherever the rule finds one: people never cross, and the rule leaves
    a person it does not know on a leg crossing the line to the city that registered them."""
    if draft.kind is FindingKind.UNLICENSED_PARTY:
        party = registry.party(draft.party) if draft.party else None
        return party is None or not party.home
    if not elsewhere or not draft.events or draft.kind is FindingKind.CERTIFICATE_EXPIRED:
        return True
    about = draft.events[0] if draft.kind is FindingKind.HANDOVER_UNCONFIRMED else max(draft.events)
    return about not in elsewhere


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
