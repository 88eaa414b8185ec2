"""Cylinders that cross city lines: the hand-off, the receiving city's check and the hold (docs/regions.md).

Part of ``Ledger``. Each step runs inside the ingest path (``ledger.ingest``):

- **admit** (a read snapshot, no write lock): a ``dispatch``/``return`` to a
  party homed in another city gets ``data.to_log``; a ``receive`` of a cylinder
  this ledger does not hold fetches the holding city's bundle of it, verifies it
  with that city's log key (``crossing.verify_segment``) and gets
  ``data.from_log``. A peer that cannot be asked is a ``PeerUnavailable``.
- **append** (the write transaction, the cylinder locked): an event of a chain
  another city holds is refused (``HeldElsewhere``); a receive's verified segment
  is kept (``foreign_events``) if the chain still ends where it was verified, and
  the receive links to its head.

A late event of a chain this ledger handed off (it occurred no later than this
ledger's own hand-off) is relayed in the admit step: signed with this ledger's
log key (``crossing.relay_note``) and sent to the city holding the chain, whose
answer is this ledger's answer (``Relayed``). That city opens it
(``take_relay``), records it through its one ingest path with
``data.relayed_from`` and tells this ledger, which follows its log.

Never commits; the network is asked only outside the write transaction.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime
from typing import Any

import httpx

from .. import crossing, outbound
from ..crossing import FROM_LOG, HANDOFFS, LEDGER_SET, RELAYED_FROM, TO_LOG, Relayed, Segment
from ..custody import ROLE_PARTY_KINDS
from ..domain import Event, EventKind, Location, NewEvent, Party, PartyKind, Role, State, format_time, parse_time
from ..errors import (
    Conflict, HeldElsewhere, InvalidInput, LedgerError, NotFound, PeerUnavailable, PermissionDenied, Rejected,
    SegmentRefused,
)
from ..outcomes import RaisedFinding
from ..privacy import TO_END_USER
from ..peers import Peer, Peers, read_peers
from ..stamp import stamp_key
from ..storage import Connection
from ..storage import events as event_rows
from ..storage import foreign as foreign_rows
from ..storage import registry as reg
from .types import Actor, Outcome

__all__ = ["CrossingService", "RelayActor", "UNKNOWN_HOME_REGION"]

log = logging.getLogger("ledger.crossing")
TIMEOUT = httpx.Timeout(10.0, connect=3.0)
UNKNOWN_HOME_REGION = "000000"  # a party learnt from a peer's segment, whose home district this city was not told


@dataclass(frozen=True)
class RelayActor(Actor):
    """A party homed in the peer whose log is ``peer``, recording through that city's signed relay."""

    peer: str = ""


class CrossingService:
    """Part of ``Ledger``: the city-ledger side of a province (``LEDGER_REGION``, ``LEDGER_PEERS``)."""

    _peers: Peers | None = None

    @property
    def peers(self) -> Peers:
        """The other cities of ``LEDGER_PEERS`` (read once)."""
        if self._peers is None:
            self._peers = read_peers(self.settings.peers_file, self.settings.log_origin)
        return self._peers

    # -- admit: in a read snapshot, outside the write lock ---------------------------------------

    def _cross(self, connection: Connection, item: NewEvent, recorder: Actor | None = None,
               ) -> tuple[NewEvent | Relayed, tuple[Segment, ...] | None]:
        """``item`` as this ledger records it on a province's chain, and the segments a receive links to
        (one per city the chain went through since this ledger last saw it); or what the city holding the
        chain answered for it, relayed there."""
        relay = recorder.peer if isinstance(recorder, RelayActor) else None
        sent = {k: v for k, v in item.data.items() if k != RELAYED_FROM} if relay else item.data
        for key in LEDGER_SET:
            if key in sent:
                raise InvalidInput(f"data.{key} is set by the ledger on a cylinder that crosses city lines, "
                                   "never sent", field=f"data.{key}")
        if not self.peers:
            return item, None
        actor = reg.get_party(connection, item.party)
        if relay is not None:
            return self._relayed_here(connection, item, actor, relay), None
        if actor is not None and actor.home:
            raise Rejected(f"{actor.name} is homed in {actor.home}: its events are recorded in that city's ledger")
        relayed = self._relay(connection, item)
        if relayed is not None:
            return relayed, None
        if item.kind in HANDOFFS and item.to:
            receiver = reg.get_party(connection, item.to)
            if receiver is not None and receiver.home:
                peer = self.peers.named(receiver.home)
                if peer is None:
                    raise Rejected(f"{receiver.name} is homed in {receiver.home}, which is not a peer of this "
                                   "ledger (LEDGER_PEERS)", field="to")
                return replace(item, data={**item.data, TO_LOG: peer.origin}), None
            return item, None
        if item.kind is not EventKind.RECEIVE or event_rows.by_idempotency_keys(connection, [item.idempotency_key]):
            return item, None
        head = self._head(connection, item.cylinder)
        if head is not None and head[1] == self.settings.log_origin:
            linked = self._foreign_head_log(connection, item.cylinder) if head[0].id is None else None
            if linked is not None:
                # handed to this city by a segment kept before, from that city's news: this receive
                # still starts this city's segment, links to that city's head and tells it so
                return replace(item, data={**item.data, FROM_LOG: linked}), None
            return item, None
        own, holder = self.settings.log_origin, None if head is None else head[1]
        known = foreign_rows.hashes(connection, item.cylinder)
        segments: list[Segment] = []
        for _ in self.peers:  # the chain may have gone on through other cities meanwhile
            segment = self.fetch_segment(connection, item.cylinder, holder, known)
            if segment is None:
                return item, None  # no city holds it: an unregistered code, judged as in one city
            segments.append(segment)
            target = segment.head.data.get(TO_LOG) if segment.head.kind in HANDOFFS else None
            if target == own:
                return replace(item, data={**item.data, FROM_LOG: segment.origin}), tuple(segments)
            if not target:
                break
            known = {**known, **{row[1]: bytes(row[14]) for row in segment.rows}}
            holder = target
        raise HeldElsewhere(f"{item.cylinder} is held in {segments[-1].origin}'s log and was not handed to this "
                            "city; its holder there hands it over first")

    # -- relays: a late event of a chain this ledger handed off --------------------------------------

    def _relay(self, connection: Connection, item: NewEvent) -> Relayed | None:
        """What the city holding ``item``'s chain answered for it, when this ledger handed the chain off after
        ``item`` occurred; None when ``item`` is this ledger's to judge (held here, recorded here before, or
        occurring after the hand-off, which ``_hold`` refuses)."""
        if event_rows.by_idempotency_keys(connection, [item.idempotency_key]):
            return None  # recorded here before the hand-off: a retry, answered as a duplicate
        head = self._head(connection, item.cylinder)
        if head is None or head[1] == self.settings.log_origin:
            return None
        handoffs = [event for event in event_rows.history(connection, item.cylinder)
                    if event.kind in HANDOFFS and event.data.get(TO_LOG)]
        if not handoffs or item.occurred_at > handoffs[-1].occurred_at:
            return None
        holder = self.peers.of_log(head[1])
        if holder is None:
            return None  # a city that is no peer: refused as held elsewhere
        if item.kind in TO_END_USER or item.kind is EventKind.REPORT:
            raise HeldElsewhere(f"{item.cylinder} is held by city {holder.name}; a {item.kind.value} names an end "
                                "user or carries a note, which never leave this city, so it is not relayed there: "
                                "it is recorded here once the cylinder is handed back to a party of this city")
        note = crossing.relay_note(self.signer, item)
        try:
            with outbound.client(timeout=TIMEOUT) as client:
                answer = client.post(f"{holder.url}/v1/log/relays", json={"note": note})
        except httpx.HTTPError as exc:
            raise PeerUnavailable(f"the ledger of {holder.name}, which holds {item.cylinder}, cannot be reached "
                                  f"({type(exc).__name__}); nothing was recorded, send it again later") from None
        return Relayed(_relay_outcome(holder, answer))

    def _relayed_here(self, connection: Connection, item: NewEvent, party: Party | None, origin: str) -> NewEvent:
        """A relayed ``item`` checked: its party homed in the relaying city, no hand-off to another city on it."""
        peer = self.peers.of_log(origin)
        if peer is None or item.data.get(RELAYED_FROM) != origin:
            raise PermissionDenied("a relay comes from a peer of this ledger (LEDGER_PEERS)")
        if party is None or party.home != peer.name:
            raise Rejected(f"{item.party} is not registered here as a party homed in {peer.name}, which relayed "
                           "its event", field="party")
        return item

    def take_relay(self, note: str, now: datetime | None = None) -> Outcome:
        """Record the event a peer relayed (``POST /v1/log/relays``) through the one ingest path, with
        ``data.relayed_from``; raises the reason it is refused, nothing written."""
        if not self.peers:
            raise NotFound("this ledger has no peers (LEDGER_PEERS)")
        origin, item = crossing.open_relay({peer.origin: peer.verifier for peer in self.peers}, note)
        peer = self.peers.of_log(origin)
        for key in LEDGER_SET:
            if key in item.data:
                raise InvalidInput(f"data.{key} is set by a ledger, never relayed", field=f"data.{key}")
        with self.db.reading() as connection:
            party = reg.get_party(connection, item.party)
        if party is None or party.home != peer.name:
            raise Rejected(f"{item.party} is not registered here as a party homed in {peer.name}, which relayed "
                           "its event", field="party")
        role = next((role for role, kinds in ROLE_PARTY_KINDS.items()
                     if role is not Role.ADMIN and party.kind in kinds), None)
        if role is None:
            raise Rejected(f"{party.name} records no custody events", field="party")
        actor = RelayActor(role, party.id, f"relay from {peer.name}", peer=origin)
        (outcome,) = self.ingest_one(actor, [replace(item, data={**item.data, RELAYED_FROM: origin})], now)
        if outcome.error is not None:
            raise outcome.error
        return outcome

    def _head(self, connection: Connection, cylinder: str) -> tuple[Event, str] | None:
        """A chain's newest event and the log that may extend it (``crossing.holder_log``); None if unknown."""
        chain = event_rows.chain_heads(connection, [cylinder])
        return self._heads(connection, chain).get(cylinder)

    def _foreign_head_log(self, connection: Connection, cylinder: str) -> str | None:
        """The log of the other city whose kept event heads ``cylinder``'s chain; None when the head is this
        ledger's own event."""
        found = foreign_rows.head_rows(connection, event_rows.chain_heads(connection, [cylinder])).get(cylinder)
        return None if found is None else found[1]

    def _heads(self, connection: Connection, chain: dict[str, tuple[int, bytes]]) -> dict[str, tuple[Event, str]]:
        own = self.settings.log_origin
        found: dict[str, tuple[Event, str]] = {}
        for cylinder, (row, origin) in foreign_rows.head_rows(connection, chain).items():
            event = event_rows.from_row(row) if origin is None else crossing.foreign_event(row)
            found[cylinder] = (event, crossing.holder_log(event, origin or own, own))
        return found

    def fetch_segment(self, connection: Connection, cylinder: str, holder: str | None,
                      known: dict[int, bytes] | None = None) -> Segment | None:
        """The verified segment of ``cylinder`` the city ``holder`` (a log origin; None: whichever peer holds
        it) has beyond what this ledger holds; None when no peer holds it. Raises ``PeerUnavailable`` when a
        peer that may hold it cannot be asked, ``SegmentRefused`` when what it answers does not verify."""
        if holder is not None:
            peer = self.peers.of_log(holder)
            if peer is None:
                raise HeldElsewhere(f"{cylinder} is held in {holder}'s log, which is not a peer of this ledger")
            asked = [peer]
        else:
            asked = list(self.peers)
        known = foreign_rows.hashes(connection, cylinder) if known is None else known
        unreachable: list[str] = []
        for peer in asked:
            try:
                bundle = _ask(peer, cylinder)
            except PeerUnavailable as exc:
                unreachable.append(exc.message)
                continue
            if bundle is not None:
                return crossing.verify_segment(bundle, peer.verifier, cylinder, known)
        if unreachable:
            raise PeerUnavailable("; ".join(unreachable) + "; nothing was recorded, send it again later")
        if holder is not None:
            raise SegmentRefused(f"{holder} does not hold {cylinder}, yet this ledger's chain was handed to it")
        return None

    # -- append: in the write transaction, the cylinders locked ------------------------------------

    def _hold(self, connection: Connection, candidates: list, chain: dict[str, tuple[int, bytes]],
              stored: dict[str, Event], outcomes: list, now: datetime) -> list:
        """The candidates that may be appended now: segments kept, events of chains held elsewhere refused."""
        if not self.peers:
            return candidates
        own = self.settings.log_origin
        kept = []
        for index, prepared in candidates:
            segments: tuple[Segment, ...] | None = prepared.segment
            if segments and prepared.event.idempotency_key not in stored:
                try:
                    self._keep(connection, prepared.event, segments, chain, now)
                except LedgerError as exc:
                    outcomes[index] = Outcome("rejected", error=exc)
                    continue
            kept.append((index, prepared))
        heads = self._heads(connection, {c: h for c, h in chain.items()
                                         if any(p.event.cylinder == c for _, p in kept)})
        result = []
        for index, prepared in kept:
            new = prepared.event
            head = heads.get(new.cylinder)
            if head is not None and head[1] != own and new.idempotency_key not in stored:
                event, holder = head
                peer = self.peers.of_log(holder)
                outcomes[index] = Outcome("rejected", error=HeldElsewhere(
                    f"{prepared.event.cylinder} is held by city {peer.name if peer else holder} since "
                    f"{format_time(event.occurred_at)} ({event.kind.value} to {event.to}); it is recorded there "
                    "until it is handed back to a party of this city"))
                continue
            if new.kind in HANDOFFS and new.data.get(TO_LOG) and new.idempotency_key not in stored:
                # the chain leaves this city with this event: nothing after it in the batch joins it here
                heads[new.cylinder] = (Event(new.cylinder, -1, new.kind, new.occurred_at, now, new.party, None,
                                             new.to, None, new.data, new.idempotency_key, None, b""),
                                       new.data[TO_LOG])
            result.append((index, prepared))
        return result

    def _keep(self, connection: Connection, item: NewEvent, segments: tuple[Segment, ...],
              chain: dict[str, tuple[int, bytes]], now: datetime) -> None:
        """Store ``segments`` if the chain still ends where they were verified, or at one of their events (the
        follower kept the first of them meanwhile: the rest are stored); then it ends at their head."""
        cylinder, first, last = item.cylinder, segments[0].rows[0], segments[-1].head
        head = chain.get(cylinder)
        if head is not None and head == (last.seq, last.hash):
            return  # kept by an earlier item of this batch
        expected = None if first[1] == 0 else (first[1] - 1, bytes(first[13]))
        if head != expected and head not in {(row[1], bytes(row[14])) for segment in segments for row in segment.rows}:
            raise SegmentRefused(f"{cylinder}'s chain changed here while {segments[0].origin}'s segment was "
                                 "checked; nothing was recorded, send it again")
        if head is None:
            self._adopt(connection, item, segments[0], now)
        for segment in segments:
            rows = [row for row in segment.rows if head is None or row[1] > head[0]]
            foreign_rows.insert(connection, rows, segment.checkpoint.note, format_time(now), segment.proofs,
                                segment.checkpoint.size)
        chain[cylinder] = (last.seq, last.hash)

    def _adopt(self, connection: Connection, item: NewEvent, segment: Segment, now: datetime) -> None:
        """The cylinder row of a cylinder first seen here, from its register event in another city's log."""
        facts = segment.events[0].data
        owner = facts.get("owner")
        peer = self.peers.of_log(segment.origin)
        if reg.get_party(connection, owner) is None:
            reg.insert_party(connection, Party(owner, PartyKind.GAS_COMPANY, owner, UNKNOWN_HOME_REGION,
                                               home=peer.name if peer else None), format_time(now))
            if self.judge is not None:
                self.judge.registry_changed()
        receiver = reg.get_party(connection, item.party)
        at = format_time(segment.events[0].occurred_at)
        try:
            row = dict(
                id=item.cylinder, owner=owner, serial=facts["serial"], manufacturer=facts["manufacturer"],
                stamp_key=stamp_key(facts["manufacturer"], facts["serial"]), model=facts["model"],
                manufactured_on=date.fromisoformat(facts["manufactured_on"]), tare_kg=float(facts["tare_kg"]),
                design_life_years=int(facts["design_life_years"]), registered_at=at,
                region=receiver.region if receiver else UNKNOWN_HOME_REGION,
                next_inspection_due=date.fromisoformat(facts["next_inspection_due"]), holder=owner,
                state=State.AT_STATION.value, state_since=at, last_event_at=at, last_fill_kg=None,
                life_ends_on=None, chain_length=1,
            )
        except (KeyError, TypeError, ValueError, LedgerError) as exc:
            raise SegmentRefused(f"the register event of {item.cylinder} lacks its facts ({exc})") from None
        if not reg.insert_cylinders(connection, [row]):
            raise SegmentRefused(f"{facts['manufacturer']} cylinder {facts['serial']} is registered here under "
                                 "another trace code")

    # -- a peer's news: it now holds a segment that follows this ledger's ------------------------------

    def segment_news(self, connection: Connection, cylinder: str) -> Segment | None:
        """What a peer announced of ``cylinder`` (``POST /v1/log/crossings``), verified; reads only.

        Only a chain this ledger handed to another city is followed, and only from that city's log.
        """
        if not self.peers:
            raise NotFound("this ledger has no peers (LEDGER_PEERS)")
        head = self._head(connection, cylinder)
        if head is None or head[1] == self.settings.log_origin:
            return None
        try:
            return self.fetch_segment(connection, cylinder, head[1])
        except SegmentRefused as exc:
            if "nothing of" in exc.message:
                return None
            raise

    def keep_news(self, connection: Connection, cylinder: str, segment: Segment, now: datetime) -> bool:
        """Keep what ``segment_news`` verified, in the caller's write transaction, if the chain still ends where
        it was verified; queue the cylinder for judging. False when it moved on meanwhile."""
        chain = event_rows.lock_heads(connection, [cylinder])
        first = segment.rows[0]
        if chain.get(cylinder) != (first[1] - 1, bytes(first[13])):
            return False
        foreign_rows.insert(connection, segment.rows, segment.checkpoint.note, format_time(now), segment.proofs,
                            segment.checkpoint.size)
        if self.judge is not None:
            self.judge.defer(connection, [segment.head], now)
        return True

    def announce(self, events: Sequence[Event]) -> None:
        """Tell each city a recorded segment links to, or that relayed a recorded event, that the chain goes on
        here (best effort: the city also learns it when the cylinder comes back)."""
        for event in events:
            peer = self.peers.of_log(event.data.get(FROM_LOG) or event.data.get(RELAYED_FROM))
            if peer is None:
                continue
            try:
                with outbound.client(timeout=TIMEOUT) as client:
                    client.post(f"{peer.url}/v1/log/crossings", json={"cylinder": event.cylinder})
            except httpx.HTTPError as exc:
                log.warning("could not tell %s that %s goes on here: %s", peer.name, event.cylinder, exc)


def _ask(peer: Peer, cylinder: str) -> dict[str, Any] | None:
    """The peer's public bundle of ``cylinder``, of the events in its own log only (``segment=own``); None
    when it holds none."""
    try:
        with outbound.client(timeout=TIMEOUT) as client:
            answer = client.get(f"{peer.url}/v1/log/cylinders/{cylinder}/bundle", params={"segment": "own"})
    except httpx.HTTPError as exc:
        raise PeerUnavailable(f"the ledger of {peer.name} cannot be reached ({type(exc).__name__})") from None
    if answer.status_code == 404:
        return None
    if answer.status_code != 200:
        raise PeerUnavailable(f"the ledger of {peer.name} answered {answer.status_code}")
    try:
        return answer.json()
    except ValueError:
        raise SegmentRefused(f"the ledger of {peer.name} answered something that is not JSON") from None


_PASSED = {409: Conflict, 404: NotFound, 403: PermissionDenied}


def _relay_outcome(holder: Peer, answer: httpx.Response) -> Outcome:
    """The holder's answer to a relay: the event it recorded, or its refusal passed through as it was given."""
    if answer.status_code >= 500 or answer.status_code == 429:
        raise PeerUnavailable(f"the ledger of {holder.name} answered {answer.status_code}; nothing was recorded, "
                              "send it again later")
    try:
        body = answer.json()
    except ValueError:
        raise PeerUnavailable(f"the ledger of {holder.name} answered something that is not JSON") from None
    if answer.status_code >= 400:
        error = _PASSED.get(answer.status_code, Rejected)(
            str(body.get("detail") or f"{holder.name} refused it ({answer.status_code})"),
            field=next((e.get("field") for e in body.get("errors") or [] if isinstance(e, dict)), None))
        kind = str(body.get("type", "")).rpartition(":")[2]
        if kind:
            error.code = kind  # the holder's problem type, passed through
        return Outcome("rejected", error=error, log=holder.origin)
    try:
        raw = body["event"]
        location = raw["location"]
        event = Event(raw["cylinder"], raw["seq"], EventKind(raw["kind"]), parse_time(raw["occurred_at"]),
                      parse_time(raw["recorded_at"]), raw["party"], raw["person"], raw["to"],
                      None if location is None else Location(location["lat"], location["lon"]), raw["data"],
                      raw["idempotency_key"], None if raw["prev_hash"] is None else bytes.fromhex(raw["prev_hash"]),
                      bytes.fromhex(raw["hash"]), raw["id"], raw["log_index"])
        findings = [RaisedFinding(f["id"], f["kind"], f["severity"], f["party"], f["note"])
                    for f in body.get("findings", [])]
    except (KeyError, TypeError, ValueError, LedgerError) as exc:
        raise PeerUnavailable(f"the ledger of {holder.name} answered an event that cannot be read "
                              f"({type(exc).__name__})") from None
    return Outcome("duplicate" if answer.status_code == 200 else "created", event, findings=findings,
                   log=holder.origin)
