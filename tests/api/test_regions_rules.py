"""Every custody rule across a city line, judged as the same life in one city (docs/regions.md).

Two served cities (Hangzhou, A; Shaoxing, B) on 127.0.0.1, shared by the module. Each life below is
lived twice: across the line (A's parties record in A, B's in B) and in Hangzhou alone, where a
Hangzhou party of the same kind stands in for each of B's. The one-city judgement is the oracle:
across the line the same findings are raised, each in exactly one city (the one the table names),
and a late event, in either city, resolves what it explains there as it does in one city. Events
are recorded hours or weeks after they occurred (offline devices), and out of order where a life
says so.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from typing import Any

import pytest
from sqlalchemy import text

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
import httpx

from ledger.crossing import relay_note
from ledger.domain import EventKind, NewEvent, Paper, PartyKind, PersonRole, Role
from ledger.keys import ensure_key, load_key
from ledger.sealing import ensure_personal_keys
from ledger.service import Actor, Ledger
from ledger.signednote import NoteSigner
from tests.conftest import BACKENDS, create_database, drop_database

from .conftest import LICENCE
from .test_regions import HANGZHOU, SHAOXING, City, _created, _event, _register, _wait_until, served_pair

pytestmark = pytest.mark.slow

EXPIRED = Paper("LIC-2019-07", date(2025, 6, 30))
HANGZHOU_AT, BEIJING_AT = {"lat": 30.27, "lon": 120.15}, {"lat": 39.90, "lon": 116.40}
# B's parties; the one-city life uses Hangzhou parties of the same names (and kinds)
B_CAST = (("transporter", PartyKind.TRANSPORTER, LICENCE), ("lapsed", PartyKind.TRANSPORTER, EXPIRED),
          ("shop", PartyKind.SHOP, LICENCE), ("inspection", PartyKind.INSPECTION_STATION, LICENCE),
          ("bcompany", PartyKind.GAS_COMPANY, LICENCE), ("bstation", PartyKind.FILLING_STATION, LICENCE))
A_CAST = (("company", PartyKind.GAS_COMPANY, LICENCE), ("station", PartyKind.FILLING_STATION, LICENCE),
          ("oldstation", PartyKind.FILLING_STATION, None))  # no licence on record
# the audit's findings are about stored rows, not the story (ledger.audit): not compared here
AUDIT = {"chain_tampered", "sequence_gap", "checkpoint_mismatch", "projection_edited", "finding_status_edited"}
ROLES = {PartyKind.GAS_COMPANY: Role.COMPANY, PartyKind.FILLING_STATION: Role.COMPANY,
         PartyKind.TRANSPORTER: Role.TRANSPORTER, PartyKind.SHOP: Role.SHOP,
         PartyKind.INSPECTION_STATION: Role.INSPECTION}


class RulesCity(City):
    """A served city that also keeps end users (a delivery names one)."""

    def settings(self):
        return dataclasses.replace(super().settings(), personal_key_file=self.folder / "personal.key")

    startup = 120.0  # two cities start at once, on a machine CI shares

    def environment(self) -> dict[str, str]:
        return {**super().environment(), "LEDGER_PERSONAL_KEY_FILE": str(self.folder / "personal.key")}

    def prepare(self) -> None:
        super().prepare()
        ensure_personal_keys(self.folder / "personal.key")

    def known(self, cylinder: str) -> int:
        """The newest seq of ``cylinder`` this city holds, in its log or in a segment it kept."""
        with self.ledger.db.reading() as c:
            return c.execute(text("SELECT MAX(seq) FROM (SELECT seq FROM events WHERE cylinder = :c UNION ALL "
                                  "SELECT seq FROM foreign_events WHERE cylinder = :c) AS s"),
                             {"c": cylinder}).scalar_one()


@pytest.fixture(scope="module", params=BACKENDS)
def province(request, tmp_path_factory):
    folder = tmp_path_factory.mktemp("province")
    hz = RulesCity("hangzhou", HANGZHOU, "330100", folder / "hz", "")
    sx = RulesCity("shaoxing", SHAOXING, "330600", folder / "sx", "")
    yield from served_pair(hz, sx, request.param, _populate)


def _populate(hz: RulesCity, sx: RulesCity) -> None:
    """A's parties in Hangzhou; B's in Shaoxing and, as stand-ins for the one-city life, in Hangzhou too.
    Each city registers the other's parties it hands cylinders to, papers as their home city publishes them."""
    for city, cast in ((hz, A_CAST + B_CAST), (sx, B_CAST)):
        with city.ledger.db.writing() as c:
            for name, kind, licence in cast:
                parent = _parent(name, city) if kind is PartyKind.FILLING_STATION else None
                party = city.ledger.create_party(c, kind=kind, name=f"{city.name} {name}", region=city.region,
                                                 licence=licence, parent=parent)
                city.parties[name] = party.id
                city.tokens[name] = city.ledger.create_account(c, role=ROLES[kind], party=party.id, name=name)
            city.tokens["admin"] = city.ledger.create_account(c, role=Role.ADMIN, party=None, name="admin")
            for role in (PersonRole.DRIVER, PersonRole.ESCORT):  # the transporters' crew (DOMAIN.md 3)
                city.parties[role.value] = city.ledger.create_person(
                    c, party=city.parties["transporter"], name=f"{role.value} of {city.name}", role=role,
                    certificate=Paper("CERT-9", date(2031, 1, 1))).id
            city.parties["user"] = city.ledger.create_end_user(
                c, Actor(Role.SHOP, city.parties["shop"], "shop"), kind="household", name="张晓梅",
                phone="13800001234", address=f"{city.name} 文三路 1 号")
    for city, other, cast in ((hz, sx, B_CAST), (sx, hz, A_CAST)):
        with city.ledger.db.writing() as c:
            for name, kind, licence in cast:
                parent = _parent(name, other) if kind is PartyKind.FILLING_STATION else None
                city.ledger.create_party(c, kind=kind, name=f"{other.name} {name}", region=other.region,
                                         licence=licence, parent=parent, home=other.name, id=other.parties[name])


def _parent(station: str, city: RulesCity) -> str:
    """A's stations belong to A's gas company; B's station to B's."""
    return city.parties["bcompany" if station == "bstation" else "company"]


# -- lives -----------------------------------------------------------------------------------------------

FULL, NO_ESCORT = "full", "no escort"


@dataclass(frozen=True)
class Step:
    who: str  # "A:station", "B:shop": the city side and the party's name
    kind: str
    minute: int  # after the life's start
    to: str | None = None  # a party ("A:station") or the shop's end user ("user")
    crew: str | None = None  # the transporter's crew named on the leg: FULL or NO_ESCORT
    at: dict | None = None  # where it was scanned
    data: dict = dataclasses.field(default_factory=dict)


@dataclass(frozen=True)
class Life:
    name: str
    days_ago: float
    # each phase's steps, in the order they reach the ledgers (not always the order they occurred), and
    # what both cities hold after it, once each knows what the other told it and both ran their clocks:
    # (kind, status, the city that raised it)
    phases: tuple[tuple[tuple[Step, ...], tuple[tuple[str, str, str], ...]], ...]


S = Step
TO_B = (S("A:station", "dispatch", 10, "B:transporter", crew=FULL), S("B:transporter", "receive", 20))
DAY = 24 * 60

LIVES = (
    Life("clean, recorded late on both sides", 0.5, ((
        (S("A:station", "fill", 0, data={"net_kg": 14.5}), *TO_B,
         S("B:transporter", "dispatch", 30, "B:shop"),  # no crew named: it continues the trip it came on
         S("B:shop", "receive", 40), S("B:shop", "return", 50, "A:station"), S("A:station", "receive", 60),
         S("A:station", "fill", 70, data={"net_kg": 14.5})), ()),)),
    Life("escort missing on the leg that crosses and on the leg that continues it", 0.5, ((
        (S("A:station", "dispatch", 10, "B:transporter", crew=NO_ESCORT), S("B:transporter", "receive", 20),
         S("B:transporter", "dispatch", 30, "B:shop"), S("B:shop", "receive", 40)),
        (("missing_escort", "open", "A"), ("missing_escort", "open", "B"))),)),
    Life("escort missing in the receiving city", 0.5, ((
        (*TO_B, S("B:transporter", "dispatch", 30, "B:shop", crew=NO_ESCORT), S("B:shop", "receive", 40)),
        (("missing_escort", "open", "B"),)),)),
    Life("licence of the other city's transporter expired", 0.5, ((
        (S("A:station", "dispatch", 10, "B:lapsed", crew=FULL), S("B:lapsed", "receive", 20),
         S("B:lapsed", "dispatch", 30, "B:shop", crew=FULL), S("B:shop", "receive", 40)),
        (("unlicensed_party", "open", "B"),)),)),
    Life("no licence on record for the station it comes back to", 0.5, ((
        (S("A:station", "dispatch", 10, "B:shop"), S("B:shop", "receive", 20),
         S("B:shop", "return", 30, "A:oldstation"), S("A:oldstation", "receive", 40)),
        (("unlicensed_party", "open", "A"),)),)),
    Life("overfilled in A, delivered short in B", 0.5, ((
        (S("A:station", "fill", 0, data={"net_kg": 15.8}), *TO_B, S("B:transporter", "dispatch", 30, "B:shop"),
         S("B:shop", "receive", 40), S("B:shop", "deliver", 50, "user", data={"net_kg": 15.0})),
        (("overfill", "open", "A"), ("short_weight", "open", "B"))),)),
    Life("filled in B by a station of another company", 0.5, ((
        (S("A:station", "dispatch", 10, "B:bstation"), S("B:bstation", "receive", 20),
         S("B:bstation", "fill", 30, data={"net_kg": 14.5})),
        (("filled_by_non_owner", "open", "B"),)),)),
    Life("failed its inspection in B, filled in A", 0.5, ((
        (S("A:station", "dispatch", 10, "B:inspection"), S("B:inspection", "receive", 20),
         S("B:inspection", "inspect", 30, data={"result": "fail"}), S("B:inspection", "return", 40, "A:station"),
         S("A:station", "receive", 50), S("A:station", "fill", 60, data={"net_kg": 14.5})),
        (("filled_overdue_inspection", "open", "A"),)),)),
    Life("scrapped in B, used again in both", 0.5, ((
        (S("A:station", "dispatch", 10, "B:inspection"), S("B:inspection", "receive", 20),
         S("B:inspection", "scrap", 30, data={"reason": "failed periodic inspection"}),
         S("B:inspection", "return", 45, "A:station"), S("A:station", "receive", 55),
         S("A:station", "fill", 65, data={"net_kg": 14.5})),
        (("event_after_scrap", "open", "A"), ("event_after_scrap", "open", "A"),
         ("event_after_scrap", "open", "B"))),)),
    Life("received across the line at Beijing's latitude", 0.5, ((
        (S("A:station", "dispatch", 10, "B:transporter", crew=FULL, at=HANGZHOU_AT),
         S("B:transporter", "receive", 15, at=BEIJING_AT)),
        (("impossible_movement", "open", "B"),)),)),
    Life("quiet for weeks after crossing; the handheld's late upload explains it", 46, (
        # the hand-off, recorded weeks late and alone, is unconfirmed and silent until the receive explains it
        (TO_B, (("handover_unconfirmed", "resolved", "A"), ("vanished", "resolved", "A"), ("vanished", "open", "B"))),
        ((S("B:transporter", "dispatch", DAY, "B:inspection", crew=FULL), S("B:inspection", "receive", DAY + 30)),
         (("handover_unconfirmed", "resolved", "A"), ("handover_unconfirmed", "resolved", "B"),
          ("vanished", "resolved", "A"), ("vanished", "resolved", "B"), ("vanished", "resolved", "B"))),
    )),
    Life("handed across, confirmed only after a day and a half", 3, (
        ((S("A:station", "dispatch", 0, "B:shop"),), (("handover_unconfirmed", "open", "A"),)),
        ((S("B:shop", "receive", 36 * 60),), (("handover_unconfirmed", "open", "A"),)),
    )),
    Life("handed back, received in A on time but uploaded days late", 3, (
        ((S("A:station", "dispatch", 0, "B:shop"), S("B:shop", "receive", 10), S("B:shop", "return", 20, "A:station")),
         (("handover_unconfirmed", "resolved", "A"), ("handover_unconfirmed", "open", "B"))),
        ((S("A:station", "receive", 30),),
         (("handover_unconfirmed", "resolved", "A"), ("handover_unconfirmed", "resolved", "B"))),
    )),
    Life("the receiving city's hand-off to its shop uploaded after the shop's receive", 0.5, (
        ((*TO_B, S("B:shop", "receive", 40)), (("custody_jump", "open", "B"),)),
        ((S("B:transporter", "dispatch", 30, "B:shop", crew=FULL),), (("custody_jump", "resolved", "B"),)),
    )),
    # B's leg, uploaded after B handed the cylinder back, is relayed to A, recorded there and judged in
    # event time; B follows A's log and its custody jump resolves as in one city
    Life("the receiving city's leg to its shop uploaded after the cylinder went back", 0.5, (
        ((*TO_B, S("B:shop", "receive", 40), S("B:shop", "return", 50, "A:station"), S("A:station", "receive", 60)),
         (("custody_jump", "open", "B"),)),
        ((S("B:transporter", "dispatch", 30, "B:shop", crew=FULL),), (("custody_jump", "resolved", "B"),)),
    )),
)


class Lived:
    """One life recorded across the line, or in Hangzhou alone."""

    def __init__(self, hz: RulesCity, sx: RulesCity, life: Life, across: bool) -> None:
        self.hz, self.sx, self.life, self.across = hz, sx, life, across
        self.start = datetime.now(timezone.utc) - timedelta(days=life.days_ago)
        self.cylinder = _register(hz, self.start - timedelta(minutes=1))
        self.recorded: dict[RulesCity, list[dict]] = {hz: [], sx: []}

    def city(self, side: str) -> RulesCity:
        return self.sx if side == "B" and self.across else self.hz

    def party(self, who: str) -> str:
        if who == "user":
            return self.city("B").parties["user"]
        side, name = who.split(":")
        return self.city(side).parties[name]

    def record(self, step: Step) -> None:
        side, name = step.who.split(":")
        data: dict[str, Any] = dict(step.data)
        if step.crew is not None:
            crew = self.city("B").parties  # the transporter's people, in the city that registered them
            data.update(vehicle="浙D12345", driver=crew["driver"])
            if step.crew == FULL:
                data["escort"] = crew["escort"]
        body = _event(self.cylinder, step.kind, self.start + timedelta(minutes=step.minute),
                      None if step.to is None else self.party(step.to), **data)
        if step.at is not None:
            body["location"] = step.at
        city = self.city(side)
        self.recorded[city].append(_created(city.post(name, body)))

    def settle(self) -> None:
        """Wait until each city holds what the other told it (a receive linked to its segment), then run
        both clocks now."""
        for city, other in ((self.hz, self.sx), (self.sx, self.hz)):
            told = [e["seq"] for e in self.recorded[other] if e["data"].get("from_log") == city.origin]
            target = max([e["seq"] for e in self.recorded[city]] + told, default=0)
            _wait_until(lambda: (city.known(self.cylinder) or 0) >= target)
        now = datetime.now(timezone.utc)
        for city in ((self.hz, self.sx) if self.across else (self.hz,)):
            city.sweep(now)

    def findings(self) -> list[tuple[str, str, str]]:
        cities = (("A", self.hz), ("B", self.sx)) if self.across else (("A", self.hz),)
        return sorted((f["kind"], f["status"], side) for side, city in cities for f in city.findings(self.cylinder)
                      if f["kind"] not in AUDIT)


@pytest.mark.parametrize("life", LIVES, ids=[life.name for life in LIVES])
def test_a_life_across_the_line_is_judged_as_in_one_city(province, life):
    hz, sx = province
    across, alone = Lived(hz, sx, life, across=True), Lived(hz, sx, life, across=False)
    for number, (steps, expected) in enumerate(life.phases, 1):
        for lived in (across, alone):
            for step in steps:
                lived.record(step)
        for lived in (across, alone):
            lived.settle()
        one_city = [(kind, status) for kind, status, _ in alone.findings()]
        both = across.findings()
        assert one_city == sorted((kind, status) for kind, status, _ in expected), f"phase {number}: {one_city}"
        assert both == sorted(expected), f"phase {number}: across the line {both}, in one city {one_city}"


def test_an_event_held_offline_past_its_citys_hand_off_is_relayed_to_the_city_holding_the_chain(province):
    """An event a city's device made before that city handed the cylinder off, uploaded after the hand-off,
    is relayed, signed with the city's log key, to the city holding the chain, recorded there with
    `relayed_from` and judged in event time; the relaying city follows it and resolves what it explains
    (docs/regions.md, "Late events past a hand-off")."""
    hz, sx = province
    start = datetime.now(timezone.utc) - timedelta(hours=6)
    at = lambda minutes: start + timedelta(minutes=minutes)  # noqa: E731
    crew = {"vehicle": "浙D12345", "driver": sx.parties["driver"], "escort": sx.parties["escort"]}
    cylinder = _register(hz, at(0))
    _created(hz.post("station", _event(cylinder, "dispatch", at(10), to=sx.parties["transporter"], **crew)))
    _created(sx.post("transporter", _event(cylinder, "receive", at(20))))
    # the filling line's scanner was offline: its fill reaches A after A's hand-off, and B records it
    fill = _event(cylinder, "fill", at(5), net_kg=14.5)
    relayed = _created(hz.post("station", fill))
    assert (relayed["seq"], relayed["data"]) == (3, {"net_kg": 14.5, "relayed_from": HANGZHOU})
    assert hz.count("events", cylinder) == 2 and sx.count("events", cylinder) == 2
    later = hz.post("station", _event(cylinder, "fill", at(15), net_kg=14.5))  # after A's hand-off: not A's
    assert later.status_code == 409 and later.json()["type"].endswith("held-elsewhere"), later.text

    # in B the transporter's handheld held its leg to the shop until after the shop sent the cylinder back
    leg = _event(cylinder, "dispatch", at(30), to=sx.parties["shop"], **crew)
    _created(sx.post("shop", _event(cylinder, "receive", at(40))))
    _created(sx.post("shop", _event(cylinder, "return", at(50), to=hz.parties["station"])))
    _created(hz.post("station", _event(cylinder, "receive", at(60))))
    held = sx.count("events", cylinder)
    recorded = _created(sx.post("transporter", leg))
    assert recorded["seq"] == 7 and recorded["data"]["relayed_from"] == SHAOXING
    assert sx.count("events", cylinder) == held and hz.count("events", cylinder) == 4
    again = sx.post("transporter", leg)  # a retry: the same event, nothing new
    assert again.status_code == 200 and again.json()["event"]["id"] == recorded["id"], again.text
    assert hz.count("events", cylinder) == 4

    _wait_until(lambda: sx.known(cylinder) >= 7)  # A told B, and B kept A's events
    for city in (hz, sx):
        city.sweep(datetime.now(timezone.utc))
    assert [f["kind"] for f in hz.findings(cylinder) if f["kind"] not in AUDIT] == []
    # the shop's receive was a custody jump in B until the leg to it was known: now resolved, as in one city
    assert [(f["kind"], f["status"]) for f in sx.findings(cylinder) if f["kind"] not in AUDIT] == [
        ("custody_jump", "resolved")]


def test_a_relay_that_does_not_verify_or_whose_holder_is_down_writes_nothing(province):
    hz, sx = province
    at = datetime.now(timezone.utc) - timedelta(hours=3)
    cylinder = _register(hz, at)
    _created(hz.post("station", _event(cylinder, "dispatch", at + timedelta(minutes=10), to=sx.parties["shop"])))
    _created(sx.post("shop", _event(cylinder, "receive", at + timedelta(minutes=20))))
    _created(sx.post("shop", _event(cylinder, "return", at + timedelta(minutes=30), to=hz.parties["station"])))
    _created(hz.post("station", _event(cylinder, "receive", at + timedelta(minutes=40))))
    written = hz.count("events", cylinder), sx.count("events", cylinder)
    late = NewEvent(cylinder, EventKind.INSPECT, at + timedelta(minutes=25), sx.parties["inspection"], "k-late",
                    data={"result": "fail"})
    shaoxing = NoteSigner(SHAOXING, load_key(sx.folder / "log.key"))
    stranger = NoteSigner(SHAOXING, Ed25519PrivateKey.generate())

    def relay(note: str) -> httpx.Response:
        return httpx.post(f"{hz.base}/v1/log/relays", json={"note": note}, timeout=30)

    good = relay_note(shaoxing, late)
    altered = good.replace('"result":"fail"', '"result":"pass"')
    assert altered != good
    refusals = [
        (relay(altered), 422, "does not verify"),  # altered after signing
        (relay(relay_note(stranger, late)), 422, "no signature by the trusted key"),  # another key, B's name
        (relay(relay_note(NoteSigner("beijing.test/log", Ed25519PrivateKey.generate()), late)), 403, "not a peer"),
        (relay(relay_note(shaoxing, dataclasses.replace(late, party=hz.parties["station"]))), 422, "homed in"),
        (relay(good.replace("cylinder-ledger/relay/v1", hz.origin, 1)), 422, "first line"),  # a checkpoint's shape
        (sx.post("shop", _event(cylinder, "receive", at + timedelta(minutes=22), relayed_from=HANGZHOU)), 422,
         "set by the ledger"),
    ]
    for answer, status, said in refusals:
        assert answer.status_code == status and said in answer.json()["detail"], answer.text
    assert (hz.count("events", cylinder), sx.count("events", cylinder)) == written

    hz.server.stop()
    try:
        down = sx.post("inspection", _event(cylinder, "inspect", at + timedelta(minutes=25), result="fail"))
        assert down.status_code == 503, down.text
        assert down.json()["type"].endswith("peer-unavailable") and "send it again later" in down.json()["detail"]
    finally:
        hz.start()
    assert (hz.count("events", cylinder), sx.count("events", cylinder)) == written
