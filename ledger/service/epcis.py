"""EPCIS 2.0 out of the ledger: a cylinder's life as an EPCISDocument, query pages, the streamed export.

Reads only, in the caller's read transaction. Every event is mapped by ``ledger.epcis.mapping.to_epcis``
(one ObjectEvent each, with its GS1 event hash ID); a document also names the newest signed checkpoint
(``cl:checkpoint``, a C2SP signed note, and ``cl:checkpoint_size``) so that whoever holds it can ask for
each event's inclusion proof (``cl:log_index``) against a tree the log signed.

A cylinder whose owner has a GS1 company prefix (``LEDGER_EPCIS_COMPANY_PREFIXES``, which capture reads
too) is named by its GRAI; any other by the ledger's private identifier (docs/epcis.md).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator, Mapping
from datetime import datetime
from typing import Any, TextIO

from ..domain import Event, format_time
from ..epcis.mapping import CONTEXT, to_epcis
from ..epcis.query import parse_query
from ..errors import NotFound
from ..storage import Connection
from ..storage import checkpoints as checkpoint_rows
from ..storage import epcis as epcis_rows
from ..storage import events as event_rows
from .types import _now

__all__ = ["cylinder_document", "query_document", "write_document", "count_events", "SCHEMA_VERSION"]

SCHEMA_VERSION = "2.0"
_CHUNK = 1000


def _head(connection: Connection, kind: str, now: datetime | None) -> dict[str, Any]:
    head: dict[str, Any] = {"@context": CONTEXT, "type": kind, "schemaVersion": SCHEMA_VERSION,
                            "creationDate": format_time(now or _now())}
    latest = checkpoint_rows.latest(connection)
    if latest is not None:
        head["cl:checkpoint_size"] = latest.size
        head["cl:checkpoint"] = latest.note
    return head


def owner_prefixes() -> dict[str, str]:
    """Each gas company's GS1 company prefix (party id -> prefix), as ``LEDGER_EPCIS_COMPANY_PREFIXES`` gives them."""
    from ..capture import CaptureSettings

    return {party: prefix for prefix, party in CaptureSettings.from_env().company_prefixes.items()}


def _mapped(connection: Connection, events: Iterable[Event], prefixes: Mapping[str, str] | None) -> Iterator[dict]:
    """Each event as an ObjectEvent, its cylinder a GRAI where its owner has a company prefix."""
    prefixes = owner_prefixes() if prefixes is None else prefixes
    if not prefixes:
        yield from (to_epcis(event) for event in events)
        return
    events = list(events)
    owners = epcis_rows.owners(connection, [event.cylinder for event in events])
    for event in events:
        yield to_epcis(event, company_prefix=prefixes.get(owners.get(event.cylinder, "")))


def cylinder_document(connection: Connection, code: str, now: datetime | None = None,
                      prefixes: Mapping[str, str] | None = None) -> dict[str, Any]:
    """The EPCISDocument of the cylinder's whole life, oldest event first; ``NotFound`` for an unknown code."""
    events = event_rows.history(connection, code)
    if not events:
        raise NotFound(f"no cylinder {code}")
    document = _head(connection, "EPCISDocument", now)
    document["epcisBody"] = {"eventList": list(_mapped(connection, events, prefixes))}
    return document


def query_document(connection: Connection, params: dict[str, Any], after: int | None, per_page: int,
                   now: datetime | None = None,
                   prefixes: Mapping[str, str] | None = None) -> tuple[dict[str, Any], int | None]:
    """One page of an EPCIS query: the EPCISQueryDocument and the log position the next page starts
    after (``None`` on the last page). ``InvalidInput`` names a parameter that is not understood."""
    selected = epcis_rows.EventFilter(**parse_query(params))
    events = epcis_rows.page(connection, selected, -1 if after is None else after, per_page + 1)
    more = len(events) > per_page
    events = events[:per_page]
    document = _head(connection, "EPCISQueryDocument", now)
    document["epcisBody"] = {"queryResults": {
        "queryName": "SimpleEventQuery",
        "resultsBody": {"eventList": list(_mapped(connection, events, prefixes))},
    }}
    return document, (events[-1].id if more else None)


def _window(since: datetime | None, until: datetime | None) -> epcis_rows.EventFilter:
    return epcis_rows.EventFilter(recorded_from=None if since is None else format_time(since),
                                  recorded_until=None if until is None else format_time(until))


def count_events(connection: Connection, since: datetime | None = None, until: datetime | None = None) -> int:
    return epcis_rows.count(connection, _window(since, until))


def write_document(connection: Connection, out: TextIO, *, since: datetime | None = None,
                   until: datetime | None = None, progress: Callable[[int], None] | None = None,
                   now: datetime | None = None, chunk: int = _CHUNK,
                   prefixes: Mapping[str, str] | None = None) -> int:
    """Write one EPCISDocument of every event recorded in [``since``, ``until``) to ``out``, in log order,
    one event at a time: memory stays flat whatever the size. Returns the number of events written.

    The window is on the recording time, so consecutive exports with adjacent windows never miss an event
    a driver synced late. Rows are read ``chunk`` at a time; ``progress`` is called with the count of
    events written after each chunk.
    """
    head = json.dumps(_head(connection, "EPCISDocument", now), ensure_ascii=False)
    out.write(head[:-1] + ', "epcisBody": {"eventList": [\n')
    written = 0
    prefixes = owner_prefixes() if prefixes is None else prefixes
    batch: list[Event] = []
    for event in epcis_rows.stream(connection, _window(since, until), chunk):
        batch.append(event)
        if len(batch) < chunk:
            continue
        written = _write(connection, out, batch, prefixes, written)
        batch = []
        if progress is not None:
            progress(written)
    written = _write(connection, out, batch, prefixes, written)
    out.write("\n]}}\n")
    if progress is not None:
        progress(written)
    return written


def _write(connection: Connection, out: TextIO, events: list[Event], prefixes: Mapping[str, str], written: int) -> int:
    for mapped in _mapped(connection, events, prefixes):
        out.write((",\n" if written else "") + json.dumps(mapped, ensure_ascii=False))
        written += 1
    return written
