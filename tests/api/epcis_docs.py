"""EPCIS 2.0 documents as another system would send them to the capture interface."""

from __future__ import annotations

import json
import time
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from ledger.epcis import mapping

EXAMPLES = Path(__file__).resolve().parents[1] / "gs1_epcis"
CONTEXT = ["https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld", {"cl": mapping.EXT_NS}]


def document(events: list[dict[str, Any]], context: Any = None) -> dict[str, Any]:
    return {"@context": CONTEXT if context is None else context, "type": "EPCISDocument", "schemaVersion": "2.0",
            "creationDate": "2026-05-01T08:00:00Z", "epcisBody": {"eventList": events}}


def fill(cylinder: str, station: str, at: datetime, net_kg: float = 14.5, event_id: str | None = None,
         epc: str | None = None) -> dict[str, Any]:
    """A fill as a filling station's own system writes it: the ledger's filling bizStep, the gas in kilograms."""
    event = {
        "type": "ObjectEvent",
        "eventTime": at.isoformat(), "eventTimeZoneOffset": "+08:00",
        "epcList": [epc or f"{mapping.ID_SCHEME}cyl:{cylinder}"],
        "action": "OBSERVE", "bizStep": mapping.FILLING, "disposition": "sellable_not_accessible",
        "readPoint": {"id": f"{mapping.ID_SCHEME}site:{station}"},
        "bizLocation": {"id": f"{mapping.ID_SCHEME}site:{station}"},
        "quantityList": [{"epcClass": mapping.LPG_CLASS, "quantity": net_kg, "uom": "KGM"}],
    }
    if event_id is not False:
        event = {"eventID": event_id or f"urn:uuid:{uuid.uuid4()}", **event}
    return event


def fills(cylinders: list[str], station: str, count: int, start: datetime | None = None) -> list[dict[str, Any]]:
    """``count`` fills spread over the cylinders, an hour apart, ending a minute ago."""
    start = start or datetime.now(timezone.utc) - timedelta(hours=count + 1)
    return [fill(cylinders[n % len(cylinders)], station, start + timedelta(hours=n)) for n in range(count)]


def example(name: str) -> bytes:
    return (EXAMPLES / name).read_bytes()


def wait_for(get, location: str, headers: dict[str, str], timeout: float = 60) -> dict[str, Any]:
    """Poll the capture job until it is no longer running; its last report."""
    deadline = time.monotonic() + timeout
    while True:
        answer = get(location, headers=headers)
        assert answer.status_code == 200, answer.text
        job = answer.json()
        if not job["running"]:
            return job
        assert time.monotonic() < deadline, f"capture job still running: {json.dumps(job)[:500]}"
        time.sleep(0.1)
