"""The regulators' side: the three questions, findings and their closed loop, risk lists.

Functions take the ``Ledger`` and the caller's connection, and what they judge
with (the rules' ``RulesConfig``, the registry the rules read) explicitly: the
same with or without custody rules attached. The ``Ledger`` methods of the same
names delegate here.
"""

from __future__ import annotations

import dataclasses
import json
from datetime import date, datetime, timedelta, timezone
from typing import Any

from . import cases, custody, rules
from .domain import CylinderView, FindingKind, PartyKind, Role, Severity, State, check_identifier, format_time
from .errors import Conflict, InvalidInput, NotFound, PermissionDenied
from .storage import Connection
from .storage import events as event_rows
from .storage import findings as store
from .storage import registry as reg
from .rules import RulesConfig
from .supervision import DatabaseRegistry
from .text import readable
from .audit import DISPUTING
from .verify import check_chain

__all__ = [
    "trace", "responsible_at", "finding", "findings", "finding_counts", "act_on_finding", "inspectors", "risk_cylinders",
    "risk_enterprises",
    "REASONS", "ACTIONS", "SEVERITY_WEIGHT",
]

REASONS = ("overdue_inspection", "inspection_due_soon", "past_design_life", "broken_chain", "vanished",
           "unregistered", "short_weight", "open_findings")
ACTIONS = ("dispatch", "handle", "supervise", "close", "reopen")
SEVERITY_WEIGHT = {"critical": 10, "high": 5, "medium": 2, "low": 1}
OPEN = ("open", "dispatched", "handled")
STATUSES = OPEN + ("closed", "resolved")


def _party(registry: DatabaseRegistry, party_id: str | None) -> dict[str, Any] | None:
    if party_id is None:
        return None
    party = registry.party(party_id)
    if party is None:  # an end-user reference or a delivery worker: opaque
        return {"id": party_id, "kind": None, "name": None, "region": None}
    return {"id": party.id, "kind": party.kind.value, "name": party.name, "region": party.region}


def _replayed(ledger, connection: Connection, cylinder: str, registry: DatabaseRegistry, config: RulesConfig):
    history = [event for event, _ in ledger.story(connection, cylinder)]  # every city's segment (docs/regions.md)
    return history, custody.replay(history, registry, config.clock_skew)


def trace(ledger, connection: Connection, cylinder: str, registry: DatabaseRegistry,
          config: RulesConfig) -> dict[str, Any]:
    """CONTRACT.md "The three questions": origin, custody path, current holder, responsibility, chain, findings."""
    history, replayed = _replayed(ledger, connection, cylinder, registry, config)
    ids = {event.seq: event.id for event in history}
    answer = replayed.as_dict(ids)
    origin, current = answer["origin"], answer["current"]
    origin["owner"] = _party(registry, origin["owner"])
    if origin["last_fill"] is not None:
        origin["last_fill"]["station"] = _party(registry, origin["last_fill"]["station"])
    for interval in answer["custody"]:
        interval["holder"] = _party(registry, interval["holder"])
    current["holder"] = _party(registry, current["holder"])
    answer["responsible"] = {"now": _party(registry, answer["responsible"]["now"]),
                             "first_responsible": _party(registry, answer["responsible"]["first_responsible"])}
    breaks = check_chain(ledger.story_rows(connection, cylinder))
    tampered = findings(ledger, connection, cylinder=cylinder, limit=200)["items"]
    breaks += [{"kind": f["kind"], "cylinder": cylinder, "seq": None, "detail": f["note"]} for f in tampered
               if f["kind"] in DISPUTING and f["status"] in OPEN]
    standing = rules.standing(replayed, config, datetime.now(timezone.utc))
    answer["cylinder"] = _cylinder(ledger.cylinder(connection, cylinder), standing)
    # The chain's own answer, not the stored projection a database edit could change (docs/audit.md).
    due = replayed.next_inspection_due
    answer["cylinder"]["next_inspection_due"] = None if due is None else due.isoformat()
    answer["chain"] = {"status": "broken" if breaks else "intact", "length": len(history),
                       "head": history[-1].hash.hex(), "breaks": breaks,
                       # whose log each event lives in: a chain that crossed city lines has segments in several
                       "events": [{"seq": event.seq, "kind": event.kind.value, "log": origin, "id": event.id}
                                  for event, origin in ledger.story(connection, cylinder)]}
    answer["findings"] = [f for f in tampered if f["status"] in OPEN]
    return answer


def _cylinder(view: CylinderView, standing) -> dict[str, Any]:
    facts = {k: (v.isoformat() if isinstance(v, date) else v.value if isinstance(v, State) else v)
             for k, v in dataclasses.asdict(view).items()}
    facts["overdue_inspection"] = standing.overdue_inspection
    facts["inspection_due_soon"] = standing.inspection_due_soon
    facts["past_design_life"] = standing.past_design_life
    facts["must_not_fill_or_deliver"] = bool(standing.cautions(view.state.value))
    return facts


def responsible_at(ledger, connection: Connection, cylinder: str, at: datetime, registry: DatabaseRegistry,
                   config: RulesConfig) -> dict[str, Any]:
    history, replayed = _replayed(ledger, connection, cylinder, registry, config)
    answer = replayed.responsible_at(at)
    if answer is None:
        raise NotFound(f"{cylinder} was not yet registered at {format_time(at)}")
    ids = {event.seq: event.id for event in history}
    result = answer.as_dict(ids)
    result["party"] = _party(registry, result["party"])
    return result


# -- findings and the closed loop ------------------------------------------------------------


def _finding_json(row, history: list[dict[str, Any]]) -> dict[str, Any]:
    return {"id": row.id, "kind": row.kind, "severity": row.severity, "cylinder": row.cylinder, "party": row.party,
            "region": row.region, "events": json.loads(row.events), "note": row.note,
            "evidence": store.evidence_of(row.evidence), "detected_at": row.detected_at,
            "status": row.status, "assignee": row.assignee, "resolved_by": row.resolved_by, "due_at": row.due_at,
            "escalated_at": row.escalated_at, "history": history}


def finding(ledger, connection: Connection, finding_id: int) -> dict[str, Any]:
    row = store.get_finding(connection, finding_id)
    if row is None:
        raise NotFound(f"no finding {finding_id}")
    return _finding_json(row, store.actions_of(connection, [row.id])[row.id])


def findings(ledger, connection: Connection, *, kind: str | None = None, status: str | tuple[str, ...] | None = None,
             cylinder: str | None = None, party: str | None = None, region: str | None = None,
             cursor: str | None = None, limit: int = 50) -> dict[str, Any]:
    for name, value in (("cylinder", cylinder), ("party", party)):
        if value is not None:
            check_identifier(value, name)  # the pages pass their query through; PostgreSQL refuses NUL in text
    before = ledger.cursors.read(cursor, "findings")
    rows = store.list_findings(connection, kind=kind, status=status, cylinder=cylinder, party=party, region=region,
                               before_id=before, limit=limit + 1)
    more = len(rows) > limit
    rows = rows[:limit]
    history = store.actions_of(connection, [row.id for row in rows])
    return {"items": [_finding_json(row, history[row.id]) for row in rows],
            "next_cursor": ledger.cursors.issue("findings", rows[-1].id) if more else None}


def finding_counts(ledger, connection: Connection, *, kind: str | None = None, status: str | None = None,
                   cylinder: str | None = None, party: str | None = None,
                   region: str | None = None) -> dict[str, Any]:
    """How many findings ``findings`` would list under the same filters: ``{total, by_status, by_kind,
    by_severity}``, every status, kind and severity named (0 where none), counted by the database."""
    for name, value in (("cylinder", cylinder), ("party", party)):
        if value is not None:
            check_identifier(value, name)
    by: dict[str, dict[str, int]] = {"by_status": dict.fromkeys(STATUSES, 0),
                                     "by_kind": dict.fromkeys((k.value for k in FindingKind), 0),
                                     "by_severity": dict.fromkeys((s.value for s in Severity), 0)}
    total = 0
    for found_status, found_kind, severity, n in store.count_findings(
            connection, kind=kind, status=status, cylinder=cylinder, party=party, region=region):
        total += n
        for name, key in (("by_status", found_status), ("by_kind", found_kind), ("by_severity", severity)):
            by[name][key] = by[name].get(key, 0) + n
    return {"total": total, **by}


# Which statuses each action leaves from, and where it leads (None: the status stays).
_LOOP = {
    "dispatch": (("open", "dispatched", "handled"), "dispatched"),
    "handle": (("dispatched",), "handled"),
    "supervise": (("open", "dispatched", "handled"), None),
    "close": (("open", "dispatched", "handled", "resolved"), "closed"),
    "reopen": (("closed", "resolved"), "open"),
}


def act_on_finding(ledger, connection: Connection, actor, finding_id: int, *, action: str, note: str,
                   assignee: int | str | None = None, now: datetime,
                   photos: list[cases.Photo] | tuple = ()) -> dict[str, Any]:
    """One step of 流转、处置、督办、反馈: kept in the finding's history with who and when.

    ``dispatch`` names in ``assignee`` the account id of an enabled inspector account of a regulator
    party that is none of the finding's own parties (``_assignee``); only that inspector, or a
    regulator, may then ``handle`` it. Every refusal is raised before anything is written.
    """
    if action not in _LOOP:
        raise InvalidInput(f"action must be one of {', '.join(ACTIONS)}", field="action")
    if not isinstance(note, str) or not note.strip():
        raise InvalidInput("every step needs a note (at most 2000 characters)", field="note")
    note = readable(note, "note", max_length=2000, multiline=True)
    if action == "handle":
        if actor.role not in (Role.INSPECTOR, Role.REGULATOR, Role.ADMIN):
            raise PermissionDenied("only an inspector or a regulator records how a finding was handled")
    elif actor.role not in (Role.REGULATOR, Role.ADMIN):
        raise PermissionDenied(f"only a regulator may {action} a finding")
    account = _account_id(assignee) if action == "dispatch" else None
    row = store.get_finding(connection, finding_id)
    if row is None:
        raise NotFound(f"no finding {finding_id}")
    if action == "handle" and actor.role is Role.INSPECTOR and (
            actor.account is None or row.assignee != str(actor.account)):
        raise PermissionDenied("only the inspector this finding was dispatched to, or a regulator, "
                               "records how it was handled")
    if photos and action != "handle":
        raise InvalidInput("photos come with a handling only", field="photos")
    if len(photos) > cases.MAX_PHOTOS:
        raise InvalidInput(f"at most {cases.MAX_PHOTOS} photos a handling", field="photos")
    allowed, target = _LOOP[action]
    if row.status not in allowed:
        raise Conflict(f"a {row.status} finding cannot be {_PAST[action]}")
    named = _assignee(ledger, connection, row, account) if account is not None else None
    status = target or row.status
    at = format_time(now)
    extra = {"assignee": named} if named is not None else {}
    if named is not None:  # a deadline from this dispatch (docs/cases.md), announced to the webhooks
        extra |= cases.on_dispatch(connection, row, named, now, ledger.case_deadlines)
    store.set_status(connection, row.id, status, at, **extra)
    store.add_action(connection, row.id, action, status, actor.name, note.strip(), at, named,
                     photos=[item.sha256 for item in photos])
    cases.store_photos(connection, row.id, list(photos), actor.name, at)
    return finding(ledger, connection, row.id)


def _account_id(assignee: int | str | None) -> int:
    """The account id ``assignee`` spells: an integer, or its decimal digits (a form field)."""
    if isinstance(assignee, str) and assignee.strip().isascii() and assignee.strip().isdigit():
        assignee = int(assignee.strip())
    if isinstance(assignee, bool) or not isinstance(assignee, int) or not 1 <= assignee < 2**31:
        raise InvalidInput("dispatching names in assignee the account id of the inspector to send it to",
                           field="assignee")
    return assignee


def _assignee(ledger, connection: Connection, row, account_id: int) -> str:
    """Check that the account may be sent this finding; returns what ``assignee`` stores (the id, as text).

    1. it exists and is enabled; 2. it is an inspector's; 3. of a regulator party (DOMAIN.md: the
    regulator's grid inspectors dispatch, handle and close cases); 4. that party is none of the finding's
    own: neither the party it is about nor one that recorded or received its evidence.
    """
    account = reg.get_account(connection, account_id)
    if account is None or account.disabled:
        raise InvalidInput(f"no active account {account_id} to dispatch to", field="assignee")
    if account.role != Role.INSPECTOR.value:
        raise InvalidInput(f"account {account_id} is not an inspector's; dispatch to an inspector", field="assignee")
    if account.party_kind != PartyKind.REGULATOR.value:
        raise InvalidInput(f"account {account_id} does not belong to a regulator", field="assignee")
    own = {row.party}
    for event_id in json.loads(row.events):
        try:
            event = ledger.event(connection, event_id)
        except NotFound:  # evidence deleted behind the ledger's back: the finding says so itself
            continue
        own |= {event.party, event.to}
    if account.party in own:
        raise InvalidInput(f"account {account_id} belongs to {account.party}, a party this finding is about",
                           field="assignee")
    return str(account_id)


def inspectors(ledger, connection: Connection, region: str | None = None) -> list[dict[str, Any]]:
    """The accounts a finding may be dispatched to: enabled inspector accounts of regulator parties;
    those whose party's region is ``region`` (the finding's district) first, then by name."""
    found = [{"account": row.id, "name": row.name, "party": row.party, "region": row.region,
              "local": region is not None and row.region == region} for row in reg.inspector_accounts(connection)]
    return sorted(found, key=lambda item: not item["local"])


_PAST = {"dispatch": "dispatched", "handle": "handled", "supervise": "supervised", "close": "closed",
         "reopen": "reopened"}


# -- risk lists --------------------------------------------------------------------------------


def risk_cylinders(ledger, connection: Connection, config: RulesConfig, *, reason: str, region: str | None = None,
                   owner: str | None = None, cursor: str | None = None, limit: int = 100,
                   today: date | None = None) -> dict[str, Any]:
    if reason not in REASONS:
        raise InvalidInput(f"reason must be one of {', '.join(REASONS)}", field="reason")
    today = today or config.local_day(datetime.now(timezone.utc))
    if reason == "unregistered":
        page = findings(ledger, connection, kind="unregistered_code", region=region, cursor=cursor, limit=limit)
        page["items"] = [{"cylinder": f["cylinder"], "reason": reason, "scanned_by": f["party"], "region": f["region"],
                          "detected_at": f["detected_at"], "finding": f["id"], "status": f["status"]}
                         for f in page["items"]]
        return page
    after = ledger.cursors.read(cursor, "risk")
    rows = store.risk_cylinders(connection, today=today, soon=today + timedelta(days=config.inspection_due_soon_days),
                                reason=reason, region=region, owner=owner, after=after, limit=limit + 1)
    more = len(rows) > limit
    rows = rows[:limit]
    items = [{"cylinder": row.id, "reason": reason, "owner": row.owner, "region": row.region, "model": row.model,
              "serial": row.serial, "state": row.state, "holder": row.holder,
              "next_inspection_due": row.next_inspection_due.isoformat(),
              "life_ends_on": row.life_ends_on.isoformat() if row.life_ends_on else None,
              "last_event_at": row.last_event_at} for row in rows]
    return {"items": items, "next_cursor": ledger.cursors.issue("risk", rows[-1].id) if more else None}


def risk_enterprises(ledger, connection: Connection, config: RulesConfig, *, region: str | None = None,
                     today: date | None = None, before: datetime | None = None) -> list[dict[str, Any]]:
    """Each enterprise's colour (docs/custody.md "Enterprise risk colour").

    With ``before``, the colour as it stood just before that moment, from the statuses its findings
    had then (docs/reports.md "Colours in the past"); licences are judged on ``today`` either way,
    and the cylinders held are today's.
    """
    today = today or config.local_day(before or datetime.now(timezone.utc))
    held = store.holdings(connection, region)
    parties: dict[str, dict[str, Any]] = {}
    for row in store.party_scores(connection, region, None if before is None else format_time(before)):
        entry = parties.setdefault(row.id, {"party": {"id": row.id, "kind": row.kind, "name": row.name,
                                                      "region": row.region, "home": row.home},
                                            "counts": {}, "licence_valid_until": row.licence_valid_until})
        if row.severity is not None:
            entry["counts"][row.severity] = row.n
    result = []
    for party_id, entry in parties.items():
        counts = entry.pop("counts")
        weighted = sum(SEVERITY_WEIGHT[s] * n for s, n in counts.items())
        reasons = [f"{n} open {s} finding{'s' if n > 1 else ''}" for s, n in sorted(
            counts.items(), key=lambda item: -SEVERITY_WEIGHT[item[0]])]
        valid = entry.pop("licence_valid_until")
        if valid is None or valid < today:
            weighted += 10
            reasons.append("no licence on file" if valid is None else f"licence expired on {valid.isoformat()}")
        cylinders = held.get(party_id, 0)
        score = round(weighted / max(1.0, cylinders / 100), 2)
        colour = "red" if counts.get("critical") or score >= 10 else "yellow" if score >= 2 else "green"
        result.append({**entry, "colour": colour, "score": score, "cylinders": cylinders, "reasons": reasons})
    return result
