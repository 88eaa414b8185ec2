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
_CREW = ("vehicle", "driver", "escort")


def _lapse(paper: Paper | None, day: object, what: str) -> tuple[str, dict] | None:
    """Why ``paper`` does not cover ``day`` (text, and as evidence), or ``None``."""
    if paper is None:
        return f"has no {what} on record", {"paper": None, "expired": None}
    if day > paper.valid_until:  # type: ignore[operator]
        return f"{what} {paper.number} expired {paper.valid_until}", {"paper": paper.number,
                                                                     "expired": str(paper.valid_until)}
    return None


class _Tally:
    """One finding per cylinder and party (or person), however many events it spans.

    Kept in ``ctx.carry[name]`` between pieces of a story: who → [why, party, seqs, first time, evidence].
    """

    def __init__(self, ctx: Context, name: str) -> None:
        self.ctx, self.name = ctx, name
        self.seen: dict[str, list] = {who: [why, party, list(seqs), at, evidence]
                                      for who, (why, party, seqs, at, evidence) in ctx.carry.get(name, {}).items()}

    def add(self, who: str, party: str | None, seq: int, at: datetime, why: str, evidence: dict) -> None:
        if who in self.seen:
            self.seen[who][2].append(seq)
        else:
            self.seen[who] = [why, party, [seq], format_time(at), evidence]

    def entries(self) -> Iterator[tuple[str, str, str | None, tuple[int, ...], datetime, dict]]:
        """Each tallied (who, why, party, seqs, first time, evidence); carries the tally on."""
        self.ctx.carry[self.name] = self.seen
        for who, (why, party, seqs, at, evidence) in self.seen.items():
            yield who, why, party, tuple(seqs), datetime.fromisoformat(at), evidence


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
            lapse = _lapse(party.licence, day, "licence")
            if lapse is not None:
                tally.add(party.id, party.id, e.seq, e.occurred_at, f"{party.id} {lapse[0]}",
                          {"code": "unlicensed", "party": party.id, **lapse[1]})
    for who, why, party, seqs, at, evidence in tally.entries():
        note = f"{why}; it acted or received in {len(seqs)} event(s) of this cylinder"
        yield ctx.finding(F.UNLICENSED_PARTY, party, seqs, at, note, (who,), evidence={**evidence, "events": len(seqs)})


def certificate_expired(ctx: Context) -> Iterator[FindingDraft]:
    """Every driver and escort named by a dispatch or return needs a certificate valid on the
    trip's day; a person the registry does not know has none. Their employer answers.

    People never cross city lines (docs/regions.md): a person this registry does not know, named
    on a leg whose sender or receiver is homed in another city, is that city's to judge."""
    tally = _Tally(ctx, "certificate_expired")
    for step in ctx.steps:
        e = step.event
        if e.kind not in _HANDOVERS:
            continue
        day = ctx.config.lenient_day(e.occurred_at)
        crosses = any(party is not None and party.home for party in (ctx.party(e.party), ctx.party(e.to)))
        for role in ("driver", "escort"):
            name = e.data.get(role)
            if not isinstance(name, str):
                continue
            person = ctx.person(name)
            if person is None and crosses:
                continue
            lapse = (("is not registered, so has no certificate on record", {"registered": False})
                     if person is None else _lapse(person.certificate, day, "certificate"))
            if lapse is not None:
                employer = person.party if person is not None else e.party
                tally.add(name, employer, e.seq, e.occurred_at, f"{role} {name} {lapse[0]}",
                          {"code": "certificate", "role": role, "person": name, **lapse[1]})
    for who, why, party, seqs, at, evidence in tally.entries():
        yield ctx.finding(F.CERTIFICATE_EXPIRED, party, seqs, at, f"{why} ({len(seqs)} trip event(s))", (who,),
                          evidence={**evidence, "events": len(seqs)})


def _crew_lapse(data: dict) -> str | None:
    """Why a leg's named crew is not a driver with a different escort, or ``None``."""
    driver, escort = data.get("driver"), data.get("escort")
    if not escort:
        return "names no escort"
    if escort == driver:
        return f"names {driver} as both driver and escort"
    if not driver:
        return "names no driver"
    return None


def _crew_code(data: dict) -> dict:
    """``_crew_lapse`` as evidence."""
    driver, escort = data.get("driver"), data.get("escort")
    if not escort:
        return {"why": "no_escort"}
    if escort == driver:
        return {"why": "same_person", "person": driver}
    return {"why": "no_driver"}


def missing_escort(ctx: Context) -> Iterator[FindingDraft]:
    """Every trip has a driver and a different escort (DOMAIN.md 3), whoever records its leg.

    A dispatch or return that names any of ``vehicle``, ``driver``, ``escort`` names a trip and is
    judged on the crew it names. One that names none is no trip (a shop's hand-over across its
    counter), except a transporter's: its leg always is one, and continues the trip on which the
    transporter received the cylinder (the handover its ``receive`` confirmed), judged as that
    trip was; having received it on no trip, its leg names no crew at all. The recorder answers.
    """
    # the open handover and the one its holder received the cylinder on:
    # [receiver, trip seq, lapse, lapse as evidence]
    sent, aboard = ctx.carry.get("missing_escort") or [None, None]
    for step in ctx.steps:
        e = step.event
        if e.kind is K.RECEIVE and sent is not None and sent[0] == e.party:
            aboard, sent = sent, None
        if aboard is not None and step.holder != aboard[0]:
            aboard = None  # custody moved on: whoever has it now did not receive it on that trip
        if e.kind not in _HANDOVERS:
            continue
        carrier = ctx.party(e.party)
        trip, lapse, why, code, lapse_code = None, None, None, None, None
        if any(e.data.get(part) for part in _CREW):
            trip = e.seq
            lapse = why = _crew_lapse(e.data)
            lapse_code = code = None if why is None else _crew_code(e.data)
        elif carrier is not None and carrier.kind is PartyKind.TRANSPORTER:
            if aboard is None or aboard[1] is None:
                why = "names no crew, and the transporter received the cylinder on no trip that named one"
                code = {"why": "no_crew"}
            else:
                trip, lapse, lapse_code = aboard[1], aboard[2], aboard[3]
                why = None if lapse is None else f"continues the trip of seq {trip}, which {lapse}"
                code = {"why": "continues", "trip": trip, "then": lapse_code}
        sent = None if e.to is None else [e.to, trip, lapse, lapse_code]
        if why is not None:
            note = f"{e.kind.value} (seq {e.seq}) by {e.party} to {e.to} {why}"
            evidence = {"code": "missing_escort", "kind": e.kind.value, "seq": e.seq, "party": e.party, "to": e.to,
                        **(code or {})}
            yield ctx.finding(F.MISSING_ESCORT, e.party, (e.seq,), e.occurred_at, note, (e.seq,), evidence=evidence)
    ctx.carry["missing_escort"] = [sent, aboard]
