"""Two city ledgers as real `ledger serve` processes on 127.0.0.1, each listing the other in LEDGER_PEERS.

A cylinder homed in Hangzhou crosses to Shaoxing and back: its chain is one hash-linked chain whose
segments live in two logs, and it verifies end to end with the two cities' keys. Hangzhou refuses its
events while Shaoxing holds it; the custody rules judge the whole story across the line, raising each
finding in the city that records the event it rests on; clean late traffic raises nothing; a rewritten
Hangzhou segment and an unreachable Hangzhou are refused by Shaoxing with nothing written
(docs/regions.md).
"""

from __future__ import annotations

import dataclasses
import hmac
import json
import re
import subprocess
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from api.app import create_app
from ledger import tracecode

from ledger.config import Settings
from ledger.domain import Paper, PartyKind, PersonRole, Role
from ledger.keys import ensure_key, load_key
from ledger.proofs import leaf_hash, verify_inclusion
from ledger.service import Ledger
from ledger.signednote import NoteSigner, NoteVerifier, open_checkpoint
from ledger.sweeper import Sweeper
from ledger.wire import hash_of_json
from tests.conftest import BACKENDS, create_database, drop_database
from tests.pages.conftest import sign_in
from tests.pages.test_public import visible

from .conftest import ADMIN, LICENCE, registration
from .served import LEDGER, Server, free_port

pytestmark = pytest.mark.slow

HANGZHOU, SHAOXING = "hangzhou.test/log", "shaoxing.test/log"


@dataclass(eq=False)
class City:
    name: str
    origin: str
    region: str
    folder: Path
    url: str
    port: int = field(default_factory=free_port)
    ledger: Ledger | None = None
    parties: dict[str, str] = field(default_factory=dict)
    tokens: dict[str, str] = field(default_factory=dict)
    server: Server | None = None

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def vkey(self) -> str:
        ensure_key(self.folder / "log.key")
        return NoteSigner(self.origin, load_key(self.folder / "log.key")).verifier.vkey()

    def settings(self) -> Settings:
        return Settings(database_url=self.url, key_file=self.folder / "log.key",
                        label_key_file=self.folder / "label.key", log_origin=self.origin,
                        base_url="https://trace.example", region=self.region, peers_file=self.folder / "peers.txt")

    startup = 30.0  # seconds the served process may take to answer

    def environment(self) -> dict[str, str]:
        return {"LEDGER_LOG_ORIGIN": self.origin, "LEDGER_REGION": self.region,
                "LEDGER_PEERS": str(self.folder / "peers.txt"), "LEDGER_CHECKPOINT_INTERVAL": "0.5"}

    def prepare(self) -> None:
        """The keys this city's ledger reads besides its log key."""
        ensure_key(self.folder / "label.key")

    def start(self) -> None:
        server = Server(self.url, self.folder, workers=1)
        server.port, server.base = self.port, self.base
        server.env.update(self.environment())
        server.startup = self.startup
        self.server = server.__enter__()

    def post(self, account: str, body: dict) -> httpx.Response:
        return httpx.post(f"{self.base}/v1/events", json=body, timeout=30,
                          headers={"Authorization": f"Bearer {self.tokens[account]}"})

    def findings(self, cylinder: str) -> list[dict]:
        answer = httpx.get(f"{self.base}/v1/findings", params={"cylinder": cylinder, "limit": 200}, timeout=30,
                           headers={"Authorization": f"Bearer {self.tokens['admin']}"})
        assert answer.status_code == 200, answer.text
        return answer.json()["items"]

    def trace(self, cylinder: str) -> dict:
        answer = httpx.get(f"{self.base}/v1/cylinders/{cylinder}/trace", timeout=30,
                           headers={"Authorization": f"Bearer {self.tokens['admin']}"})
        assert answer.status_code == 200, answer.text
        return answer.json()

    def sweep(self, now: datetime) -> None:
        Sweeper(self.ledger).run(now)

    def count(self, table: str, cylinder: str) -> int:
        with self.ledger.db.reading() as c:
            return c.execute(text(f"SELECT COUNT(*) FROM {table} WHERE {'id' if table == 'cylinders' else 'cylinder'}"
                                  " = :c"), {"c": cylinder}).scalar_one()


@pytest.fixture(params=BACKENDS)
def cities(request, tmp_path):
    hz = City("hangzhou", HANGZHOU, "330100", tmp_path / "hz", "")
    sx = City("shaoxing", SHAOXING, "330600", tmp_path / "sx", "")
    yield from served_pair(hz, sx, request.param, _populate)


def served_pair(hz: City, sx: City, backend: str, populate) -> Iterator[tuple[City, City]]:
    """Two cities that are each other's peers, each in its own database, ``populate``d, then served; both
    stopped and their databases dropped afterwards."""
    for city in (hz, sx):
        city.folder.mkdir()
        city.url = create_database(backend, city.folder)
    (hz.folder / "peers.txt").write_text(f"shaoxing {sx.base} {sx.vkey()}\n")
    (sx.folder / "peers.txt").write_text(f"hangzhou {hz.base} {hz.vkey()}\n")
    try:
        for city in (hz, sx):
            city.prepare()
            city.ledger = Ledger(city.settings())
            city.ledger.db.migrate()
        populate(hz, sx)
        for city in (hz, sx):
            city.start()
        yield hz, sx
    finally:
        for city in (hz, sx):
            if city.server is not None:
                city.server.stop()
                assert "Traceback" not in city.server.log.read_text(), city.server.log.read_text()[-3000:]
            if city.ledger is not None:
                city.ledger.db.dispose()
            drop_database(city.url)


def _populate(hz: City, sx: City) -> None:
    """Each city's own parties and accounts; each registers the other's that it hands cylinders to."""
    own = {hz: (("company", PartyKind.GAS_COMPANY), ("station", PartyKind.FILLING_STATION),
                ("inspection", PartyKind.INSPECTION_STATION)),
           sx: (("transporter", PartyKind.TRANSPORTER), ("shop", PartyKind.SHOP),
                ("inspection", PartyKind.INSPECTION_STATION))}
    roles = {"company": Role.COMPANY, "station": Role.COMPANY, "transporter": Role.TRANSPORTER, "shop": Role.SHOP,
             "inspection": Role.INSPECTION}
    for city, cast in own.items():
        with city.ledger.db.writing() as c:
            for name, kind in cast:
                parent = city.parties.get("company") if kind is PartyKind.FILLING_STATION else None
                party = city.ledger.create_party(c, kind=kind, name=f"{city.name} {name}", region=city.region + "",
                                                 licence=LICENCE, parent=parent)
                city.parties[name] = party.id
                city.tokens[name] = city.ledger.create_account(c, role=roles[name], party=party.id, name=name)
            city.tokens["admin"] = city.ledger.create_account(c, role=Role.ADMIN, party=None, name="admin")
            if "transporter" in city.parties:  # a trip has a driver and an escort (DOMAIN.md 3)
                for role in (PersonRole.DRIVER, PersonRole.ESCORT):
                    city.parties[role.value] = city.ledger.create_person(
                        c, party=city.parties["transporter"], name=f"{role.value} of {city.name}", role=role,
                        certificate=Paper("CERT-9", date(2031, 1, 1))).id
    for city, other, names in ((hz, sx, ("transporter", "shop", "inspection")), (sx, hz, ("company", "station"))):
        with city.ledger.db.writing() as c:
            for name in names:
                kind = dict(own[other])[name]
                parent = other.parties["company"] if kind is PartyKind.FILLING_STATION else None
                city.ledger.create_party(c, kind=kind, name=f"{other.name} {name}", region=other.region,
                                         licence=LICENCE, parent=parent, home=other.name, id=other.parties[name])


def _event(cylinder: str, kind: str, at: datetime, to: str | None = None, **data) -> dict:
    body = {"cylinder": cylinder, "kind": kind, "occurred_at": at.isoformat(), "idempotency_key": f"k-{uuid.uuid4()}",
            "data": data}
    if to is not None:
        body["to"] = to
    return body


def _crew(city: City) -> dict:
    return {"vehicle": "浙D12345", "driver": city.parties["driver"], "escort": city.parties["escort"]}


def _created(answer: httpx.Response) -> dict:
    assert answer.status_code == 201, answer.text
    return answer.json()["event"]


def _register(hz: City, at: datetime) -> str:
    with hz.ledger.db.writing() as c:
        return hz.ledger.register(c, ADMIN, registration(hz.parties["company"], at)).event.cylinder


def _verify_across(cylinder: str, cities: list[City]) -> list[str]:
    """The cylinder's whole chain from each city's public bundle, checked with each city's key alone: every
    event in its log's signed checkpoint, every hash recomputed, every link from seq 0 to the head."""
    chain: dict[int, tuple[dict, str]] = {}
    for city in cities:
        vkey = httpx.get(f"{city.base}/v1/log/public-key", timeout=10).text.strip()
        assert vkey == city.vkey()
        verifier = NoteVerifier.from_vkey(vkey)
        bundle = httpx.get(f"{city.base}/v1/log/cylinders/{cylinder}/bundle", params={"segment": "own"},
                           timeout=30).json()
        checkpoint = open_checkpoint(verifier, bundle["checkpoint"], city.origin)
        for event, proof in zip(bundle["events"], bundle["proofs"], strict=True):
            digest = hash_of_json(event)
            assert digest.hex() == event["hash"]
            verify_inclusion(leaf_hash(digest), proof["log_index"], checkpoint.size,
                             [bytes.fromhex(node) for node in proof["audit_path"]], checkpoint.root)
            assert event["seq"] not in chain, "an event lives in exactly one log"
            chain[event["seq"]] = (event, city.origin)
    assert sorted(chain) == list(range(len(chain)))
    for seq in range(1, len(chain)):
        assert hmac.compare_digest(chain[seq][0]["prev_hash"], chain[seq - 1][0]["hash"]), f"seq {seq} does not link"
    return [origin for _, (_, origin) in sorted(chain.items())]


def _verify_bundle(bundle: dict, folder: Path, *cities: City) -> str:
    """``ledger verify-bundle`` run on ``bundle`` with the given cities' keys: its first line."""
    path = folder / f"bundle-{uuid.uuid4().hex}.json"
    path.write_text(json.dumps(bundle, ensure_ascii=False))
    keys = [arg for city in cities for arg in ("--public-key", city.vkey())]
    done = subprocess.run([LEDGER, "verify-bundle", str(path), *keys], cwd=folder,
                          capture_output=True, text=True, timeout=120)
    return done.stdout.strip() or done.stderr.strip()


def _each_citys_bundle_verifies_alone(cylinder: str, hz: City, sx: City) -> None:
    """Each city's public bundle of a cylinder that crossed and came back is the segments form: its own
    segments under its checkpoint, the other city's under the checkpoint it verified them against, with the
    proofs checked then; `ledger verify-bundle` passes with the two keys, and fails with one or on an edit."""
    # Shaoxing followed the chain when told of the receive back (seq 7), and holds the fill (seq 8) only if
    # Hangzhou's bundle already held it then: its bundle ends where it knows
    told = list(range(7, 7 + sx.count("foreign_events", cylinder) - 3))
    for city, other, back in ((hz, sx, [7, 8]), (sx, hz, told)):
        bundle = httpx.get(f"{city.base}/v1/log/cylinders/{cylinder}/bundle", timeout=30).json()
        assert bundle["format"] == "cylinder-ledger/segments/v1"
        assert [(s["origin"], [e["seq"] for e in s["events"]]) for s in bundle["segments"]] == [
            (HANGZHOU, [0, 1, 2]), (SHAOXING, [3, 4, 5, 6]), (HANGZHOU, back)]
        for segment in bundle["segments"]:
            assert segment["checkpoint"].startswith(segment["origin"] + "\n")  # each under its own log's note
        checked = _verify_bundle(bundle, city.folder, hz, sx)
        assert checked.startswith(f"valid: cylinder {cylinder}, {7 + len(back)} events"), checked
        assert f"in logs {HANGZHOU} -> {SHAOXING} -> {HANGZHOU}" in checked
        alone = _verify_bundle(bundle, city.folder, city)
        assert alone.startswith("INVALID") and "no key of it was given" in alone, alone
        kept = next(s for s in bundle["segments"] if s["origin"] == other.origin)
        kept["events"][0]["occurred_at"] = kept["events"][0]["occurred_at"].replace(":", "-", 1)
        tampered = _verify_bundle(bundle, city.folder, hz, sx)
        assert tampered.startswith("INVALID") and "was altered" in tampered, tampered
    authenticated = httpx.get(f"{hz.base}/v1/cylinders/{cylinder}/bundle", timeout=30,
                              headers={"Authorization": f"Bearer {hz.tokens['admin']}"}).json()
    assert authenticated == httpx.get(f"{hz.base}/v1/log/cylinders/{cylinder}/bundle", timeout=30).json()

    # a cylinder that never crossed: the one-log bundle as before, the same as its own segment
    start = datetime.now(timezone.utc) - timedelta(hours=1)
    local = _register(hz, start)
    _created(hz.post("station", _event(local, "fill", start + timedelta(minutes=5), net_kg=14.5)))
    plain = httpx.get(f"{hz.base}/v1/log/cylinders/{local}/bundle", timeout=30).json()
    assert sorted(plain) == ["checkpoint", "cylinder", "disputed", "disputes", "events", "format", "proofs"]
    assert plain["format"] == "cylinder-ledger/bundle/v1" and [e["seq"] for e in plain["events"]] == [0, 1]
    assert plain == httpx.get(f"{hz.base}/v1/log/cylinders/{local}/bundle", params={"segment": "own"},
                              timeout=30).json()
    checked = _verify_bundle(plain, hz.folder, hz)
    assert checked.startswith(f"valid: cylinder {local}, 2 events") and f"in log {HANGZHOU}" in checked, checked


def test_a_cylinder_crosses_to_another_city_and_back_as_one_chain(cities):
    hz, sx = cities
    start = datetime.now(timezone.utc) - timedelta(hours=6)
    at = lambda minutes: start + timedelta(minutes=minutes)  # noqa: E731
    cylinder = _register(hz, at(0))
    _created(hz.post("station", _event(cylinder, "fill", at(10), net_kg=14.5)))
    handoff = _created(hz.post("station", _event(cylinder, "dispatch", at(20), to=sx.parties["transporter"])))
    assert handoff["data"] == {"to_log": SHAOXING}

    # Hangzhou holds the chain no longer: any event of it is refused, and says where it is
    refused = hz.post("station", _event(cylinder, "fill", at(25), net_kg=14.0))
    assert refused.status_code == 409, refused.text
    assert refused.json()["type"].endswith("held-elsewhere") and "shaoxing" in refused.json()["detail"]
    sent = hz.post("station", _event(cylinder, "dispatch", at(20), to=sx.parties["transporter"],
                                     to_log=HANGZHOU))
    assert sent.status_code == 422 and "set by the ledger" in sent.json()["detail"]

    # Shaoxing: the receive checks Hangzhou's segment and links to its head
    received = _created(sx.post("transporter", _event(cylinder, "receive", at(30))))
    assert (received["seq"], received["prev_hash"], received["data"]) == (
        handoff["seq"] + 1, handoff["hash"], {"from_log": HANGZHOU})
    again = sx.post("transporter", {**_event(cylinder, "receive", at(30)),
                                    "idempotency_key": received["idempotency_key"]})
    assert again.status_code == 200, again.text  # a retry is the same event
    _created(sx.post("transporter", _event(cylinder, "dispatch", at(40), to=sx.parties["shop"], **_crew(sx))))
    _created(sx.post("shop", _event(cylinder, "receive", at(50))))
    back = _created(sx.post("shop", _event(cylinder, "return", at(60), to=hz.parties["station"])))
    assert back["data"] == {"to_log": HANGZHOU}
    assert sx.post("shop", _event(cylinder, "receive", at(65))).status_code == 409

    # back in Hangzhou: its next event links to Shaoxing's head
    home = _created(hz.post("station", _event(cylinder, "receive", at(70))))
    assert (home["seq"], home["prev_hash"], home["data"]) == (back["seq"] + 1, back["hash"], {"from_log": SHAOXING})
    _created(hz.post("station", _event(cylinder, "fill", at(80), net_kg=14.5)))

    _wait_until(lambda: sx.count("foreign_events", cylinder) > 3)  # Hangzhou told Shaoxing, which followed
    assert _verify_across(cylinder, [hz, sx]) == [HANGZHOU] * 3 + [SHAOXING] * 4 + [HANGZHOU] * 2
    _each_citys_bundle_verifies_alone(cylinder, hz, sx)
    logs = [(e["seq"], e["log"]) for e in hz.trace(cylinder)["chain"]["events"]]
    assert logs == [(seq, HANGZHOU if seq < 3 or seq > 6 else SHAOXING) for seq in range(9)]
    traced = sx.trace(cylinder)
    assert traced["chain"]["status"] == "intact" and traced["chain"]["events"][2]["log"] == HANGZHOU
    assert traced["current"]["holder"]["id"] == hz.parties["station"]  # in Shaoxing's projection: back home
    for city in (hz, sx):
        city.sweep(datetime.now(timezone.utc) + timedelta(days=2))
        found = [(f["kind"], f["party"], f["events"], f["note"]) for f in city.findings(cylinder)]
        assert found == [], f"{city.name}: {found}"  # a clean life raises nothing in either city
        checked = city.server.verify()
        assert checked.returncode == 0, checked.stdout + checked.stderr


def test_custody_rules_judge_the_story_across_the_line(cities):
    hz, sx = cities
    start = datetime.now(timezone.utc) - timedelta(days=3)
    at = lambda minutes: start + timedelta(minutes=minutes)  # noqa: E731

    # an unconfirmed handover across the line: the sending city raises it when the clock runs out
    lost = _register(hz, at(0))
    _created(hz.post("station", _event(lost, "dispatch", at(10), to=sx.parties["shop"])))
    # late traffic that explains itself: a handover received across the line raises nothing
    kept = _register(hz, at(0))
    _created(hz.post("station", _event(kept, "dispatch", at(10), to=sx.parties["shop"])))
    _created(sx.post("shop", _event(kept, "receive", at(20))))
    _wait_until(lambda: hz.count("foreign_events", kept) > 0)  # Shaoxing told Hangzhou, which followed
    hz.sweep(datetime.now(timezone.utc))
    assert [f["kind"] for f in hz.findings(lost)] == ["handover_unconfirmed"]
    # the dispatch, recorded days late, was unconfirmed until Shaoxing's receive: that receive resolves it
    assert [(f["kind"], f["status"]) for f in hz.findings(kept)] == [("handover_unconfirmed", "resolved")]
    assert sx.findings(kept) == []

    # event after scrap: scrapped in Shaoxing, filled again in Hangzhou, raised where the fill is recorded
    scrapped = _register(hz, at(0))
    _created(hz.post("station", _event(scrapped, "dispatch", at(10), to=sx.parties["inspection"])))
    _created(sx.post("inspection", _event(scrapped, "receive", at(20))))
    _created(sx.post("inspection", _event(scrapped, "scrap", at(30), reason="failed periodic inspection")))
    _created(sx.post("inspection", _event(scrapped, "return", at(40), to=hz.parties["station"])))
    _created(hz.post("station", _event(scrapped, "receive", at(50))))
    fill = _created(hz.post("station", _event(scrapped, "fill", at(60), net_kg=14.5)))
    after = [f for f in hz.findings(scrapped) if f["kind"] == "event_after_scrap"]
    assert after and any(fill["id"] in f["events"] for f in after)
    assert all(f["kind"] != "event_after_scrap" or f["party"] != hz.parties["station"] for f in sx.findings(scrapped))

    # impossible movement: scanned in Hangzhou, then minutes later 1100 km away by Shaoxing's transporter
    # (the evidence rests on an event of each city: the newer one's city raises it, the other knows it too)
    recent = datetime.now(timezone.utc) - timedelta(hours=1)
    moved = _register(hz, recent)
    _created(hz.post("station", {**_event(moved, "dispatch", recent + timedelta(minutes=10),
                                          to=sx.parties["transporter"]), "location": {"lat": 30.27, "lon": 120.15}}))
    jump = _created(sx.post("transporter", {**_event(moved, "receive", recent + timedelta(minutes=15)),
                                            "location": {"lat": 39.90, "lon": 116.40}}))
    found = sx.findings(moved)
    assert [f["kind"] for f in found] == ["impossible_movement"] and jump["id"] in found[0]["events"]
    _wait_until(lambda: hz.count("foreign_events", moved) > 0)
    hz.sweep(datetime.now(timezone.utc))
    assert hz.findings(moved) == []


def test_a_rewritten_segment_and_an_unreachable_city_are_refused_with_nothing_written(cities):
    hz, sx = cities
    at = datetime.now(timezone.utc) - timedelta(hours=2)
    forged = _register(hz, at)
    _created(hz.post("station", _event(forged, "dispatch", at + timedelta(minutes=5), to=sx.parties["shop"])))
    with hz.ledger.db.writing() as c:  # someone with Hangzhou's database rewrites the hand-off
        _allow_updates(c)
        c.execute(text("UPDATE events SET to_ref = :to WHERE cylinder = :c AND kind = 'dispatch'"),
                  {"to": sx.parties["transporter"], "c": forged})
    refused = sx.post("shop", _event(forged, "receive", at + timedelta(minutes=10)))
    assert refused.status_code == 409, refused.text
    assert refused.json()["type"].endswith("segment-refused") and "does not" in refused.json()["detail"]
    assert (sx.count("cylinders", forged), sx.count("events", forged), sx.count("foreign_events", forged)) == (0, 0, 0)

    waiting = _register(hz, at)
    _created(hz.post("station", _event(waiting, "dispatch", at + timedelta(minutes=5), to=sx.parties["shop"])))
    hz.server.stop()
    down = sx.post("shop", _event(waiting, "receive", at + timedelta(minutes=10)))
    assert down.status_code == 503, down.text
    assert down.json()["type"].endswith("peer-unavailable") and "send it again later" in down.json()["detail"]
    assert (sx.count("cylinders", waiting), sx.count("events", waiting)) == (0, 0)
    hz.start()
    _created(sx.post("shop", _event(waiting, "receive", at + timedelta(minutes=10))))


def test_both_cities_at_once_one_holder(cities):
    hz, sx = cities
    at = datetime.now(timezone.utc) - timedelta(hours=2)
    raced = _register(hz, at)
    _created(hz.post("station", _event(raced, "dispatch", at + timedelta(minutes=5), to=sx.parties["shop"])))
    with ThreadPoolExecutor(4) as pool:
        here = [pool.submit(hz.post, "station", _event(raced, "fill", at + timedelta(minutes=6), net_kg=14.5))
                for _ in range(2)]
        there = [pool.submit(sx.post, "shop", _event(raced, "receive", at + timedelta(minutes=7))) for _ in range(2)]
        answers = [future.result() for future in here + there]
    assert [a.status_code for a in answers[:2]] == [409, 409]  # Hangzhou handed it off: it writes no more
    assert sorted(a.status_code for a in answers[2:])[0] == 201  # Shaoxing took it over, once
    assert all(a.status_code in (201, 409) for a in answers[2:]), [a.text for a in answers[2:]]
    _wait_until(lambda: hz.count("foreign_events", raced) > 0)
    origins = _verify_across(raced, [hz, sx])
    assert origins[:2] == [HANGZHOU, HANGZHOU] and set(origins[2:]) == {SHAOXING}

    # handed back, and Hangzhou hears of the return (a peer's news) before its station scans the receive: the
    # receive still says which log the event it links to is in
    back = _created(sx.post("shop", _event(raced, "return", at + timedelta(minutes=30), to=hz.parties["station"])))
    news = lambda: httpx.post(f"{hz.base}/v1/log/crossings", json={"cylinder": raced}, timeout=30)  # noqa: E731
    _wait_until(lambda: news().status_code == 202 and hz.count("foreign_events", raced) == back["seq"] - 1)
    home = _created(hz.post("station", _event(raced, "receive", at + timedelta(minutes=40))))
    assert (home["seq"], home["prev_hash"], home["data"]) == (back["seq"] + 1, back["hash"], {"from_log": SHAOXING})


def _allow_updates(c, table: str = "events") -> None:
    if c.dialect.name == "sqlite":
        for (name,) in c.exec_driver_sql("SELECT name FROM sqlite_master WHERE type = 'trigger' "
                                         "AND tbl_name = ?", (table,)).fetchall():
            c.exec_driver_sql(f'DROP TRIGGER "{name}"')
    else:
        c.exec_driver_sql(f"ALTER TABLE {table} DISABLE TRIGGER USER")


def _wait_until(condition, seconds: float = 30) -> None:
    import time

    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.2)
    raise AssertionError("timed out")


def test_a_citys_trace_page_says_whose_log_each_event_is_in_and_offers_the_hub_for_a_code_it_does_not_know(
        cities):
    hz, sx = cities
    start = datetime.now(timezone.utc) - timedelta(hours=3)
    at = lambda minutes: start + timedelta(minutes=minutes)  # noqa: E731
    cylinder = _register(hz, at(0))
    _created(hz.post("station", _event(cylinder, "dispatch", at(10), to=sx.parties["transporter"])))
    _created(sx.post("transporter", _event(cylinder, "receive", at(20))))

    # Shaoxing's page, as its regulator reads it: LEDGER_HUB_URL names the province's hub
    ledger = Ledger(dataclasses.replace(sx.settings(), hub_url="https://hub.zj.example"))
    try:
        with TestClient(create_app(ledger=ledger), follow_redirects=False) as client:
            sign_in(client, sx.tokens["admin"])
            html = client.get(f"/trace/{cylinder}").text
            rows = [visible(row) for row in re.findall(r"<tr><td class=\"num\">.*?</tr>", html, re.S)]
            assert [row.split()[0] for row in rows] == ["0", "1", "2"]
            assert "hangzhou日志" in rows[0] and "hangzhou日志" in rows[1] and "本市日志" in rows[2]
            assert f'title="{HANGZHOU}"' in html and f'title="{SHAOXING}"' in html
            assert "跨市流转过" in visible(html)
            _proof_page_checks_each_citys_segment(client, cylinder, hz, sx)
            unknown = tracecode.generate()
            answer = client.get(f"/trace/{unknown}")
            assert answer.status_code == 404
            assert f'href="https://hub.zj.example/trace?code={unknown}"' in answer.text
            assert "在全省枢纽查询" in visible(answer.text)
    finally:
        ledger.db.dispose()
    # without a hub named, the page offers none
    ledger = Ledger(sx.settings())
    try:
        with TestClient(create_app(ledger=ledger), follow_redirects=False) as client:
            sign_in(client, sx.tokens["admin"])
            answer = client.get(f"/trace/{tracecode.generate()}")
            assert answer.status_code == 404 and "hub" not in answer.text and "全省枢纽" not in answer.text
    finally:
        ledger.db.dispose()


def _proof_page_checks_each_citys_segment(client: TestClient, cylinder: str, hz: City, sx: City) -> None:
    """Shaoxing's proof page of a cylinder Hangzhou handed it: the segments bundle checked with the keys the
    city knows (its own, its peers'), each segment under a heading naming its log and checkpoint."""
    answer = client.get(f"/trace/{cylinder}/proof")
    assert answer.status_code == 200, answer.text
    page = visible(answer.text)
    assert "3 条记录逐条校验通过" in page and "跨 2 段日志" in page and "证明校验失败" not in page
    headings = re.findall(r'<h2 id="segment-\d+">(.*?)</h2>', answer.text, re.S)
    assert [visible(h).strip() for h in headings] == ["第 1 段 · hangzhou日志 · seq 0–1",
                                                      "第 2 段 · 本市日志 · seq 2"]
    assert f"日志 {HANGZHOU}" in page and f"日志 {SHAOXING}" in page and page.count("本段校验通过") == 2
    assert answer.text.count("audit_path") == 3
    assert f"--public-key '{hz.vkey()}'" in answer.text and f"--public-key '{sx.vkey()}'" in answer.text
    download = client.get(f"/trace/{cylinder}/bundle.json")
    assert download.status_code == 200 and "attachment" in download.headers["content-disposition"]
    bundle = json.loads(download.content)
    assert bundle["format"] == "cylinder-ledger/segments/v1"
    assert [s["origin"] for s in bundle["segments"]] == [HANGZHOU, SHAOXING]
    checked = _verify_bundle(bundle, sx.folder, hz, sx)
    assert checked.startswith(f"valid: cylinder {cylinder}, 3 events"), checked

    # a city that does not know Hangzhou's key: that segment fails, saying so; its own still checks out
    (sx.folder / "no-peers.txt").write_text("")
    stranger = Ledger(dataclasses.replace(sx.settings(), peers_file=sx.folder / "no-peers.txt"))
    try:
        with TestClient(create_app(ledger=stranger), follow_redirects=False) as other:
            sign_in(other, sx.tokens["admin"])
            answer = other.get(f"/trace/{cylinder}/proof")
            assert answer.status_code == 200, answer.text
            page = visible(answer.text)
            assert "证明校验失败" in page and "no key of it was given" in page
            first, second = _segments_shown(answer.text)
            assert "本段校验失败" in first and "不知道这个日志的公钥" in first
            assert "本段校验通过" in second
    finally:
        stranger.db.dispose()

    # someone with Shaoxing's database rewrites a kept Hangzhou event: that segment shows it altered
    with sx.ledger.db.writing() as c:
        _allow_updates(c, "foreign_events")
        c.execute(text("UPDATE foreign_events SET occurred_at = :at WHERE cylinder = :c AND seq = 1"),
                  {"at": "2020-01-01T00:00:00.000000Z", "c": cylinder})
    answer = client.get(f"/trace/{cylinder}/proof")
    assert answer.status_code == 200, answer.text
    page = visible(answer.text)
    assert "证明校验失败" in page and "was altered" in page
    first, second = _segments_shown(answer.text)
    assert "本段校验失败" in first and "本段校验通过" in second


def _segments_shown(html: str) -> tuple[str, str]:
    """A proof page of two segments, the visible text of each (split at the second segment's heading)."""
    first, second = re.split(r'<h2 id="segment-1">', html)
    return visible(first), visible(second)
