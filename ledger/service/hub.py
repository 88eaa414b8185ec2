"""The provincial hub's use cases: the province's lists from the cities, and a cylinder across the cities' logs.

The hub holds each city's log as a verified mirror (``ledger.service.mirror``, one
mirror database per city) and witnesses it. What it serves (docs/regions.md,
"The provincial hub"):

- risk lists, findings and enterprise colours are the cities' own judgements,
  pulled from each city's API with the read-only token the city issued to the
  hub, every field kept only if it is on a list of fields that carry no personal
  data (``RISK_FIELDS``, ``FINDING_FIELDS``, ``PARTY_FIELDS``): so the provincial
  list is the union of the cities' lists, and a field a city adds later never
  reaches the hub unseen;
- one colour per enterprise across the cities it works in: the worst of its
  colours (an enterprise red in one city is red in the province);
- a cylinder's trace across the cities: its events from every mirror in chain
  order, each segment with the log it lives in and that log's checkpoint, the
  links between segments checked (``data.to_log``, ``data.from_log``,
  ``prev_hash``; docs/regions.md); and a bundle of all its segments that
  ``ledger verify-bundle`` checks offline with the cities' keys (``ledger.segments``).
"""

from __future__ import annotations

import base64
import binascii
import hmac
import json
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import httpx

from .. import outbound
from ..domain import FindingKind, Severity
from ..errors import InvalidInput, NotFound
from ..log import LogTree, SubrootCache, latest_checkpoint
from ..segments import FORMAT
from ..signednote import Checkpoint
from ..storage import Database
from ..storage import events as event_rows
from ..wire import event_json

__all__ = ["CityView", "CityClient", "CityUnreachable", "RISK_FIELDS", "FINDING_FIELDS", "PARTY_FIELDS", "COLOURS",
           "PROBLEMS", "COUNT_KEYS", "only", "province_risk", "province_findings", "province_counts",
           "province_enterprises", "merge_enterprises",
           "risk_page", "findings_page", "PAGE_MAX", "trace", "bundle"]

# What a risk list's row, a finding and a party may carry to the hub; anything else is dropped.
RISK_FIELDS = ("cylinder", "reason", "owner", "region", "model", "serial", "state", "holder", "next_inspection_due",
               "life_ends_on", "last_event_at", "scanned_by", "detected_at", "finding", "status")
FINDING_FIELDS = ("id", "kind", "severity", "cylinder", "party", "region", "events", "detected_at", "status",
                  "due_at", "escalated_at")
PARTY_FIELDS = ("id", "kind", "name", "region", "home")
# What a city's finding counts may carry to the hub: a total and, per map, these names' numbers only.
COUNT_KEYS = {"by_status": ("open", "dispatched", "handled", "closed", "resolved"),
              "by_kind": tuple(kind.value for kind in FindingKind),
              "by_severity": tuple(severity.value for severity in reversed(Severity))}
COLOURS = ("green", "yellow", "red")  # better to worse
PAGE = 1000  # a city's largest page (its API's ``limit`` bound)
PAGE_MAX = PAGE // 2  # the province's largest page: a city is asked at most twice as many rows (see ``_after``)
MAX_ROWS = 100_000  # per city and list, as a city's own export


@dataclass(frozen=True)
class CityView:
    """What the hub's use cases need of a followed city."""

    name: str
    url: str
    origin: str
    region: str | None
    token: str | None
    mirror: Database | None = None
    # The mirror's latest verified checkpoint as the follower last stored it (None: read it from the mirror).
    checkpoint: Checkpoint | None = None


class CityUnreachable(Exception):
    """A city's API did not answer as it does; the province's answer says which city is missing."""


def only(row: dict[str, Any], fields: Iterable[str]) -> dict[str, Any]:
    return {key: row[key] for key in fields if key in row}


class CityClient:
    """A city's API, read with the token the city issued to the hub; every answer is handed to ``seen``
    (the tests record what crosses the wire)."""

    def __init__(self, city: CityView, timeout: float = 30.0, seen=None) -> None:
        self.city = city
        headers = {"Authorization": f"Bearer {city.token}"} if city.token else {}
        self.http = outbound.shared(city.url.rstrip("/"), headers, timeout)  # its connections kept for the next call
        self.seen = seen

    def get(self, path: str, params: dict[str, Any]) -> Any:
        try:
            response = self.http.get(path, params={k: v for k, v in params.items() if v is not None})
        except httpx.HTTPError as exc:
            raise CityUnreachable(f"{self.city.name}: GET {path}: {exc}") from None
        if self.seen is not None:
            self.seen(self.city.name, response.content)
        if response.status_code != 200:
            raise CityUnreachable(f"{self.city.name}: GET {path} answered {response.status_code}")
        try:
            return response.json()
        except ValueError:
            raise CityUnreachable(f"{self.city.name}: GET {path} did not answer JSON") from None

    def pages(self, path: str, params: dict[str, Any]) -> list[dict[str, Any]]:
        rows: list[dict[str, Any]] = []
        cursor = None
        while len(rows) < MAX_ROWS:
            page = self.get(path, {**params, "limit": PAGE, "cursor": cursor})
            if not isinstance(page, dict) or not isinstance(page.get("items"), list):
                raise CityUnreachable(f"{self.city.name}: GET {path} answered no list")
            rows += [item for item in page["items"] if isinstance(item, dict)]
            if (cursor := page.get("next_cursor")) is None:
                break
        return rows


def _each(cities: Sequence[CityView], ask, seen=None) -> tuple[list[dict[str, Any]], dict[str, str]]:
    """``ask(client)`` of every city at once; the rows each gave (with ``city``, in the cities' order) and each
    city's state."""
    def one(city: CityView) -> tuple[list[dict[str, Any]], str]:
        try:
            return [{"city": city.name, **row} for row in ask(CityClient(city, seen=seen))], "ok"
        except CityUnreachable as exc:
            return [], f"unreachable: {exc}"

    with ThreadPoolExecutor(max_workers=max(1, min(len(cities), 8))) as pool:
        answers = list(pool.map(one, cities))
    return [row for rows, _ in answers for row in rows], {c.name: state for c, (_, state) in zip(cities, answers)}


def province_risk(cities: Sequence[CityView], reason: str, region: str | None = None, owner: str | None = None,
                  seen=None) -> dict[str, Any]:
    """Every city's risk list ``reason`` (filtered by district and owner in each city), one after another."""
    def ask(client: CityClient) -> list[dict[str, Any]]:
        return [only(row, RISK_FIELDS) for row in client.pages(
            "/v1/risk/cylinders", {"reason": reason, "region": region, "owner": owner})]
    items, states = _each(cities, ask, seen)
    return {"items": items, "cities": states}


def province_findings(cities: Sequence[CityView], kind: str | None = None, status: str | None = None,
                      region: str | None = None, party: str | None = None, seen=None) -> dict[str, Any]:
    """Every city's findings under the filters, newest first within each city."""
    def ask(client: CityClient) -> list[dict[str, Any]]:
        return [only(row, FINDING_FIELDS) for row in client.pages(
            "/v1/findings", {"kind": kind, "status": status, "region": region, "party": party})]
    items, states = _each(cities, ask, seen)
    return {"items": items, "cities": states}


COUNTS = "/v1/findings/counts"  # a city's counts of its findings


def _counted(client: CityClient, answer: Any) -> dict[str, Any]:
    """A city's finding counts as the hub keeps them: ``total`` and the three maps, each only of the statuses,
    kinds and severities ``COUNT_KEYS`` lists, every number a count; an answer of another shape is refused."""
    def count(value: Any) -> bool:
        return type(value) is int and value >= 0

    if not isinstance(answer, dict) or not count(answer.get("total")):
        raise CityUnreachable(f"{client.city.name}: GET {COUNTS} answered no counts")
    kept: dict[str, Any] = {"total": answer["total"]}
    for name, keys in COUNT_KEYS.items():
        given = answer.get(name)
        if not isinstance(given, dict) or not all(count(n) for n in given.values()):
            raise CityUnreachable(f"{client.city.name}: GET {COUNTS} answered a malformed {name}")
        kept[name] = {key: given.get(key, 0) for key in keys}
    return kept


def province_counts(cities: Sequence[CityView], kind: str | None = None, status: str | None = None,
                    region: str | None = None, party: str | None = None, seen=None) -> dict[str, Any]:
    """Each city's count of its findings under the filters (``GET /v1/findings/counts``, asked of every city at
    once): ``{items: [{city, total, by_status, by_kind, by_severity}], cities}``; no finding's row is fetched."""
    def ask(client: CityClient) -> list[dict[str, Any]]:
        return [_counted(client, client.get(COUNTS,
                                            {"kind": kind, "status": status, "region": region, "party": party}))]
    items, states = _each(cities, ask, seen)
    return {"items": items, "cities": states}


# -- one page of the province's lists ----------------------------------------
#
# A province's page merges the first rows of each city's own page, so it answers after one or two requests
# per city however long the lists are. Each city pages its list by a key (a risk list by cylinder code, up;
# findings and unregistered codes by finding id, newest first) under cursors only it can read. The province's
# cursor holds, for every city, the city's cursor of the page its last shown row came from and that row's key:
# the next page asks the city from that cursor again and drops what is not past the key, which is the city's
# own keyset paging, so a row added or removed meanwhile is neither lost nor shown twice. The merge looks only
# at each city's next row (the lowest code first; the newest detection first), so paging through the province
# gives exactly the union of the cities' lists, whatever each city's order is.


@dataclass(frozen=True)
class Listing:
    name: str  # the list the cursor pages
    path: str
    fields: tuple[str, ...]
    key: str  # the field the city pages by
    descending: bool  # the city's order of that key
    order: Callable[[dict[str, Any]], tuple]  # the merge's order of the next rows, lowest first

    @property
    def key_type(self) -> type:
        return str if self.key == "cylinder" else int

    def past(self, row: dict[str, Any], key: Any) -> bool:
        mine = row.get(self.key)
        if type(mine) is not self.key_type:
            raise CityUnreachable(f"GET {self.path} answered a row whose {self.key} is {mine!r}")
        return key is None or (mine < key if self.descending else mine > key)


def _newest(row: dict[str, Any], key: str) -> tuple:
    # Newest detection first: the time's characters inverted, so the lowest tuple is the newest row.
    return (tuple(-ord(ch) for ch in str(row.get("detected_at") or "")), row["city"], -int(row.get(key) or 0))


def _risk_listing(reason: str) -> Listing:
    if reason == "unregistered":  # the city lists unregistered codes as its findings, newest first
        return Listing("risk", "/v1/risk/cylinders", RISK_FIELDS, "finding", True, lambda r: _newest(r, "finding"))
    return Listing("risk", "/v1/risk/cylinders", RISK_FIELDS, "cylinder", False, lambda r: (r["cylinder"], r["city"]))


FINDINGS_LISTING = Listing("findings", "/v1/findings", FINDING_FIELDS, "id", True, lambda r: _newest(r, "id"))


def _encode(state: dict[str, Any]) -> str:
    raw = json.dumps(state, ensure_ascii=False, separators=(",", ":"), sort_keys=True).encode("utf-8")
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _decode(cursor: str | None, listing: Listing, filters: dict[str, Any]) -> dict[str, Any]:
    """The province's cursor: ``{"l": list, "q": filters, "at": {city: [city cursor, key, rows to skip]},
    "done": [cities through their list]}``; anything else is refused, changing nothing."""
    if not cursor:
        return {"l": listing.name, "q": filters, "at": {}, "done": []}
    refused = InvalidInput("not a cursor of this list and these filters; pass next_cursor back as it was given, "
                           "with the same filters", field="cursor")
    try:
        state = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode("utf-8"))
    except (binascii.Error, ValueError, UnicodeDecodeError):
        raise refused from None
    if (not isinstance(state, dict) or set(state) != {"l", "q", "at", "done"} or state["l"] != listing.name
            or state["q"] != filters or not isinstance(state["at"], dict) or not isinstance(state["done"], list)
            or not all(isinstance(name, str) for name in state["done"])):
        raise refused
    for place in state["at"].values():
        if (not isinstance(place, list) or len(place) != 3 or not isinstance(place[0], (str, type(None)))
                or not (place[1] is None or type(place[1]) is listing.key_type)
                or not isinstance(place[2], int) or isinstance(place[2], bool) or not 0 <= place[2] <= PAGE):
            raise refused
    return state


@dataclass
class _Fetched:
    rows: list[tuple[dict[str, Any], list]]  # past the city's place, in its order, each with the place after it
    through: bool  # the city has no rows after these


def _after(client: CityClient, listing: Listing, params: dict[str, Any], place: list, wanted: int) -> _Fetched:
    """At least ``wanted`` rows of the city's list past its ``place`` (or all that are left)."""
    cursor, key, skip = place
    rows: list[tuple[dict[str, Any], list]] = []
    while True:
        page = client.get(listing.path, {**params, "limit": min(PAGE, wanted + skip), "cursor": cursor})
        if not isinstance(page, dict) or not isinstance(page.get("items"), list):
            raise CityUnreachable(f"{client.city.name}: GET {listing.path} answered no list")
        items = [item for item in page["items"] if isinstance(item, dict)]
        following = page.get("next_cursor")
        if following is not None and not isinstance(following, str):
            raise CityUnreachable(f"{client.city.name}: GET {listing.path} answered a malformed next_cursor")
        for at, item in enumerate(items):
            if listing.past(item, key):
                row = {"city": client.city.name, **only(item, listing.fields)}
                # Where to resume once this row is shown: after the page if it ends it, else in it.
                rows.append((row, [following, item[listing.key], 0] if at == len(items) - 1 and following
                             else [cursor, item[listing.key], at + 1]))
        if len(rows) >= wanted or following is None:
            return _Fetched(rows, following is None)
        cursor, skip = following, 0


def _page(cities: Sequence[CityView], listing: Listing, params: dict[str, Any], cursor: str | None, limit: int,
          seen=None) -> dict[str, Any]:
    if not 1 <= limit <= PAGE_MAX:
        raise InvalidInput(f"limit must be 1 to {PAGE_MAX}", field="limit")
    filters = {k: v for k, v in params.items() if v is not None}
    state = _decode(cursor, listing, filters)
    asked = [c for c in cities if c.name not in state["done"]]
    states: dict[str, str] = {c.name: "ok" for c in cities if c.name in state["done"]}

    def fetch(city: CityView) -> _Fetched | CityUnreachable:
        try:
            return _after(CityClient(city, seen=seen), listing, filters, state["at"].get(city.name, [None, None, 0]),
                          limit)
        except CityUnreachable as exc:
            return exc

    with ThreadPoolExecutor(max_workers=max(1, min(len(asked), 8))) as pool:
        fetched = dict(zip([c.name for c in asked], pool.map(fetch, asked)))
    heads = {name: 0 for name, got in fetched.items() if not isinstance(got, CityUnreachable)}
    for name, got in fetched.items():
        states[name] = f"unreachable: {got}" if isinstance(got, CityUnreachable) else "ok"
    items: list[dict[str, Any]] = []
    places = dict(state["at"])
    while len(items) < limit:
        ready = [name for name, at in heads.items() if at < len(fetched[name].rows)]
        if not ready:
            break
        name = min(ready, key=lambda n: listing.order(fetched[n].rows[heads[n]][0]))
        row, place = fetched[name].rows[heads[name]]
        items.append(row)
        places[name] = place
        heads[name] += 1
    done = list(state["done"])
    for name, at in heads.items():
        if fetched[name].through and at == len(fetched[name].rows):
            done.append(name)
            places.pop(name, None)
    more = any(name not in done for name in heads)
    next_cursor = _encode({"l": listing.name, "q": filters, "at": places, "done": sorted(done)}) if more else None
    return {"items": items, "next_cursor": next_cursor, "cities": states}


def risk_page(cities: Sequence[CityView], reason: str, region: str | None = None, owner: str | None = None,
              cursor: str | None = None, limit: int = 100, seen=None) -> dict[str, Any]:
    """One page of the province's risk list ``reason``: ``{items, next_cursor, cities}``; paging on with
    ``next_cursor`` until it is null gives every city's list once."""
    return _page(cities, _risk_listing(reason), {"reason": reason, "region": region, "owner": owner}, cursor,
                 limit, seen)


def findings_page(cities: Sequence[CityView], kind: str | None = None, status: str | None = None,
                  region: str | None = None, party: str | None = None, cursor: str | None = None, limit: int = 100,
                  seen=None) -> dict[str, Any]:
    """One page of the province's findings under the filters, newest detection first."""
    return _page(cities, FINDINGS_LISTING, {"kind": kind, "status": status, "region": region, "party": party},
                 cursor, limit, seen)


def province_enterprises(cities: Sequence[CityView], region: str | None = None, seen=None) -> dict[str, Any]:
    """Each enterprise's one colour across the cities it works in."""
    def ask(client: CityClient) -> list[dict[str, Any]]:
        answer = client.get("/v1/risk/enterprises", {"region": region})
        if not isinstance(answer, list):
            raise CityUnreachable(f"{client.city.name}: the enterprise colours came as no list")
        return [{**only(row, ("colour", "score", "cylinders", "reasons")),
                 "party": only(row.get("party") or {}, PARTY_FIELDS), "region_of_city": client.city.region}
                for row in answer if isinstance(row, dict)]
    rows, states = _each(cities, ask, seen)
    return {"items": merge_enterprises(rows), "cities": states}


def identity(party: dict[str, Any], city_region: str | None) -> str:
    """An enterprise's province-unique identity: ``<region6>:<party id>`` of its home city (PROVINCE.md); an id
    that already names its home city (it holds a colon) is kept as it is."""
    pid = str(party.get("id") or "")
    if ":" in pid or not city_region:
        return pid
    # A city registers another city's party (``home``: that city) under its id there, with its home district
    # (docs/regions.md): the district's city (GB/T 2260: its first four digits, then 00) is its home.
    district = str(party.get("region") or "")
    if party.get("home") and len(district) == 6 and district.isdigit() and district != "000000":
        return f"{district[:4]}00:{pid}"
    return f"{city_region}:{pid}"


def merge_enterprises(rows: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per enterprise: the worst colour, the highest score, cylinders summed, reasons by city."""
    merged: dict[str, dict[str, Any]] = {}
    for row in rows:
        key = identity(row["party"], row.get("region_of_city"))
        colour = row.get("colour") if row.get("colour") in COLOURS else "green"
        found = merged.setdefault(key, {"enterprise": key, "party": row["party"], "colour": "green", "score": 0.0,
                                        "cylinders": 0, "cities": {}})
        if COLOURS.index(colour) > COLOURS.index(found["colour"]):
            found["colour"] = colour
        found["score"] = max(found["score"], float(row.get("score") or 0))
        found["cylinders"] += int(row.get("cylinders") or 0)
        found["cities"][row["city"]] = {"colour": colour, "reasons": list(row.get("reasons") or [])}
    return sorted(merged.values(), key=lambda r: (-COLOURS.index(r["colour"]), -r["score"], r["enterprise"]))


# -- a cylinder across the cities' logs ---------------------------------------


def _held(city: CityView, cylinder: str) -> tuple[list[Any], Any]:
    """The cylinder's events in one mirror and the checkpoint that covers them: the follower's, which it replaces
    as it stores, unless an event is past it (stored meanwhile), then the mirror's own latest, read in the same
    snapshot as the events."""
    assert city.mirror is not None
    with city.mirror.reading() as connection:
        events = event_rows.history(connection, cylinder)
        held = city.checkpoint
        if held is None or any(event.log_index >= held.size for event in events):
            held = latest_checkpoint(connection)
        return events, held


# What is wrong with a trace's links, each kind in words (the pages tell them in the reader's language).
PROBLEMS = {
    "starts_late": "the chain the hub holds starts at seq {seq} in {city}, not with its register",
    "held_twice": "seq {seq} is held twice: in {city} and in {other_city}",
    "missing": "seqs {first} to {last} are in no log the hub holds",
    "unlinked": "seq {seq} in {city} does not link to seq {prev_seq} in {prev_city}",
    "not_handed": "seq {seq} in {city} does not hand the cylinder to {origin}",
    "not_received": "seq {seq} in {city} does not say it comes from {origin}",
}


def _segments(cities: Sequence[CityView], cylinder: str) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The cylinder's events from every mirror in seq order, cut into segments, and what is wrong with the links."""
    found: list[tuple[int, CityView, Any]] = []
    checkpoints: dict[str, Any] = {}
    for city in cities:
        events, checkpoint = _held(city, cylinder)
        checkpoints[city.name] = checkpoint
        found += [(event.seq, city, event) for event in events]
    if not found:
        raise NotFound(f"no city's log the hub holds has the cylinder {cylinder}")
    found.sort(key=lambda item: (item[0], item[1].name))
    problems: list[dict[str, Any]] = []
    segments: list[dict[str, Any]] = []
    previous = None
    for seq, city, event in found:
        if previous is None:
            if seq != 0 or event.kind.value != "register":
                problems.append({"kind": "starts_late", "seq": seq, "city": city.name})
        else:
            p_seq, p_city, p_event = previous
            if seq == p_seq:
                problems.append({"kind": "held_twice", "seq": seq, "city": p_city.name, "other_city": city.name})
            elif seq != p_seq + 1:
                problems.append({"kind": "missing", "first": p_seq + 1, "last": seq - 1})
            if event.prev_hash is None or not hmac.compare_digest(event.prev_hash, p_event.hash):
                problems.append({"kind": "unlinked", "seq": seq, "city": city.name, "prev_seq": p_seq,
                                 "prev_city": p_city.name})
            if p_city.name != city.name:
                if (p_event.data or {}).get("to_log") != city.origin:
                    problems.append({"kind": "not_handed", "seq": p_seq, "city": p_city.name, "origin": city.origin})
                if (event.data or {}).get("from_log") != p_city.origin:
                    problems.append({"kind": "not_received", "seq": seq, "city": city.name, "origin": p_city.origin})
        if not segments or segments[-1]["city"] != city.name:
            checkpoint = checkpoints[city.name]
            segments.append({"city": city.name, "origin": city.origin, "region": city.region,
                             "checkpoint": None if checkpoint is None else checkpoint.note,
                             "tree_size": None if checkpoint is None else checkpoint.size, "events": []})
        segments[-1]["events"].append(event)
        previous = (seq, city, event)
    return segments, problems


def trace(cities: Sequence[CityView], cylinder: str) -> dict[str, Any]:
    """The cylinder's whole story across the cities' logs, each segment with its log and checkpoint."""
    segments, problems = _segments(cities, cylinder)
    last = segments[-1]["events"][-1]
    return {
        "cylinder": cylinder, "intact": not problems,
        "problems": [PROBLEMS[p["kind"]].format(**p) for p in problems], "issues": problems,
        "held_in": segments[-1]["city"], "last_kind": last.kind.value, "last_at": event_json(last)["occurred_at"],
        "segments": [{**{k: v for k, v in s.items() if k != "events"},
                      "first_seq": s["events"][0].seq, "last_seq": s["events"][-1].seq,
                      "events": [event_json(e) for e in s["events"]]} for s in segments],
    }


def bundle(cities: Sequence[CityView], cylinder: str) -> dict[str, Any]:
    """Every segment of the cylinder with its inclusion proofs under the checkpoint the hub holds of its log."""
    by_name = {city.name: city for city in cities}
    segments, _ = _segments(cities, cylinder)
    out = []
    for segment in segments:
        city = by_name[segment["city"]]
        assert city.mirror is not None
        with city.mirror.reading() as connection:
            checkpoint = latest_checkpoint(connection)
            if checkpoint is None:
                raise InvalidInput(f"the hub holds no checkpoint of {city.name}'s log yet")
            tree = LogTree(connection, SubrootCache(capacity=1 << 20))
            proofs = [{"log_index": e.log_index, "tree_size": checkpoint.size,
                       "audit_path": [node.hex() for node in tree.inclusion_path(e.log_index, checkpoint.size)]}
                      for e in segment["events"]]
        out.append({"origin": city.origin, "checkpoint": checkpoint.note,
                    "events": [event_json(e) for e in segment["events"]], "proofs": proofs})
    return {"format": FORMAT, "cylinder": cylinder, "segments": out}
