"""An EPCIS 2.0 capture document, read and checked as a whole before any of it is accepted.

What is checked here refuses the whole document (the REST binding's ``400``
``epcisException:ValidationException``: "all events are rejected", EPCIS 2.0
§12.7.1 / openapi.yaml ``/capture``); what is wrong with one event only is that
event's outcome in the capture job instead (docs/epcis.md "Capture").

The whole document is refused when

- it is not a JSON object whose ``type`` is ``EPCISDocument`` (or an
  ``EPCISQueryDocument``, whose results the binding also accepts);
- its ``@context`` names none of GS1's EPCIS 2.0 JSON-LD contexts;
- ``epcisBody.eventList`` (or ``queryResults.resultsBody.eventList``) is not a
  list of JSON objects, or is empty, or holds more events than ``limit``;
- an event names a ``bizStep`` that is not one of the CBV 2.0 business steps
  (CBV 2.0 §7.1; written bare, as ``urn:epcglobal:cbv:bizstep:...`` or as
  ``https://ref.gs1.org/cbv/BizStep-...``) nor one of the ledger's own
  (``https://ns.cylinder-ledger.example/epcis/bizstep/filling``: CBV has no step
  for filling a cylinder with gas).

GS1's JSON Schema (EPCIS-JSON-Schema.json) is not applied to the whole
document: GS1's own examples fail it (a blank-node document ``id``, EPCIS 1.x
URN vocabulary), and the ledger reads only the fields its mapping names.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = ["CONTEXTS", "CBV_BIZSTEPS", "DocumentRefused", "read_document", "bizstep_name"]

# GS1's published EPCIS 2.0 contexts (epcis-context.jsonld; the examples of github.com/gs1/EPCIS use the
# "simple" one and the repository's own address).
CONTEXTS = frozenset({
    "https://ref.gs1.org/standards/epcis/epcis-context.jsonld",
    "https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld",
    "https://gs1.github.io/EPCIS/epcis-context.jsonld",
    "https://gs1.github.io/EPCIS/epcis-context-simple.jsonld",
})

# CBV 2.0 §7.1 business steps (the enumeration of EPCIS-JSON-Schema.json, definitions/bizStep).
CBV_BIZSTEPS = frozenset({
    "accepting", "arriving", "assembling", "collecting", "commissioning", "consigning", "creating_class_instance",
    "cycle_counting", "decommissioning", "departing", "destroying", "disassembling", "dispensing", "encoding",
    "entering_exiting", "holding", "inspecting", "installing", "killing", "loading", "other", "packing", "picking",
    "receiving", "removing", "repackaging", "repairing", "replacing", "reserving", "retail_selling", "shipping",
    "staging_outbound", "stock_taking", "stocking", "storing", "transporting", "unloading", "unpacking",
    "void_shipping", "sensor_reporting", "sampling",
})
_BIZSTEP_PREFIXES = ("urn:epcglobal:cbv:bizstep:", "https://ref.gs1.org/cbv/BizStep-", "https://gs1.org/voc/BizStep-",
                     "cbv:BizStep-")


@dataclass
class DocumentRefused(Exception):
    """The whole document is refused; ``exception`` is the EPCIS exception's name, ``status`` the HTTP status."""

    detail: str
    exception: str = "ValidationException"
    status: int = 400
    pointer: str | None = None

    def __str__(self) -> str:
        return self.detail


def bizstep_name(value: Any) -> str | None:
    """The CBV business step ``value`` names (``shipping``), or None when it names none."""
    if not isinstance(value, str):
        return None
    for prefix in _BIZSTEP_PREFIXES:
        if value.startswith(prefix):
            value = value[len(prefix):]
            break
    return value if value in CBV_BIZSTEPS else None


def _contexts(value: Any) -> list[str]:
    items = value if isinstance(value, list) else [value]
    return [item for item in items if isinstance(item, str)]


def read_document(document: Any, *, limit: int, own_bizsteps: frozenset[str] = frozenset()) -> list[dict[str, Any]]:
    """The document's events, in its order; ``DocumentRefused`` for the first reason to refuse all of it.

    ``own_bizsteps``: business steps of the ledger's own vocabulary (CBV 2.0 §8.4 allows private URIs), known too.
    """
    if not isinstance(document, dict):
        raise DocumentRefused("the body is not a JSON object; send an EPCISDocument")
    kind = document.get("type")
    if kind not in ("EPCISDocument", "EPCISQueryDocument"):
        raise DocumentRefused(f"type is {_show(kind)}, not EPCISDocument", pointer="/type")
    if "@context" not in document:
        raise DocumentRefused("@context is missing; name GS1's EPCIS 2.0 context "
                              "(https://ref.gs1.org/standards/epcis/epcis-context.jsonld)", pointer="/@context")
    if not CONTEXTS.intersection(_contexts(document["@context"])):
        raise DocumentRefused(f"@context {_show(document['@context'])} names none of GS1's EPCIS 2.0 contexts "
                              "(https://ref.gs1.org/standards/epcis/epcis-context.jsonld)", pointer="/@context")
    version = document.get("schemaVersion")
    if version not in ("2.0", "2.0.0"):
        raise DocumentRefused(f"schemaVersion is {_show(version)}; this interface captures EPCIS 2.0",
                              pointer="/schemaVersion")
    body = document.get("epcisBody")
    pointer = "/epcisBody/eventList"
    if kind == "EPCISQueryDocument":
        body = (body or {}).get("queryResults", {}).get("resultsBody", {}) if isinstance(body, dict) else None
        pointer = "/epcisBody/queryResults/resultsBody/eventList"
    events = body.get("eventList") if isinstance(body, dict) else None
    if not isinstance(events, list) or not events:
        raise DocumentRefused("the document holds no eventList of events", pointer=pointer)
    if len(events) > limit:
        raise DocumentRefused(f"the document holds {len(events)} events; at most {limit} are captured at once",
                              exception="CaptureLimitExceededException", status=413, pointer=pointer)
    for index, event in enumerate(events):
        if not isinstance(event, dict):
            raise DocumentRefused(f"event {index} is not a JSON object", pointer=f"{pointer}/{index}")
        step = event.get("bizStep")
        if step is not None and step not in own_bizsteps and bizstep_name(step) is None:
            raise DocumentRefused(f"event {index} names bizStep {_show(event['bizStep'])}, which is not a CBV 2.0 "
                                  "business step", pointer=f"{pointer}/{index}/bizStep")
    return events


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."
