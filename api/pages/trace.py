"""The inspector's page: a cylinder's whole life on one screen, its proofs, and field reports.

``/trace`` asks for a code (camera or keyboard); ``/trace/{code}`` shows the
origin, the holders with their times, who answers now, the chain and the open
findings; ``/trace/{code}/proof`` checks the cylinder's bundle against the
signed checkpoint and shows each event's inclusion proof. Every signed-in
account may read it, as the API lets every account read cylinders and events;
inspectors and regulators also record a field report here.
"""

from __future__ import annotations

import json
import uuid
from datetime import datetime, timezone
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Form, Path, Query
from fastapi.responses import RedirectResponse, Response
from pydantic import ValidationError
from starlette.requests import Request

from ledger import tracecode
from ledger.bundle import verify_bundle
from ledger.domain import EventKind, format_time
from ledger.errors import NotFound, ProofInvalid
from ledger.segments import FORMAT as SEGMENTS, segment_verdicts, verify_segments
from ledger.service import mirror
from ledger.signednote import NoteVerifier

from .. import permissions
from ..deps import LedgerDep, ReadConn
from ..errors import validation_errors
from ..schemas import EventIn
from ..views import new_event
from .public import code_problem, label_check, split_scan
from .render import PageError, PageRoute, render
from .roles import OVERSIGHT, REPORTERS
from .session import AnyAccount, check_form

router = APIRouter(route_class=PageRoute)
Code = Annotated[str, Path(max_length=64)]
NOTE_LIMIT = 1000  # EventData.note's


def canonical_or_page(request: Request, code: str):
    """The canonical code, or the look-up page explaining what is wrong with ``code``."""
    try:
        return tracecode.normalize(code), None
    except tracecode.TraceCodeError as error:
        return None, render(request, "trace_lookup.html", status=404, problem=code_problem(error), typed=code)


def _events(ledger, connection, code: str, actor, overseer: bool) -> tuple[list[dict[str, Any]], dict[str, str]]:
    """The chain as the API shows it, and names for the ids in it: parties for everyone, people for overseers
    (the API shows a party's people only to that party and to overseers); end users stay opaque references."""
    # the whole story: this city's events and the other cities' segments it verified and kept (docs/regions.md)
    history = ledger.with_notes(connection, actor, [event for event, _ in ledger.story(connection, code)])
    names: dict[str, str] = {}
    for party in {e["party"] for e in history} | {e["to"] for e in history if e["to"]}:
        try:
            names[party] = ledger.party(connection, party).name
        except NotFound:
            continue
    if overseer:
        for party in {e["party"] for e in history}:
            names.update({person.id: person.name for person in ledger.people(connection, party)})
    return history, names


def _logs(ledger, trace: dict[str, Any]) -> dict[str, dict[str, str | None]]:
    """Whose log each event lives in, by event id: ``city`` is None for this city's own log, else the peer's
    name in ``LEDGER_PEERS`` (or, for a log no longer listed, its origin)."""
    own = ledger.settings.log_origin
    answer: dict[str, dict[str, str | None]] = {}
    for event in trace["chain"]["events"]:
        origin = event["log"]
        peer = None if origin == own else ledger.peers.of_log(origin)
        answer[event["id"]] = {"origin": origin, "city": None if origin == own else (peer.name if peer else origin)}
    return answer


@router.get("/trace")
def trace_lookup(request: Request, session: AnyAccount, code: Annotated[str, Query(max_length=600)] = ""):
    if not code.strip():
        return render(request, "trace_lookup.html", problem=None, typed="")
    text, signature = split_scan(code)
    canonical, page = canonical_or_page(request, text)
    if page is not None:
        return page
    query = f"?{urlencode({'s': signature})}" if signature else ""
    return RedirectResponse(f"/trace/{canonical}{query}", status_code=303)


@router.get("/trace/{code}")
def trace_page(request: Request, code: Code, session: AnyAccount, connection: ReadConn, ledger: LedgerDep,
               s: Annotated[str | None, Query(max_length=200)] = None,
               reported: Annotated[int | None, Query()] = None):
    canonical, page = canonical_or_page(request, code)
    if page is not None:
        return page
    if canonical != code:
        return RedirectResponse(f"/trace/{canonical}", status_code=301)
    try:
        trace = ledger.trace(connection, canonical)
    except NotFound:
        hub = ledger.settings.hub_url
        return render(request, "trace_lookup.html", status=404, problem="unregistered",
                      typed=tracecode.printed(canonical),
                      hub=f"{hub}/trace?{urlencode({'code': canonical})}" if hub else None)
    events, names = _events(ledger, connection, canonical, session.actor, session.can(OVERSIGHT))
    return render(request, "trace.html", trace=trace, events=events, by_id={e["id"]: e for e in events}, names=names,
                  logs=_logs(ledger, trace), crossed=len({e["log"] for e in trace["chain"]["events"]}) > 1,
                  printed=tracecode.printed(canonical), label=label_check(canonical, s, ledger),
                  reporter=session.can(REPORTERS), overseer=session.can(OVERSIGHT),
                  report_key=f"page-report-{uuid.uuid4()}", report_at=format_time(datetime.now(timezone.utc)),
                  reported=bool(reported))


@router.post("/trace/{code}/report")
def field_report(request: Request, code: Code, session: AnyAccount, ledger: LedgerDep,
                 note: Annotated[str, Form(max_length=NOTE_LIMIT)] = "", key: Annotated[str, Form(max_length=128)] = "",
                 at: Annotated[str, Form(max_length=40)] = "", csrf: Annotated[str, Form(max_length=100)] = ""):
    """A field observation (``report`` event) recorded for the inspector's regulator party.

    The form carries its idempotency key and the moment it was opened at the cylinder, so the same
    form sent twice (a double tap, a retry on a bad network) is one report."""
    check_form(request, session, csrf)
    canonical = tracecode.normalize(code)
    permissions.check_kind(session.actor, EventKind.REPORT)
    if not note.strip():
        raise PageError("trace.report_empty", 422)
    # The API's own schema, so a form can send nothing POST /v1/events would refuse.
    try:
        body = EventIn.model_validate({
            "cylinder": canonical, "kind": "report", "occurred_at": at or format_time(datetime.now(timezone.utc)),
            "idempotency_key": key or f"page-report-{uuid.uuid4()}",
            "data": {"note": note.replace("\r\n", "\n")},  # a browser sends a textarea's lines with CR LF
        })
    except ValidationError as error:
        problems = validation_errors(error.errors(include_url=False))
        raise PageError("error.bad_request", 422, detail="; ".join(f"{p['field']}: {p['message']}"
                                                                   for p in problems)) from None
    (outcome,) = ledger.ingest_one(session.actor, [new_event(body, session.actor)])
    if outcome.error is not None:
        raise outcome.error
    return RedirectResponse(f"/trace/{canonical}?reported=1#report", status_code=303)


@router.get("/trace/{code}/proof")
def proof_page(request: Request, code: Code, session: AnyAccount, ledger: LedgerDep, connection: ReadConn):
    """The bundle checked here as ``ledger verify-bundle`` checks it, with each event's inclusion proof; a
    cylinder that crossed city lines has a segments bundle, checked with the keys this city knows."""
    canonical = tracecode.normalize(code)
    bundle = ledger.whole_bundle(canonical)
    copied = mirror.log_vkey(connection)  # a mirror checks under the key of the log it copies
    verifier = NoteVerifier.from_vkey(copied) if copied else ledger.verifier
    if bundle.get("format") == SEGMENTS:
        return _segments_page(request, ledger, canonical, bundle, verifier)
    try:
        verified, failure = verify_bundle(bundle, verifier), None
    except ProofInvalid as error:
        verified, failure = None, error.message
    rows = [{"event": event, "proof": proof} for event, proof in zip(bundle["events"], bundle["proofs"])]
    return render(request, "proof.html", printed=tracecode.printed(canonical), code=canonical, rows=rows,
                  checkpoint=bundle["checkpoint"], verified=verified, failure=failure,
                  vkey=verifier.vkey())


def _segments_page(request: Request, ledger, canonical: str, bundle: dict[str, Any], verifier: NoteVerifier):
    """A ``cylinder-ledger/segments/v1`` bundle (ledger/segments.py) checked with this log's key and its peers'
    (``LEDGER_PEERS``), as ``ledger verify-bundle --public-key A --public-key B`` checks it: the whole verdict,
    and each segment under its log with its own verdict, so a segment whose log's key is unknown here or whose
    proofs fail is shown failing where it is."""
    keys = {verifier.name: verifier}
    for peer in ledger.peers:
        keys.setdefault(peer.origin, peer.verifier)
    try:
        verdicts = segment_verdicts(bundle, list(keys.values()))
    except ProofInvalid as error:  # the bundle's shape
        verdicts, whole, failure = [], None, error.message
    else:
        try:
            whole, failure = verify_segments(bundle, list(keys.values())), None
        except ProofInvalid as error:
            whole, failure = None, error.message
    segments = []
    for segment, verdict in zip(bundle.get("segments") or [], verdicts):
        events, proofs = segment.get("events") or [], segment.get("proofs") or []
        seqs = [e.get("seq") for e in events if isinstance(e, dict)]
        peer = None if verdict.origin == verifier.name else ledger.peers.of_log(verdict.origin)
        segments.append({
            "origin": verdict.origin, "here": verdict.origin == verifier.name,
            "city": peer.name if peer else verdict.origin, "first": seqs[0] if seqs else None,
            "last": seqs[-1] if seqs else None, "note": segment.get("checkpoint"), "checkpoint": verdict.checkpoint,
            "unknown": verdict.origin not in keys, "failure": verdict.failure.message if verdict.failure else None,
            "rows": [{"event": e, "proof": p} for e, p in zip(events, proofs) if isinstance(e, dict)
                     and isinstance(p, dict)]})
    logs = list(dict.fromkeys(s["origin"] for s in segments if s["origin"]))
    return render(request, "proof.html", printed=tracecode.printed(canonical), code=canonical, segments=segments,
                  whole=whole, failure=failure, events=sum(len(s["rows"]) for s in segments),
                  vkeys=[keys[origin].vkey() for origin in logs if origin in keys],
                  missing=[origin for origin in logs if origin not in keys])


@router.get("/trace/{code}/bundle.json")
def bundle_file(code: Code, session: AnyAccount, ledger: LedgerDep):
    """The same bundle as ``GET /v1/cylinders/{id}/bundle``, for a signed-in browser (cookie, not bearer): of a
    cylinder that crossed city lines, the segments form the proof page checks."""
    canonical = tracecode.normalize(code)
    body = json.dumps(ledger.whole_bundle(canonical), ensure_ascii=False, indent=1)
    return Response(body, media_type="application/json", headers={
        "Content-Disposition": f'attachment; filename="{canonical}.bundle.json"', "Cache-Control": "no-store"})
