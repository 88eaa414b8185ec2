"""Custody gaps: a cylinder taken without a handover, a handover never confirmed, life after scrap.

Source: DOMAIN.md "What counts as a broken chain" (custody gaps) and "The life of
a cylinder" (custody passes only when the receiver confirms; nothing may happen
after scrapping).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Iterator

from ..custody import UNCONFIRMED, HandoverEnd
from ..domain import EventKind, FindingKind, Severity, format_time
from .context import Context
from .findings import FindingDraft

__all__ = ["custody_jump", "handover_unconfirmed", "event_after_scrap"]

F, K = FindingKind, EventKind

_DID = {
    K.RECEIVE: "received", K.DISPATCH: "dispatched", K.RETURN: "returned", K.DELIVER: "delivered",
    K.COLLECT: "collected", K.FILL: "filled", K.INSPECT: "inspected", K.SCRAP: "scrapped",
}


def custody_jump(ctx: Context) -> Iterator[FindingDraft]:
    """Every scan but a report shows the actor holding the cylinder; holding it without a
    confirmed handover is a jump. Named in an open handover but never confirming: medium.
    Nobody handed it over at all: high. The actor, now holding it, answers for it."""
    for step in ctx.steps:
        if step.jump is None:
            continue
        e = step.event
        did = _DID.get(e.kind, e.kind.value)
        if step.jump is UNCONFIRMED:
            note = (f"{e.party} {did} the cylinder at {format_time(e.occurred_at)} without confirming "
                    f"the handover from {step.holder_before}")
            severity, code = Severity.MEDIUM, "jump_unconfirmed"
        else:
            note = (f"{e.party} {did} the cylinder at {format_time(e.occurred_at)} though nobody handed "
                    f"it over; the last recorded holder was {step.holder_before}")
            severity, code = Severity.HIGH, "jump_no_handover"
        evidence = {"code": code, "party": e.party, "kind": e.kind.value, "at": format_time(e.occurred_at),
                    "holder": step.holder_before}
        yield ctx.finding(F.CUSTODY_JUMP, e.party, (e.seq,), e.occurred_at, note, (e.seq,), severity, evidence)


def handover_unconfirmed(ctx: Context) -> Iterator[FindingDraft]:
    """A dispatch or return not confirmed within ``handover_hours`` (+ skew) of when it
    occurred. The sender still holds it and answers for it. Confirmed, but late: low.
    A handover the named receiver acted on without confirming is a custody jump instead."""
    limit = timedelta(hours=ctx.config.handover_hours) + ctx.config.clock_skew
    hours = f"{ctx.config.handover_hours:g} h"
    for h in ctx.trace.handovers:
        deadline = h.opened_at + limit
        sent = f"handover (seq {h.event}) from {h.sender} to {h.receiver} at {format_time(h.opened_at)}"
        evidence = {"seq": h.event, "sender": h.sender, "receiver": h.receiver, "at": format_time(h.opened_at),
                    "hours": ctx.config.handover_hours}
        if h.outcome is None:
            if ctx.now <= deadline:
                continue
            note, events, severity = f"{sent} not confirmed after {hours}", (h.event,), Severity.MEDIUM
            evidence["code"] = "handover_open"
        elif h.outcome is HandoverEnd.TAKEN or h.closed_at is None or h.closed_at <= deadline or h.closed_by is None:
            continue
        elif h.outcome is HandoverEnd.RECEIVED:
            note = f"{sent} confirmed only at {format_time(h.closed_at)}, later than {hours}"
            events, severity = (h.event, h.closed_by), Severity.LOW
            evidence.update(code="handover_late", closed_at=format_time(h.closed_at))
        else:
            note = f"{sent} left unconfirmed for more than {hours}, then {h.outcome} (seq {h.closed_by})"
            events, severity = (h.event, h.closed_by), Severity.MEDIUM
            evidence.update(code="handover_then", outcome=str(h.outcome.value), closed_by=h.closed_by)
        yield ctx.finding(F.HANDOVER_UNCONFIRMED, h.sender, events, deadline, note, (h.event,), severity, evidence)


def event_after_scrap(ctx: Context) -> Iterator[FindingDraft]:
    """Any event that occurred after the scrap (beyond the skew allowance). The actor answers,
    except for a report, which only observes: then the holder of record answers."""
    scrapped_at = ctx.trace.scrapped_at
    if scrapped_at is None:
        return
    scrap = ctx.carry.get("event_after_scrap")  # the scrap's party and seq: the first in time order
    cutoff = scrapped_at + ctx.config.clock_skew
    for step in ctx.steps:
        e = step.event
        if scrap is None and e.kind is K.SCRAP:
            scrap = [e.party, e.seq]
        if not step.after_scrap or e.occurred_at <= cutoff:
            continue
        party = step.holder if e.kind is K.REPORT else e.party
        note = (f"{e.kind.value} by {e.party} at {format_time(e.occurred_at)}, after the cylinder was "
                f"scrapped by {scrap[0]} at {format_time(scrapped_at)}")
        evidence = {"code": "after_scrap", "kind": e.kind.value, "party": e.party, "at": format_time(e.occurred_at),
                    "scrapped_by": scrap[0], "scrapped_at": format_time(scrapped_at)}
        yield ctx.finding(F.EVENT_AFTER_SCRAP, party, (scrap[1], e.seq), e.occurred_at, note, (e.seq,),
                          evidence=evidence)
    ctx.carry["event_after_scrap"] = scrap
