"""Papers and crews: licences of the parties, certificates of the trip crew, the escort.

Source: DOMAIN.md "Parties and their papers" (filling, transport, gas-operation and
inspection licences with expiry; every trip has a driver and an escort, each with a
qualification certificate with expiry) and "What counts as a broken chain".
Papers are dated in local days (``RulesConfig.local_offset``) and valid through
their last day; the registry holds a party's papers as they stand now.
"""

from __future__ import annotations

from datetime import datetime
from typing import Iterator

from ..domain import EventKind, FindingKind, Paper, PartyKind, format_time
from .context import Context
from .findings import FindingDraft

__all__ = ["unlicensed_party", "certificate_expired", "missing_escort"]

F, K = FindingKind, EventKind
_HANDOVERS = (K.DISPATCH, K.RETURN)


def _lapse(paper: Paper | None, day: object, what: str) -> str | None:
    if paper is None:
        return f"has no {what} on record"
    if day > paper.valid_until:  # type: ignore[operator]
        return f"{what} {paper.number} expired {paper.valid_until}"
    return None


class _Tally:
    """One finding per cylinder and party (or person), however many events it spans.

    Kept in ``ctx.carry[name]`` between pieces of a story: who → [why, party, seqs, first time].
    """

    def __init__(self, ctx: Context, name: str) -> None:
        self.ctx, self.name = ctx, name
        self.seen: dict[str, list] = {who: [why, party, list(seqs), at]
                                      for who, (why, party, seqs, at) in ctx.carry.get(name, {}).items()}

    def add(self, who: str, party: str | None, seq: int, at: datetime, why: str) -> None:
        if who in self.seen:
            self.seen[who][2].append(seq)
        else:
            self.seen[who] = [why, party, [seq], format_time(at)]

    def entries(self) -> Iterator[tuple[str, str, str | None, tuple[int, ...], datetime]]:
        """Each tallied (who, why, party, seqs, first time); carries the tally on."""
        self.ctx.carry[self.name] = self.seen
        for who, (why, party, seqs, at) in self.seen.items():
            yield who, why, party, tuple(seqs), datetime.fromisoformat(at)


def unlicensed_party(ctx: Context) -> Iterator[FindingDraft]:
    """The acting party, and the receiver named by a dispatch or return, must hold a licence
    valid on the event's day. Regulators carry none; unregistered receivers are not judged."""
    tally = _Tally(ctx, "unlicensed_party")
    for step in ctx.steps:
        e = step.event
        day = ctx.config.lenient_day(e.occurred_at)
        names = (e.party, e.to) if e.kind in _HANDOVERS else (e.party,)
        for name in names:
            party = ctx.party(name)
            if party is None or party.kind is PartyKind.REGULATOR:
                continue
            why = _lapse(party.licence, day, "licence")
            if why is not None:
                tally.add(party.id, party.id, e.seq, e.occurred_at, f"{party.id} {why}")
    for who, why, party, seqs, at in tally.entries():
        note = f"{why}; it acted or received in {len(seqs)} event(s) of this cylinder"
        yield ctx.finding(F.UNLICENSED_PARTY, party, seqs, at, note, (who,))


def certificate_expired(ctx: Context) -> Iterator[FindingDraft]:
    """Every driver and escort named by a dispatch or return needs a certificate valid on the
    trip's day; a person the registry does not know has none. Their employer answers."""
    tally = _Tally(ctx, "certificate_expired")
    for step in ctx.steps:
        e = step.event
        if e.kind not in _HANDOVERS:
            continue
        day = ctx.config.lenient_day(e.occurred_at)
        for role in ("driver", "escort"):
            name = e.data.get(role)
            if not isinstance(name, str):
                continue
            person = ctx.person(name)
            why = ("is not registered, so has no certificate on record" if person is None
                   else _lapse(person.certificate, day, "certificate"))
            if why is not None:
                employer = person.party if person is not None else e.party
                tally.add(name, employer, e.seq, e.occurred_at, f"{role} {name} {why}")
    for who, why, party, seqs, at in tally.entries():
        yield ctx.finding(F.CERTIFICATE_EXPIRED, party, seqs, at, f"{why} ({len(seqs)} trip event(s))", (who,))


def missing_escort(ctx: Context) -> Iterator[FindingDraft]:
    """A dispatch or return recorded by a transporter must name a driver and a different escort."""
    for step in ctx.steps:
        e = step.event
        if e.kind not in _HANDOVERS:
            continue
        carrier = ctx.party(e.party)
        if carrier is None or carrier.kind is not PartyKind.TRANSPORTER:
            continue
        driver, escort = e.data.get("driver"), e.data.get("escort")
        if not escort:
            why = "names no escort"
        elif escort == driver:
            why = f"names {driver} as both driver and escort"
        elif not driver:
            why = "names no driver"
        else:
            continue
        note = f"{e.kind.value} (seq {e.seq}) by {e.party} to {e.to} {why}"
        yield ctx.finding(F.MISSING_ESCORT, e.party, (e.seq,), e.occurred_at, note, (e.seq,))
