"""The replay machine: a cylinder's story rebuilt in the order things happened.

``replay(history, registry)`` rebuilds the story in the order things happened
(``occurred_at``, then ``seq``; never arrival order) and answers the three
questions of CONTRACT.md: where it came from, who held it when, who answers now.
``replay_marked`` and ``continues`` resume a replay from what an earlier one knew.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, Mapping, Sequence

from ..domain import Event, EventKind, Party, PartyKind, State, format_time, iso_day
from ..errors import InvalidInput
from .authorize import Registry, own_worker
from .trace import (
    UNANNOUNCED, UNCONFIRMED, CustodyInterval, Current, Handover, HandoverEnd, Jump, LastFill, Origin, Step, Trace,
)

__all__ = ["DEFAULT_SKEW", "in_time_order", "replay", "replay_marked", "continues"]

K, P = EventKind, PartyKind
DEFAULT_SKEW = timedelta(minutes=10)

_HANDOVERS = (K.DISPATCH, K.RETURN)
_RESTING = {P.GAS_COMPANY: State.AT_STATION, P.FILLING_STATION: State.AT_STATION,
            P.TRANSPORTER: State.IN_TRANSIT, P.SHOP: State.AT_SHOP,
            P.INSPECTION_STATION: State.AT_INSPECTION}




def in_time_order(history: Sequence[Event], skew: timedelta = DEFAULT_SKEW) -> list[Event]:
    """``history`` sorted by ``occurred_at`` then ``seq``, the genesis register first.

    Clock skew between devices is forgiven once per event: a handover naming a
    party that acted up to ``skew`` earlier is moved before that act.
    """
    return _forgive_skew(sorted(history, key=lambda e: (e.seq != 0, e.occurred_at, e.seq)), skew, 1)


def _forgive_skew(events: list[Event], skew: timedelta, start: int) -> list[Event]:
    """Move handovers before the act of their receiver they follow by at most ``skew``, from ``start`` on."""
    i = start
    while i < len(events):
        actor, moment = events[i].party, events[i].occurred_at
        pulled = False
        if events[i].kind not in (K.REPORT, K.REGISTER):
            for j in range(i + 1, len(events)):
                later = events[j]
                if later.occurred_at - moment > skew:
                    break
                if later.kind in _HANDOVERS and later.to == actor and later.party != actor:
                    events.insert(i, events.pop(j))
                    pulled = True
                    break
        i += 2 if pulled else 1
    return events


def replay(history: Sequence[Event], registry: Registry, skew: timedelta = DEFAULT_SKEW) -> Trace:
    """Rebuild ``history`` (any arrival order) into a ``Trace``; raises ``InvalidInput`` without a genesis."""
    return replay_marked(history, registry, skew)[0]


# --- resuming a replay ------------------------------------------------------------------------
#
# A mark is what a replay knows at its end, as JSON: the machine's state (holder, state,
# open handovers, inspection due, last fill, scrap), how many events it has seen, the
# latest time among them and, for the acts within ``skew`` of that time, who acted when.
# Events that all occurred at or after that time and whose handovers pull none of those
# acts earlier (``in_time_order``) continue the story: replaying them from the mark gives
# the same machine as replaying everything.


def replay_marked(history: Sequence[Event], registry: Registry, skew: timedelta = DEFAULT_SKEW,
                  mark: Mapping[str, Any] | None = None) -> tuple[Trace, dict[str, Any]]:
    """``replay``, also returning the mark at its end; or, given ``mark``, resume from it.

    With ``mark``, ``history`` is exactly the events recorded after the marked ones
    and ``continues(mark, history, skew)`` must hold. The trace then tells the story
    from the mark on: its steps and custody start there, its handovers are those open
    at the mark or opened since; holder, state, inspection, fill and scrap are those
    of the whole story.
    """
    if mark is None:
        events = in_time_order(history, skew)
        if not events or events[0].seq != 0 or events[0].kind is not K.REGISTER:
            raise InvalidInput("a cylinder's history starts with its register event at seq 0")
        machine = _Machine.start(registry, events[0])
        events = events[1:]
    else:
        machine = _Machine.resume(registry, mark["machine"])
        events = _forgive_skew(sorted(history, key=lambda e: (e.occurred_at, e.seq)), skew, 0)
    for event in events:
        machine.apply(event)
    return machine.trace(), _next_mark(mark, history, machine, skew)


def continues(mark: Mapping[str, Any], history: Sequence[Event], skew: timedelta = DEFAULT_SKEW) -> bool:
    """True when ``history``, the events recorded after ``mark``'s, replayed from it give the whole story.

    They must be the next seqs, none may have occurred before the latest marked event,
    and no handover among them may name a party that acted within ``skew`` before it
    (``in_time_order`` would move that handover before the marked act).
    """
    length = mark["length"]
    if sorted(e.seq for e in history) != list(range(length, length + len(history))):
        return False
    last = datetime.fromisoformat(mark["last"])
    recent = mark["recent"]
    for e in history:
        if e.occurred_at < last:
            return False
        if (e.kind in _HANDOVERS and e.to in recent and e.party != e.to
                and datetime.fromisoformat(recent[e.to]) >= e.occurred_at - skew):
            return False
    return True


def _next_mark(mark: Mapping[str, Any] | None, history: Sequence[Event], machine: _Machine,
               skew: timedelta) -> dict[str, Any]:
    acts = {party: datetime.fromisoformat(at) for party, at in mark["recent"].items()} if mark else {}
    times = [e.occurred_at for e in history]
    if mark:
        times.append(datetime.fromisoformat(mark["last"]))
    last = max(times)
    for e in history:
        if e.kind not in (K.REPORT, K.REGISTER) and (e.party not in acts or acts[e.party] < e.occurred_at):
            acts[e.party] = e.occurred_at
    return {
        "length": (mark["length"] if mark else 0) + len(history),
        "last": format_time(last),
        "recent": {party: format_time(at) for party, at in sorted(acts.items()) if at >= last - skew},
        "machine": machine.snapshot(),
    }


class _Machine:
    """The mutable half of ``replay``: one pass, one holder at every moment."""

    def __init__(self, registry: Registry) -> None:
        self.registry = registry
        self.parties: dict[str, Party | None] = {}
        self.ends: list[datetime] = []
        self.closed: list[Handover] = []
        self.steps: list[Step] = []

    @classmethod
    def start(cls, registry: Registry, genesis: Event) -> _Machine:
        self = cls(registry)
        owner = genesis.data.get("owner")
        self.owner = owner if isinstance(owner, str) else genesis.party
        self.cylinder = genesis.cylinder
        self.holder = genesis.party
        self.state = self._resting(genesis.party, State.AT_STATION)
        self.since = genesis.occurred_at
        self.intervals: list[list[Any]] = [[genesis.party, genesis.occurred_at, genesis.seq, [genesis.seq]]]
        self.open: list[Handover] = []
        self.due, self.failed = iso_day(genesis.data.get("next_inspection_due")), False
        self.scrapped_at: datetime | None = None
        self.last_fill: LastFill | None = None
        self.steps.append(Step(genesis, None, self.holder, self.state, None, False, self.due, False))
        return self

    @classmethod
    def resume(cls, registry: Registry, saved: Mapping[str, Any]) -> _Machine:
        """The machine ``snapshot`` saved, with no steps, custody or closed handovers behind it."""
        self = cls(registry)
        at = datetime.fromisoformat
        self.owner, self.cylinder, self.holder = saved["owner"], saved["cylinder"], saved["holder"]
        self.state, self.since = State(saved["state"]), at(saved["since"])
        start, opened_by = saved["interval"]
        self.intervals = [[self.holder, at(start), opened_by, []]]
        self.open = [Handover(seq, sender, receiver, at(opened)) for seq, sender, receiver, opened in saved["open"]]
        self.due, self.failed = iso_day(saved["due"]), saved["failed"]
        self.scrapped_at = None if saved["scrapped_at"] is None else at(saved["scrapped_at"])
        fill = saved["fill"]
        self.last_fill = None if fill is None else LastFill(fill[0], at(fill[1]), fill[2], fill[3])
        return self

    def snapshot(self) -> dict[str, Any]:
        """Everything ``apply`` reads, as JSON."""
        _, start, opened_by, _ = self.intervals[-1]
        fill = self.last_fill
        return {
            "owner": self.owner, "cylinder": self.cylinder, "holder": self.holder, "state": self.state.value,
            "since": format_time(self.since), "interval": [format_time(start), opened_by],
            "open": [[h.event, h.sender, h.receiver, format_time(h.opened_at)] for h in self.open],
            "due": None if self.due is None else self.due.isoformat(), "failed": self.failed,
            "scrapped_at": None if self.scrapped_at is None else format_time(self.scrapped_at),
            "fill": None if fill is None else [fill.station, format_time(fill.at), fill.net_kg, fill.event],
        }

    def apply(self, e: Event) -> None:
        before, state_before, after_scrap = self.holder, self.state, self.scrapped_at is not None
        k, jump = e.kind, None
        if k is K.RECEIVE:
            jump = self._receive(e)
        elif k is K.COLLECT and self.state is State.WITH_USER:
            self._close(e, HandoverEnd.CANCELLED)  # the end user hands it to whichever shop collects
            self._move(e.party, e)
            self.state = self._resting(e.party, State.AT_SHOP)
        elif k is not K.REPORT and k is not K.REGISTER:
            jump = self._take(e)
            if k in _HANDOVERS:
                self._hand_over(e)
            elif k is K.DELIVER:
                self.state = State.WITH_USER
            else:
                self.state = self._resting(e.party, self.state)
            if k is K.FILL:
                kg = e.data.get("net_kg")
                self.last_fill = LastFill(e.party, e.occurred_at, kg if isinstance(kg, (int, float)) else None, e.seq)
            elif k is K.INSPECT:
                passed = e.data.get("result") == "pass"
                self.due = iso_day(e.data.get("next_inspection_due")) if passed else self.due
                self.failed = not passed
            elif k is K.SCRAP and self.scrapped_at is None:
                self.scrapped_at = e.occurred_at
        if self.scrapped_at is not None:
            self.state = State.SCRAPPED
        if self.holder != before or self.state is not state_before:
            self.since = e.occurred_at
        self.intervals[-1][3].append(e.seq)
        self.steps.append(Step(e, before, self.holder, self.state, None if after_scrap else jump,
                               after_scrap, self.due, self.failed))

    def _receive(self, e: Event) -> Jump | None:
        named = [h for h in self.open if h.receiver == e.party]
        if named:
            self._close(e, HandoverEnd.SUPERSEDED, received=named[-1])
        elif e.party == self.holder:
            self._close(e, HandoverEnd.CANCELLED)  # the sender kept it, or a round came back to the shop
        else:
            self._close(e, HandoverEnd.TAKEN)
        jump = None if named or e.party == self.holder or self._kin(e.party) else UNANNOUNCED
        self._move(e.party, e)
        self.state = self._resting(e.party, self.state)
        return jump

    def _take(self, e: Event) -> Jump | None:
        """Every scan but report says the actor has the cylinder in hand."""
        if e.party == self.holder:
            if e.kind not in _HANDOVERS:
                self._close(e, HandoverEnd.CANCELLED)
            return None
        named = any(h.receiver == e.party for h in self.open)
        kin = self._kin(e.party)
        self._close(e, HandoverEnd.TAKEN)
        self._move(e.party, e)
        return None if kin else UNCONFIRMED if named else UNANNOUNCED

    def _kin(self, party: str) -> bool:
        """A company holds its cylinders through its own filling stations: no handover between them."""
        actor, holder = self._party(party), self._party(self.holder)
        return actor is not None and holder is not None and (
            actor.parent == holder.id or holder.parent == actor.id)

    def _hand_over(self, e: Event) -> None:
        if not e.to or e.to == e.party:
            return
        self._close(e, HandoverEnd.SUPERSEDED)
        if e.kind is K.DISPATCH and own_worker(self.registry, e.party, e.to):
            self.state = State.OUT_FOR_DELIVERY
        else:
            self.open.append(Handover(e.seq, e.party, e.to, e.occurred_at))
            self.state = State.IN_TRANSIT

    def _close(self, e: Event, outcome: HandoverEnd, received: Handover | None = None) -> None:
        for h in self.open:
            how = HandoverEnd.RECEIVED if h is received else outcome
            self.closed.append(Handover(h.event, h.sender, h.receiver, h.opened_at, e.occurred_at, e.seq, how))
        self.open = []

    def _move(self, party: str, e: Event) -> None:
        if party == self.holder:
            return
        start = max(e.occurred_at, self.intervals[-1][1])  # skew repair may put a later act first
        self.ends.append(start)
        self.intervals.append([party, start, e.seq, []])
        self.holder = party

    def _party(self, id: str) -> Party | None:
        if id not in self.parties:
            self.parties[id] = self.registry.party(id)
        return self.parties[id]

    def _resting(self, party: str, otherwise: State) -> State:
        found = self._party(party)
        return _RESTING.get(found.kind, otherwise) if found else otherwise

    def trace(self) -> Trace:
        ends: list[datetime | None] = [*self.ends, None]
        custody = tuple(CustodyInterval(h, start, end, seq, tuple(evs))
                        for (h, start, seq, evs), end in zip(self.intervals, ends))
        handovers = tuple(sorted([*self.closed, *self.open], key=lambda h: (h.opened_at, h.event)))
        return Trace(self.cylinder, Origin(self.owner, self.last_fill), custody,
                     Current(self.holder, self.state, self.since), self.owner, self.due, self.failed,
                     self.scrapped_at, tuple(self.steps), handovers)
