"""The ledger's custody events as GS1 EPCIS 2.0 ObjectEvents, and back (docs/epcis.md).

Pure: no storage, no HTTP. ``to_epcis`` turns a stored ``Event`` into an
ObjectEvent (a JSON-LD dict, without ``@context``: the document carrying it
declares ``CONTEXT``); ``from_epcis`` turns an ObjectEvent from another system
into the fields of the ledger's ``NewEvent`` (``MappedEvent``), or says why it
cannot (``Refusal``).

Identifiers (EPCIS 2.0 §8, CBV 2.0 §8): a cylinder is a GRAI
(``urn:epc:id:grai:...``, the GS1 key for returnable assets) when its owner has a
GS1 company prefix, else ``urn:x-cylinder-ledger:cyl:<trace code>``; a party is
``...:party:<id>``, its premises ``...:site:<id>``, an end user only the opaque
``...:user:<ref>`` the ledger already keeps (never a name or a phone number).
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from ..domain import Event, EventKind, Location, NewEvent, format_time, parse_time
from ..errors import InvalidInput
from ..facts import DATA_KEYS
from .hashid import event_hash_id
from .ids import (ID_SCHEME, LPG_CLASS, cylinder_of, cylinder_uri, grai_for, party_of, party_uri, site_uri,
                  user_of, user_uri)

__all__ = [
    "CONTEXT_URL", "EXT_NS", "EXT_PREFIX", "CONTEXT", "ID_SCHEME", "LPG_CLASS", "TIMEZONE_OFFSET", "BIZSTEPS",
    "Step", "MappedEvent", "Refusal", "grai_for", "cylinder_uri", "party_uri", "site_uri", "user_uri",
    "cylinder_of", "party_of", "user_of", "to_epcis", "from_epcis", "idempotency_key_for",
]

# GS1's published JSON-LD context of EPCIS 2.0.0, and the namespace of this ledger's extension fields.
CONTEXT_URL = "https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld"
EXT_NS = "https://ns.cylinder-ledger.example/epcis/"
EXT_PREFIX = "cl"
CONTEXT: list[Any] = [CONTEXT_URL, {EXT_PREFIX: EXT_NS}]
# The ledger stores UTC; EPCIS also wants the local offset of where the event happened (China: UTC+8).
TIMEZONE_OFFSET = "+08:00"


@dataclass(frozen=True, slots=True)
class Step:
    """How one kind of custody event reads in EPCIS: its action, CBV bizStep and disposition."""

    action: str
    biz_step: str
    disposition: str | None


def _ext(name: str) -> str:
    return f"{EXT_PREFIX}:{name}"


# CBV 2.0 has no step for putting gas into a cylinder: filling is this ledger's own bizStep URI.
FILLING = EXT_NS + "bizstep/filling"

# kind -> (action, bizStep, disposition). docs/epcis.md says why each one.
BIZSTEPS: dict[EventKind, Step] = {
    EventKind.REGISTER: Step("ADD", "commissioning", "active"),
    EventKind.FILL: Step("OBSERVE", FILLING, "sellable_not_accessible"),
    EventKind.DISPATCH: Step("OBSERVE", "shipping", "in_transit"),
    EventKind.RECEIVE: Step("OBSERVE", "receiving", "in_progress"),
    EventKind.DELIVER: Step("OBSERVE", "retail_selling", "retail_sold"),
    EventKind.COLLECT: Step("OBSERVE", "collecting", "returned"),
    EventKind.RETURN: Step("OBSERVE", "shipping", "returned"),
    EventKind.INSPECT: Step("OBSERVE", "inspecting", None),  # conformant / non_conformant from the result
    EventKind.SCRAP: Step("DELETE", "destroying", "destroyed"),
    EventKind.REPORT: Step("OBSERVE", "inspecting", None),  # an observation: no disposition changes
}
_RESULT_DISPOSITION = {"pass": "conformant", "fail": "non_conformant"}

# Facts that have a standard home rather than an extension field.
_REGISTER_ILMD = DATA_KEYS[EventKind.REGISTER]
_QUANTITY_KINDS = (EventKind.FILL, EventKind.DELIVER)

_GEO = re.compile(r"geo:(-?[0-9]{1,3}(?:\.[0-9]+)?),(-?[0-9]{1,3}(?:\.[0-9]+)?)")

# -- event -> EPCIS ----------------------------------------------------------------


def _parties(kind: str, pairs: list[tuple[str, str]]) -> list[dict[str, str]]:
    return [{"type": sdt, kind: uri} for sdt, uri in pairs]


def to_epcis(event: Event, *, owner: str | None = None, sender: str | None = None,
             company_prefix: str | None = None, with_id: bool = True) -> dict[str, Any]:
    """``event`` as an EPCIS 2.0 ObjectEvent (a dict ready for JSON).

    ``owner``: the cylinder's owning party (a register event names it itself); ``sender``: for a
    receive, the party that handed it over; ``company_prefix``: the owner's GS1 company prefix, if it
    has one (then the EPC is a GRAI). ``with_id`` adds ``eventID``, the GS1 event hash ID (CBV 2.0 §8.9).
    The proof members (``cl:seq``, ``cl:event_hash``, ``cl:prev_hash``, ``cl:log_index``) never change once
    the event is stored, so neither does its ID; the checkpoint that covers it is the document's.
    """
    kind, data = event.kind, event.data
    step = BIZSTEPS[kind]
    out: dict[str, Any] = {
        "type": "ObjectEvent",
        "eventTime": format_time(event.occurred_at),
        "eventTimeZoneOffset": TIMEZONE_OFFSET,
        "recordTime": format_time(event.recorded_at),
        "epcList": [grai_for(event.cylinder, company_prefix)],
        "action": step.action,
        "bizStep": step.biz_step,
    }
    disposition = step.disposition
    if kind is EventKind.INSPECT:
        disposition = _RESULT_DISPOSITION.get(data.get("result"))
    if disposition is not None:
        out["disposition"] = disposition
    if kind in _QUANTITY_KINDS and isinstance(data.get("net_kg"), (int, float)):
        out["quantityList"] = [{"epcClass": LPG_CLASS, "quantity": data["net_kg"], "uom": "KGM"}]
    here = site_uri(event.party)
    loc = event.location
    out["readPoint"] = {"id": here if loc is None else f"geo:{loc.lat!r},{loc.lon!r}"}
    if kind not in (EventKind.DISPATCH, EventKind.RETURN, EventKind.DELIVER, EventKind.SCRAP):
        out["bizLocation"] = {"id": here}  # where the cylinder stays; in transit or with a user: none
    sources, destinations = _movement(event, owner, sender)
    if sources:
        out["sourceList"] = sources
    if destinations:
        out["destinationList"] = destinations
    if kind is EventKind.REGISTER:
        out["ilmd"] = {_ext(name): data[name] for name in sorted(data) if name in _REGISTER_ILMD}
    out[_ext("kind")] = kind.value
    out[_ext("party")] = event.party
    if event.person is not None:
        out[_ext("person")] = event.person
    for name in sorted(data):
        if name == "net_kg" and "quantityList" in out or kind is EventKind.REGISTER and name in _REGISTER_ILMD:
            continue
        if kind is EventKind.INSPECT and name == "result" and disposition is not None:
            continue
        out.update(_flat(name, data[name]))
    out[_ext("seq")] = event.seq
    out[_ext("event_hash")] = event.hash.hex()
    if event.prev_hash is not None:
        out[_ext("prev_hash")] = event.prev_hash.hex()
    if event.log_index is not None:
        out[_ext("log_index")] = event.log_index
    if with_id:
        out = {"eventID": event_hash_id(out, {EXT_PREFIX: EXT_NS}), **out}
    return out


def _flat(name: str, value: Any) -> dict[str, Any]:
    """A fact as flat extension members: an object's members become ``cl:<name>_<member>`` (a report's
    note is only its commitment, ``cl:note_sha256``), a list becomes its JSON text."""
    if isinstance(value, dict):
        return {key: item for member in sorted(value) for key, item in _flat(f"{name}_{member}", value[member]).items()}
    if isinstance(value, list):
        return {_ext(name): json.dumps(value, ensure_ascii=False, sort_keys=True, separators=(",", ":"))}
    return {_ext(name): value}


_ITEMS = "safety_check_items_"


def _safety_check(ext: dict[str, Any]) -> dict[str, Any] | None:
    """A delivery's safety check from the flat members ``_flat`` made of it; its shape is checked on admission."""
    items = {name[len(_ITEMS):]: value for name, value in ext.items() if name.startswith(_ITEMS)}
    photos = ext.get("safety_check_photos")
    if not items and photos is None:
        return None
    check: dict[str, Any] = {"items": items}
    if photos is not None:
        try:
            check["photos"] = json.loads(photos) if isinstance(photos, str) else photos
        except ValueError:
            check["photos"] = photos  # refused by name when the event is admitted
    return check


def _movement(event: Event, owner: str | None, sender: str | None) -> tuple[list, list]:
    kind, party, to = event.kind, event.party, event.to
    if kind is EventKind.REGISTER:
        owner = event.data.get("owner", owner) or party
        return [], _parties("destination", [("owning_party", party_uri(owner)), ("possessing_party", party_uri(party))])
    if kind in (EventKind.DISPATCH, EventKind.RETURN) and to is not None:
        return (_parties("source", [("possessing_party", party_uri(party)), ("location", site_uri(party))]),
                _parties("destination", [("possessing_party", party_uri(to)), ("location", site_uri(to))]))
    if kind is EventKind.RECEIVE:
        sources = [] if sender is None else _parties("source", [("possessing_party", party_uri(sender))])
        return sources, _parties("destination", [("possessing_party", party_uri(party)), ("location", site_uri(party))])
    if kind is EventKind.DELIVER and to is not None:
        return (_parties("source", [("possessing_party", party_uri(party))]),
                _parties("destination", [("possessing_party", user_uri(to))]))
    if kind is EventKind.COLLECT:
        return [], _parties("destination", [("possessing_party", party_uri(party)), ("location", site_uri(party))])
    return [], []


# -- EPCIS -> the ledger -----------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Refusal:
    """Why an EPCIS event cannot become a ledger event; ``field`` names the offending member."""

    reason: str
    field: str | None = None
    event_id: str | None = None


@dataclass(frozen=True, slots=True)
class MappedEvent:
    """The ledger's ``NewEvent`` fields an ObjectEvent carries, for each cylinder in its ``epcList``.

    ``party`` is the acting party the EPCIS names (``None`` when it names none: the capturing account's
    party acts); ``idempotency_key`` derives from the eventID, so a resent event is never recorded twice.
    """

    kind: EventKind
    cylinders: tuple[str, ...]
    occurred_at: datetime
    idempotency_key: str
    event_id: str
    party: str | None = None
    to: str | None = None
    person: str | None = None
    location: Location | None = None
    data: dict[str, Any] = field(default_factory=dict)

    def new_events(self, party: str) -> list[NewEvent]:
        """One ``NewEvent`` per cylinder, recorded for ``party``; each with its own idempotency key."""
        single = len(self.cylinders) == 1
        return [NewEvent(code, self.kind, self.occurred_at, party,
                         self.idempotency_key if single else f"{self.idempotency_key}:{code}",
                         self.to, self.person, self.location, dict(self.data))
                for code in self.cylinders]


def idempotency_key_for(event_id: str) -> str:
    """A ledger idempotency key for an EPCIS eventID: ``epcis:`` and 40 hex digits of its hash."""
    match = re.fullmatch(r"ni:///sha-256;([0-9a-f]{64})\?ver=CBV[0-9.]+", event_id)
    digest = match.group(1) if match else hashlib.sha256(event_id.encode("utf-8")).hexdigest()
    return "epcis:" + digest[:40]


def _by_step(biz_step: str, disposition: str | None) -> EventKind | None:
    step = _short(biz_step, "BizStep-")
    disp = None if disposition is None else _short(disposition, "Disp-")
    if step == FILLING:
        return EventKind.FILL
    if step == "shipping":
        return EventKind.RETURN if disp == "returned" else EventKind.DISPATCH
    if step == "inspecting":
        return EventKind.INSPECT if disp in ("conformant", "non_conformant") else EventKind.REPORT
    return {"commissioning": EventKind.REGISTER, "receiving": EventKind.RECEIVE, "accepting": EventKind.RECEIVE,
            "retail_selling": EventKind.DELIVER, "collecting": EventKind.COLLECT,
            "destroying": EventKind.SCRAP, "decommissioning": EventKind.SCRAP}.get(step)


def _short(value: str, web_prefix: str) -> str:
    """A CBV value in bare form: ``receiving`` for the bare word, its URN or its Web URI."""
    for prefix in ("https://ref.gs1.org/cbv/" + web_prefix, "https://gs1.org/voc/" + web_prefix, "cbv:" + web_prefix):
        if value.startswith(prefix):
            return value[len(prefix):]
    match = re.fullmatch(r"urn:epcglobal:cbv:[a-z]+:(.+)", value)
    return match.group(1) if match else value


def _extensions(obj: dict[str, Any], prefixes: dict[str, str]) -> dict[str, Any]:
    """The event's members in this ledger's namespace, by local name, whatever prefix the sender chose."""
    ours = {prefix for prefix, ns in prefixes.items() if ns == EXT_NS}
    found: dict[str, Any] = {}
    for key, value in obj.items():
        if key.startswith(EXT_NS):
            found[key[len(EXT_NS):]] = value
        elif ":" in key and key.split(":", 1)[0] in ours:
            found[key.split(":", 1)[1]] = value
    return found


def _prefixes(context: Any) -> dict[str, str]:
    items = context if isinstance(context, list) else [context]
    found = {EXT_PREFIX: EXT_NS}
    for item in items:
        if isinstance(item, dict):
            found.update({k: v for k, v in item.items() if isinstance(v, str)})
    return found


def _party_in(entries: Any, role: str, key: str, reader=party_of) -> str | None:
    for entry in entries if isinstance(entries, list) else []:
        if isinstance(entry, dict) and _short(str(entry.get("type", "")), "SDT-") == role:
            return reader(entry.get(key))
    return None


def from_epcis(obj: Any, *, context: Any = None) -> MappedEvent | Refusal:
    """An EPCIS event as the ledger's event fields, or the reason it cannot be one.

    ``context``: the ``@context`` of the document carrying ``obj`` (its prefixes name our extension
    namespace); the event's own ``@context`` is read too.
    """
    if not isinstance(obj, dict):
        return Refusal("an event must be a JSON object")
    event_id = obj.get("eventID") if isinstance(obj.get("eventID"), str) else None
    if obj.get("type") != "ObjectEvent":
        return Refusal(f"only ObjectEvents map to custody events, not {str(obj.get('type'))[:40]}", "type", event_id)
    prefixes = _prefixes(context)
    prefixes.update(_prefixes(obj.get("@context")))
    ext = _extensions(obj, prefixes)
    kind: EventKind | None = None
    if "kind" in ext:
        kind = next((k for k in EventKind if k.value == ext["kind"]), None)
        if kind is None:
            return Refusal(f"{EXT_PREFIX}:kind {str(ext['kind'])[:40]!r} is not a custody event kind", "cl:kind", event_id)
    elif isinstance(obj.get("bizStep"), str):
        kind = _by_step(obj["bizStep"], obj.get("disposition") if isinstance(obj.get("disposition"), str) else None)
    if kind is None:
        return Refusal(f"bizStep {str(obj.get('bizStep'))[:60]!r} has no custody event kind (docs/epcis.md)",
                       "bizStep", event_id)
    if kind is EventKind.REGISTER:
        return Refusal("commissioning is registration: register cylinders with POST /v1/cylinders", "bizStep", event_id)
    if obj.get("action") != BIZSTEPS[kind].action:
        return Refusal(f"a {kind.value} is action {BIZSTEPS[kind].action}, not {str(obj.get('action'))[:20]}",
                       "action", event_id)
    epcs = obj.get("epcList")
    if not isinstance(epcs, list) or not epcs:
        return Refusal("epcList must name the cylinders (a quantity of a class names none)", "epcList", event_id)
    codes = [cylinder_of(epc) for epc in epcs]
    if None in codes:
        bad = epcs[codes.index(None)]
        return Refusal(f"{str(bad)[:80]!r} is not a cylinder of this ledger (a GRAI or {ID_SCHEME}cyl:...)",
                       "epcList", event_id)
    try:
        occurred_at = parse_time(obj.get("eventTime"), "eventTime")
    except InvalidInput as error:
        return Refusal(str(error), "eventTime", event_id)
    location = None
    read_point = obj.get("readPoint", {}).get("id") if isinstance(obj.get("readPoint"), dict) else None
    geo = _GEO.fullmatch(read_point) if isinstance(read_point, str) else None
    if geo:
        try:
            location = Location(float(geo.group(1)), float(geo.group(2)))
        except InvalidInput as error:
            return Refusal(str(error), "readPoint", event_id)
    party, to = ext.get("party"), None
    sources, destinations = obj.get("sourceList"), obj.get("destinationList")
    if kind in (EventKind.DISPATCH, EventKind.RETURN):
        party = party or _party_in(sources, "possessing_party", "source")
        to = _party_in(destinations, "possessing_party", "destination")
        if to is None:
            return Refusal(f"a {kind.value} needs a destinationList possessing_party of this ledger",
                           "destinationList", event_id)
    elif kind is EventKind.RECEIVE:
        party = party or _party_in(destinations, "possessing_party", "destination")
    elif kind is EventKind.DELIVER:
        party = party or _party_in(sources, "possessing_party", "source")
        to = _party_in(destinations, "possessing_party", "destination", user_of)
        if to is None:
            return Refusal(f"a delivery needs a destinationList possessing_party {ID_SCHEME}user:<ref>",
                           "destinationList", event_id)
    if party is None and isinstance(obj.get("bizLocation"), dict):
        party = party_of(obj["bizLocation"].get("id"))
    if party is None and not geo:
        party = party_of(read_point)
    data = {name: ext[name] for name in sorted(DATA_KEYS[kind]) if name in ext}
    if kind is EventKind.DELIVER:
        check = _safety_check(ext)
        if check is not None:
            data["safety_check"] = check
    if kind in _QUANTITY_KINDS:
        for element in obj.get("quantityList") or []:
            if isinstance(element, dict) and element.get("epcClass") == LPG_CLASS:
                if element.get("uom") != "KGM":
                    return Refusal("the gas's quantity must be in kilograms (uom KGM)", "quantityList", event_id)
                data["net_kg"] = element.get("quantity")
    if kind is EventKind.INSPECT:
        disp = _short(str(obj.get("disposition")), "Disp-")
        data.setdefault("result", "pass" if disp == "conformant" else "fail")
    if event_id is None:
        event_id = event_hash_id(obj, prefixes)
    person = ext.get("person") if isinstance(ext.get("person"), str) else None
    return MappedEvent(kind, tuple(codes), occurred_at, idempotency_key_for(event_id), event_id,
                       party if isinstance(party, str) else None, to, person, location, data)
