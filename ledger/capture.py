"""EPCIS 2.0 capture: a document becomes a stored job, and a worker feeds its events to the one ingest use case.

``accept`` (in the request's transaction, before the 202) checks the document as
a whole (``ledger.epcis.document``, and every GRAI's company prefix against the
ledger's), then stores the job with the document's events. Nothing else is
written then.

``work`` (a named background worker: it begins its own write transactions here
and in ``ledger.ingest``, nowhere else) claims the oldest open job under a
lease, maps each EPCIS event to the ledger's ``NewEvent`` s
(``ledger.epcis.mapping.from_epcis``) for the capturing account's party and
hands them, a chunk at a time, to ``Ledger.ingest``: the same checks, custody
rules and judging as ``POST /v1/events``. Each chunk's outcomes and the job's
progress are stored together after the chunk is committed. A process that dies
mid-job leaves it ``running`` with a lease that runs out; the next worker
resumes from the last stored chunk, and the chunk that was in flight is
recorded once only, because every event's idempotency key derives from its
EPCIS eventID (or its GS1 event hash ID when it has none): its events come back
``duplicate``. A job tried ``MAX_ATTEMPTS`` times without finishing is finished
with its remaining events refused as ``ImplementationException``, so that its
state says so instead of leaving it running for ever.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

from .custody import recording_roles
from .domain import EventKind, NewEvent, Role
from .epcis.document import DocumentRefused, read_document
from .errors import LedgerError, NotFound, PermissionDenied
from .outcomes import Outcome
from .service import Actor, Ledger, new_id
from .storage import Connection
from .storage import capture_jobs as jobs

__all__ = ["CaptureSettings", "DocumentRefused", "accept", "work", "report", "MAX_ATTEMPTS"]

log = logging.getLogger("ledger.capture")

MAX_ATTEMPTS = 5
# Roles that may record some kind of event (the permission table's source): the enterprises of DOMAIN.md
# "Parties and their papers", and the regulator's people, who record field reports.
CAPTURING_ROLES = frozenset(role for kind, roles in recording_roles().items() if kind is not EventKind.REGISTER
                            for role in roles)
_GRAI = re.compile(r"urn:epc:id:grai:([0-9]{6,12})\.([0-9]*)\.(.+)")


@dataclass(frozen=True)
class CaptureSettings:
    """``company_prefixes``: GS1 company prefix -> the gas company (party id) it belongs to
    (``LEDGER_EPCIS_COMPANY_PREFIXES``: ``PREFIX=PARTY,PREFIX=PARTY``); ``max_events``: events per document;
    ``lease``: seconds a worker holds a job between chunks; ``chunk``: events per ingest call."""

    company_prefixes: dict[str, str]
    max_events: int = 100_000
    lease: float = 30.0
    chunk: int = 500

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> CaptureSettings:
        env = os.environ if environ is None else environ
        prefixes: dict[str, str] = {}
        for pair in filter(None, (item.strip() for item in env.get("LEDGER_EPCIS_COMPANY_PREFIXES", "").split(","))):
            prefix, _, party = pair.partition("=")
            if not prefix.isdigit() or not party:
                raise ValueError(f"LEDGER_EPCIS_COMPANY_PREFIXES: {pair!r} is not PREFIX=PARTY")
            prefixes[prefix] = party
        return cls(prefixes, int(env.get("LEDGER_EPCIS_CAPTURE_MAX_EVENTS", "100000")),
                   float(env.get("LEDGER_EPCIS_CAPTURE_LEASE", "30")))


def _mapping():
    from .epcis import mapping

    return mapping


def _grais(events: Iterable[dict[str, Any]]) -> Iterable[tuple[int, str]]:
    for index, event in enumerate(events):
        epcs = event.get("epcList")
        for epc in epcs if isinstance(epcs, list) else ():
            if isinstance(epc, str) and epc.startswith("urn:epc:id:grai:"):
                yield index, epc


def check_prefixes(connection: Connection, ledger: Ledger, actor: Actor, events: list[dict[str, Any]],
                   settings: CaptureSettings) -> None:
    """Every GRAI must carry a company prefix of this ledger's; a gas company's account captures only its own.

    The owning company of a prefix is the party configured for it, or that party's parent company.
    """
    own: set[str] | None = None
    if actor.role is Role.COMPANY and actor.party is not None:
        party = ledger.party(connection, actor.party)
        own = {party.id} | ({party.parent} if party.parent else set())
    for index, epc in _grais(events):
        match = _GRAI.fullmatch(epc)
        prefix = match.group(1) if match else None
        owner = settings.company_prefixes.get(prefix) if prefix else None
        if owner is None:
            raise DocumentRefused(f"event {index}: {epc[:80]!r} carries the GS1 company prefix {prefix}, which is "
                                  "no company's of this ledger", pointer=f"/epcisBody/eventList/{index}/epcList")
        if own is not None and owner not in own:
            raise DocumentRefused(f"event {index}: {epc[:80]!r} carries the company prefix {prefix} of {owner}, "
                                  f"not of {actor.party}: a company captures its own cylinders",
                                  exception="SecurityException", status=403,
                                  pointer=f"/epcisBody/eventList/{index}/epcList")


def accept(connection: Connection, ledger: Ledger, actor: Actor, document: Any, digest: bytes,
           settings: CaptureSettings, now: datetime | None = None) -> str:
    """Check ``document`` and store it as a job; its id. ``DocumentRefused`` (nothing stored) otherwise."""
    if actor.role not in CAPTURING_ROLES or actor.party is None:
        raise DocumentRefused(f"a {actor.role.value} account records no events for a party, so it captures none; "
                              "capture with the account of the party whose events these are",
                              exception="SecurityException", status=403)
    own = frozenset(step.biz_step for step in _mapping().BIZSTEPS.values())
    events = read_document(document, limit=settings.max_events, own_bizsteps=own)
    check_prefixes(connection, ledger, actor, events, settings)
    job_id = new_id("CAP", 13)
    jobs.insert_job(connection, id=job_id, account=actor.account, role=actor.role.value, party=actor.party,
                    actor_name=actor.name, received_at=now or datetime.now(timezone.utc), digest=digest,
                    events={"@context": document.get("@context"), "eventList": events})
    return job_id


# -- the worker ------------------------------------------------------------------------------


def work(ledger: Ledger, settings: CaptureSettings, clock: Callable[[], datetime] | None = None) -> int:
    """Claim the oldest open job and capture the rest of it; the number of events captured (0: none open).

    ``clock``: what is now, for the lease and for the ingest (events are checked and judged as arriving then).
    """
    clock = clock or (lambda: datetime.now(timezone.utc))
    lease = timedelta(seconds=settings.lease)
    with ledger.db.reading() as connection:
        if not jobs.any_open(connection, clock()):
            return 0
    with ledger.db.writing() as connection:
        now = clock()
        job = jobs.claim_job(connection, now, now + lease)
    if job is None:
        return 0
    actor = Actor(Role(job.role), job.party, job.actor_name, job.account)
    stored = job.events or {}
    events, context = stored.get("eventList", []), stored.get("@context")
    first = job.done
    if job.attempts > MAX_ATTEMPTS:
        log.error("capture job %s failed %d times; its remaining %d events are refused", job.id, job.attempts - 1,
                  job.total - first)
        failed = [_result(first + n, event, None, [], "ImplementationException",
                          "the capture of this event failed repeatedly; send it again")
                  for n, event in enumerate(events[first:])]
        with ledger.db.writing() as connection:
            if failed:
                jobs.advance_job(connection, job.id, first, failed, clock() + lease)
            jobs.finish_job(connection, job.id, clock())
        return 0
    captured = 0
    while first < job.total:
        part = events[first:first + settings.chunk]
        results = capture_chunk(ledger, actor, part, first, context, clock())
        with ledger.db.writing() as connection:
            if not jobs.advance_job(connection, job.id, first, results, clock() + lease):
                log.warning("capture job %s was taken over by another worker", job.id)
                return captured
        first += len(part)
        captured += len(part)
    with ledger.db.writing() as connection:
        jobs.finish_job(connection, job.id, clock())
    return captured


def capture_chunk(ledger: Ledger, actor: Actor, part: list[dict[str, Any]], first: int,
                  context: Any = None, now: datetime | None = None) -> list[dict[str, Any]]:
    """Map and ingest one chunk of EPCIS events (``context``: their document's ``@context``); each one's outcome."""
    mapping = _mapping()
    items: list[NewEvent | LedgerError] = []
    spans: list[tuple[int, int, Any]] = []  # per EPCIS event: its items' span, and the mapping's answer
    for event in part:
        try:
            mapped = mapping.from_epcis(event, context=context)
        except (ValueError, TypeError, KeyError, AttributeError) as error:  # a member of a shape the mapping cannot read
            mapped = mapping.Refusal(f"the event cannot be read: {str(error)[:200]}")
        start = len(items)
        if isinstance(mapped, mapping.MappedEvent):
            if mapped.party is not None and mapped.party != actor.party:
                spans.append((start, start, PermissionDenied(
                    f"the event is {mapped.party}'s; an account captures events only for its own party "
                    f"({actor.party})", field="party")))
                continue
            items.extend(mapped.new_events(actor.party))
        spans.append((start, len(items), mapped))
    outcomes = ledger.ingest_one(actor, items, now, judge=True) if items else []
    results = []
    for n, (event, (start, end, mapped)) in enumerate(zip(part, spans)):
        if isinstance(mapped, LedgerError):
            results.append(_result(first + n, event, None, [], _exception(mapped), mapped.message,
                                   field=mapped.field))
        elif not isinstance(mapped, mapping.MappedEvent):
            results.append(_result(first + n, event, None, [], "ValidationException", mapped.reason,
                                   field=mapped.field))
        else:
            results.append(_result(first + n, event, mapped.event_id, outcomes[start:end]))
    return results


def _exception(error: LedgerError) -> str:
    """The EPCIS exception (EPCIS 2.0 §12.7) for a ledger's refusal."""
    if isinstance(error, PermissionDenied):
        return "SecurityException"
    return "ValidationException"


def _result(index: int, event: Any, event_id: str | None, outcomes: list[Outcome], exception: str | None = None,
            detail: str | None = None, field: str | None = None) -> dict[str, Any]:
    if event_id is None and isinstance(event, dict) and isinstance(event.get("eventID"), str):
        event_id = event["eventID"]
    result: dict[str, Any] = {"index": index, "eventID": event_id}
    if exception is not None:
        result.update(status="rejected", error={"type": f"epcisException:{exception}", "detail": detail,
                                                **({"field": field} if field else {})})
        return result
    recorded = []
    for outcome in outcomes:
        item: dict[str, Any] = {"status": outcome.status.value}
        if outcome.event is not None:
            item.update(cylinder=outcome.event.cylinder, event=outcome.event.id, seq=outcome.event.seq)
        if outcome.error is not None:
            item["error"] = {"type": f"epcisException:{_exception(outcome.error)}",
                             "ledger": outcome.error.code, "detail": outcome.error.message}
        if outcome.findings:
            item["findings"] = [finding.as_dict()["kind"] for finding in outcome.findings]
        recorded.append(item)
    statuses = {item["status"] for item in recorded}
    result["status"] = ("rejected" if statuses == {"rejected"} else "partial" if "rejected" in statuses
                        else "duplicate" if statuses == {"duplicate"} else "created")
    result["recorded"] = recorded
    errors = [item["error"] for item in recorded if "error" in item]
    if errors:
        result["error"] = {**errors[0], "detail": "; ".join(f"{item.get('cylinder', '?')}: {item['error']['detail']}"
                                                            if "cylinder" in item else item["error"]["detail"]
                                                            for item in recorded if "error" in item)}
    return result


# -- the poll URL ------------------------------------------------------------------------------


def report(connection: Connection, actor: Actor, job_id: str) -> dict[str, Any]:
    """The capture job as the EPCIS REST binding's ``CaptureJob``, with each event's outcome so far.

    Only the capturing account and admins see it; anyone else learns it does not exist.
    """
    job = jobs.job_by_id(connection, job_id) if len(job_id) <= 24 else None
    if job is None or (actor.role is not Role.ADMIN and (actor.account is None or actor.account != job.account)):
        raise NotFound(f"no capture job {job_id[:40]}")
    results = jobs.job_results(connection, job_id)
    errors = [{"type": result["error"]["type"], "title": "Event not captured", "status": 400,
               "detail": result["error"]["detail"], "index": result["index"], "eventID": result["eventID"]}
              for result in results if "error" in result]
    running = job.status != jobs.FINISHED
    return {
        "captureID": job.id,
        "createdAt": job.received_at,
        **({"finishedAt": job.finished_at} if job.finished_at else {}),
        "running": running,
        "success": not errors,
        "captureErrorBehaviour": "proceed",
        "errors": errors,
        "status": job.status,
        "documentDigest": "sha-256:" + job.digest.hex(),
        "eventCount": job.total,
        "processed": job.done,
        "attempts": job.attempts,
        "events": results,
    }
