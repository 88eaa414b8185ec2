"""The home safety check's findings (入户安检, docs/custody.md "The home safety check").

Unlike the other rules these judge an end user's installation, not a cylinder's
custody: the next delivery to the same user (``to``) usually brings another
cylinder. So they are not in ``engine.RULES``; the supervisor calls them for each
delivery it stores (``ledger.supervision``) and keeps their findings out of a
cylinder's reconciliation. Pure: what they read is given to them.

- ``unsafe``: a delivery whose check failed an item raises ``unsafe_installation``
  (the most severe failed item's severity) and, when an item that fails is critical
  (a leak, a cylinder used underground), ``delivered_despite_hazard``: the cylinder
  should not have been left there.
- ``rechecked``: a later delivery to the same user whose check finds every item that
  failed now ``ok`` resolves the ``unsafe_installation``. ``delivered_despite_hazard``
  is about what was done, and stays for people to close.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Mapping

from ..domain import Event, EventKind, FindingKind, Severity, format_time
from ..safety import Checklist
from .findings import FindingDraft, finding_key

__all__ = ["KINDS", "safety_check", "failed", "unsafe", "rechecked", "items_named"]

KINDS = frozenset({FindingKind.UNSAFE_INSTALLATION, FindingKind.DELIVERED_DESPITE_HAZARD})


def safety_check(event: Event) -> Mapping[str, Any] | None:
    """The delivery's safety check as recorded, or None."""
    if event.kind is not EventKind.DELIVER:
        return None
    check = event.data.get("safety_check")
    return check if isinstance(check, Mapping) else None


def failed(event: Event) -> list[str]:
    """The codes of the items the delivery's check failed."""
    check = safety_check(event)
    return [] if check is None else [code for code, result in check["items"].items() if result == "fail"]


def items_named(codes: list[str], checklist: Checklist) -> list[list[str]]:
    """``[code, 中文, English]`` of each item, as evidence keeps them (a city's list may change later)."""
    named = []
    for code in codes:
        item = checklist.by_code.get(code)
        named.append([code, item.zh if item else code, item.en if item else code])
    return named


def unsafe(event: Event, checklist: Checklist) -> list[FindingDraft]:
    """The findings a delivery's own safety check raises (none when every item passed or none was checked)."""
    codes = checklist.in_order(failed(event))
    if not codes:
        return []
    named = items_named(codes, checklist)
    severity = max(checklist.severity(code) for code in codes)
    critical = [code for code in codes if checklist.critical(code)]
    at = format_time(event.occurred_at)
    evidence = {"code": "unsafe_installation", "party": event.party, "to": event.to, "at": at, "seq": event.seq,
                "items": named}
    english = ", ".join(en for _, _, en in named)
    drafts = [FindingDraft(
        key=finding_key(FindingKind.UNSAFE_INSTALLATION, event.cylinder, event.seq),
        kind=FindingKind.UNSAFE_INSTALLATION, severity=severity, cylinder=event.cylinder, party=event.party,
        events=(event.seq,), occurred_at=event.occurred_at,
        note=f"the safety check of {event.party}'s delivery to {event.to} at {at} failed: {english}",
        evidence=evidence,
    )]
    if critical:
        hazards = items_named(critical, checklist)
        drafts.append(FindingDraft(
            key=finding_key(FindingKind.DELIVERED_DESPITE_HAZARD, event.cylinder, event.seq),
            kind=FindingKind.DELIVERED_DESPITE_HAZARD, severity=Severity.CRITICAL, cylinder=event.cylinder,
            party=event.party, events=(event.seq,), occurred_at=event.occurred_at,
            note=(f"{event.party} delivered to {event.to} at {at} although the safety check failed "
                  + ", ".join(en for _, _, en in hazards)),
            evidence={**evidence, "code": "delivered_despite_hazard", "items": hazards},
        ))
    return drafts


def rechecked(evidence: Mapping[str, Any], event: Event) -> dict[str, Any] | None:
    """The resolution's evidence when ``event`` re-checks the installation an ``unsafe_installation``'s
    ``evidence`` describes and finds every failed item ``ok`` now; else None.

    A re-check is a later delivery (by device time) to the same end user with a safety check
    that names each failed item as ``ok``; ``n/a`` or a missing item does not clear it.
    """
    check = safety_check(event)
    if check is None or event.to is None or event.to != evidence.get("to"):
        return None
    then = evidence.get("at")
    if not isinstance(then, str) or event.occurred_at <= datetime.fromisoformat(then.replace("Z", "+00:00")):
        return None
    codes = [item[0] for item in evidence.get("items", ())]
    if not codes or any(check["items"].get(code) != "ok" for code in codes):
        return None
    return {"code": "rechecked", "party": event.party, "cylinder": event.cylinder, "seq": event.seq,
            "at": format_time(event.occurred_at), "items": evidence.get("items")}
