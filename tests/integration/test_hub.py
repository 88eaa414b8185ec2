"""The provincial hub as users run it: two city ledgers (`ledger serve`, each its own database, log and keys),
and `ledger hub serve` following, witnessing and serving them, every byte the hub fetches recorded on its way."""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
import uuid
from datetime import date, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote

import httpx
import pytest

from ledger.domain import Role
from ledger.keys import ensure_key
from ledger.sealing import ensure_personal_keys
from ledger.service import Ledger
from ledger.service.hub import FINDING_FIELDS, RISK_FIELDS
from ledger.service.types import Registration
from ledger.storage import Database, tampering
from ledger.storage import events as event_rows
from tests.api.served import Server, free_port
from tests.integration.test_mirror import _rehash_from
from tests.conftest import (
    ADMIN, BACKENDS, NOW, build_town, create_database, drop_database, fill, make_settings, register,
)

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]
PERSONAL = ("Zhang", "13800001234", "Wensan")  # build_town's end user: name, phone, address


def cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "tools.cli", *args], capture_output=True, text=True, cwd=cwd,
                          env={**os.environ, "PYTHONPATH": str(ROOT)}, timeout=180)


class Recorder:
    """A loopback proxy in front of a city: forwards the hub's GETs, keeps every path asked and answer's body."""

    def __init__(self, target: str) -> None:
        self.target = target
        self.bodies: list[bytes] = []
        self.paths: list[str] = []
        self.down = False
        recorder = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - the standard library's name
                recorder.paths.append(self.path)
                if recorder.down:
                    self.send_error(502)
                    return
                try:
                    answer = httpx.get(recorder.target + self.path, headers={
                        k: v for k, v in self.headers.items() if k.lower() in ("authorization", "accept")}, timeout=30)
                except httpx.HTTPError:
                    self.send_error(502)
                    return
                recorder.bodies.append(answer.content)
                self.send_response(answer.status_code)
                self.send_header("Content-Type", answer.headers.get("content-type", "application/octet-stream"))
                self.send_header("Content-Length", str(len(answer.content)))
                self.end_headers()
                self.wfile.write(answer.content)

            def log_message(self, *_args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@dataclasses.dataclass
class City:
    name: str
    region: str
    ledger: Ledger
    town: object
    folder: Path
    cylinders: list[str]
    token: str
    server: Server | None = None
    proxy: Recorder | None = None

    @property
    def origin(self) -> str:
        return self.ledger.settings.log_origin


def make_city(backend: str, root: Path, name: str, slug: str, region: str) -> City:
    folder = root / slug
    folder.mkdir()
    url = create_database(backend, folder)
    settings = dataclasses.replace(make_settings(url, folder), log_origin=f"{slug}.test/log")
    ensure_key(settings.key_file)
    ensure_key(settings.label_key_file)
    ensure_personal_keys(settings.personal_key_file)  # build_town's end user's data is sealed with it
    ledger = Ledger(settings)
    ledger.db.migrate()
    town = build_town(ledger)
    cylinders = register(ledger, town, 2)
    with ledger.db.writing() as c:  # one cylinder past its inspection: on the overdue list
        cylinders.append(ledger.register(c, ADMIN, Registration(
            town.company, f"SN-{uuid.uuid4().hex[:8]}", "Zhejiang Steel", date(2010, 3, 1), "YSP-15", 15.2, 8,
            date(2019, 3, 1), date(2021, 3, 1), occurred_at=NOW), now=NOW + timedelta(minutes=1)).event.cylinder)
        ledger.record_batch(c, town.at_station, [fill(x, town, NOW + timedelta(hours=1)) for x in cylinders],
                            now=NOW + timedelta(hours=2))
        token = ledger.create_account(c, role=Role.REGULATOR, party=None, name="provincial hub")
    ledger.checkpoint()
    return City(name, region, ledger, town, folder, cylinders, token)


def start(city: City, witnesses: Path) -> None:
    city.server = Server(city.ledger.settings.database_url, city.folder, workers=1)
    city.server.env.update({"LEDGER_LOG_ORIGIN": city.origin, "LEDGER_WITNESSES": str(witnesses),
                            "LEDGER_CHECKPOINT_INTERVAL": "0.5"})
    city.server.__enter__()
    if city.proxy is None:
        city.proxy = Recorder(city.server.base)
    city.proxy.target = city.server.base


class Hub:
    def __init__(self, url: str, folder: Path) -> None:
        self.url, self.folder = url, folder
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        done = cli("hub", "init", "--db", url, "--name", "hub.test/witness", "--key", str(folder / "hub.key"),
                   cwd=folder)
        assert done.returncode == 0, done.stderr
        self.vkey = done.stdout.strip()
        done = cli("hub", "add-account", "省市场监管局", "--db", url, cwd=folder)
        assert done.returncode == 0, done.stderr
        self.http = httpx.Client(base_url=self.base, timeout=60, headers={"Authorization": f"Bearer {done.stdout.strip()}"})
        self.process: subprocess.Popen | None = None

    def add(self, city: City) -> None:
        done = cli("hub", "add-city", city.name, city.proxy.base, city.ledger.verifier.vkey(), "--db", self.url,
                   "--token", city.token, "--region", city.region, cwd=self.folder)
        assert done.returncode == 0, done.stderr

    def start(self) -> None:
        log = (self.folder / "hub.log").open("wb")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "tools.cli", "hub", "serve", "--db", self.url, "--port", str(self.port),
             "--interval", "0.3"], cwd=self.folder, env={**os.environ, "PYTHONPATH": str(ROOT)},
            stdout=log, stderr=subprocess.STDOUT)
        self.wait(lambda: httpx.get(f"{self.base}/healthz", timeout=1).status_code == 200)

    def wait(self, ready, what: str = "the hub") -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if ready():
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.2)
        raise AssertionError(f"{what} never became ready: {(self.folder / 'hub.log').read_text()[-3000:]}")

    def cities(self) -> dict[str, dict]:
        return {c["name"]: c for c in self.http.get("/v1/province/cities").json()}

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            self.process.wait(30)


@pytest.fixture(params=BACKENDS)
def province(request, tmp_path):
    backend = request.param
    cities = [make_city(backend, tmp_path, "杭州", "hangzhou", "330100"),
              make_city(backend, tmp_path, "绍兴", "shaoxing", "330600")]
    hub_folder = tmp_path / "hub"
    hub_folder.mkdir()
    hub_url = create_database(backend, hub_folder)
    hub = Hub(hub_url, hub_folder)
    witnesses = tmp_path / "witnesses.txt"
    witnesses.write_text(f"hub http://127.0.0.1:{hub.port}/witness {hub.vkey}\n")
    try:
        for city in cities:
            start(city, witnesses)
            hub.add(city)
        hub.start()
        yield hub, cities, witnesses
    finally:
        hub.stop()
        for city in cities:
            if city.server is not None:
                city.server.stop()
            if city.proxy is not None:
                city.proxy.close()
            city.ledger.db.dispose()
            drop_database(city.ledger.settings.database_url)
        for _, mirror_url in _hub_cities(hub):
            drop_database(mirror_url)
        drop_database(hub_url)


def log_size(city: City) -> int:
    with city.ledger.db.reading() as c:
        return event_rows.log_size(c)


def caught_up(hub: Hub, cities) -> bool:
    held = hub.cities()
    return all(held[c.name]["status"] == "ok" and held[c.name]["size"] == log_size(c) for c in cities)


def union(cities, path: str, params: dict) -> list[tuple]:
    rows = []
    for city in cities:
        answer = httpx.get(f"{city.server.base}{path}", params={**params, "limit": 1000},
                           headers={"Authorization": f"Bearer {city.token}"}).json()
        rows += [(city.name, json.dumps(item, sort_keys=True)) for item in answer["items"]]
    return sorted(rows)


def test_the_hub_follows_witnesses_lists_and_never_sees_personal_data(province, tmp_path):
    hub, cities, _ = province
    hub.wait(lambda: caught_up(hub, cities), "following both cities")

    # Witnessing: each city's published checkpoint carries the hub's cosignature.
    for city in cities:
        hub.wait(lambda: "— hub.test/witness" in httpx.get(f"{city.server.base}/v1/log/checkpoint").text,
                 f"the hub's cosignature on {city.name}'s checkpoint")

    # The provincial lists are the union of the cities' own lists (whitelisted fields, with the city named).
    province_list = hub.http.get("/v1/province/risk/cylinders", params={"reason": "overdue_inspection"}).json()
    assert province_list["cities"] == {"杭州": "ok", "绍兴": "ok"}
    assert len(province_list["items"]) == 2
    assert sorted((r.pop("city"), json.dumps(r, sort_keys=True)) for r in province_list["items"]) == \
        union(cities, "/v1/risk/cylinders", {"reason": "overdue_inspection"})
    findings = hub.http.get("/v1/province/findings").json()["items"]
    city_findings = union(cities, "/v1/findings", {})
    assert city_findings and len(findings) == len(city_findings)
    assert {(f["city"], f["id"], f["kind"]) for f in findings} == \
        {(name, json.loads(row)["id"], json.loads(row)["kind"]) for name, row in city_findings}
    # Paged one and two rows at a time (a city's page then shown in part), the province's lists are the union
    # still: each row once, none lost.
    for limit, (path, params, city_path, city_params) in [(limit, listing) for limit in (1, 2) for listing in (
            ("/v1/province/risk/cylinders", {"reason": "overdue_inspection"}, "/v1/risk/cylinders",
             {"reason": "overdue_inspection"}),
            ("/v1/province/findings", {}, "/v1/findings", {}))]:
        paged, cursor, pages = [], None, 0
        while True:
            answer = hub.http.get(path, params={**params, "limit": limit, **({"cursor": cursor} if cursor else {})})
            assert answer.status_code == 200, answer.text
            paged += answer.json()["items"]
            pages += 1
            if (cursor := answer.json()["next_cursor"]) is None:
                break
        assert len(paged) >= 2 and pages == -(-len(paged) // limit)  # full pages, the last one ending the list
        assert sorted((r.pop("city"), json.dumps(r, sort_keys=True)) for r in paged) == [
            (name, json.dumps({k: v for k, v in json.loads(row).items() if k in keep}, sort_keys=True))
            for name, row in union(cities, city_path, city_params)
            for keep in [RISK_FIELDS if "risk" in path else FINDING_FIELDS]]
    first = hub.http.get("/v1/province/findings", params={"limit": 1}).json()
    assert first["next_cursor"] and len(first["items"]) == 1
    for wrong in ({"cursor": first["next_cursor"], "status": "open"}, {"cursor": "bm90IGEgY3Vyc29y"},
                  {"cursor": first["next_cursor"][:-4]}):
        assert hub.http.get("/v1/province/findings", params=wrong).status_code == 422
    assert hub.http.get("/v1/province/risk/cylinders",
                        params={"reason": "overdue_inspection", "cursor": first["next_cursor"]}).status_code == 422
    only_shaoxing = hub.http.get("/v1/province/risk/cylinders",
                                 params={"reason": "overdue_inspection", "city": "绍兴"}).json()["items"]
    assert [r["city"] for r in only_shaoxing] == ["绍兴"]
    sheet = hub.http.get("/v1/province/risk/cylinders", params={"reason": "overdue_inspection", "format": "csv"})
    rows = list(csv.reader(io.StringIO(sheet.content.decode("utf-8-sig"))))
    assert rows[0][0] == "城市" and sorted(r[0] for r in rows[1:]) == ["杭州", "绍兴"]

    # One colour per enterprise across the cities; the dashboard by city in Chinese.
    enterprises = hub.http.get("/v1/province/enterprises").json()["items"]
    assert {e["enterprise"].split(":")[0] for e in enterprises} == {"330100", "330600"}
    assert all(e["colour"] in ("green", "yellow", "red") for e in enterprises)
    for city in cities:
        city.proxy.paths.clear()
    page = hub.http.get("/").text
    assert "全省气瓶追溯枢纽" in page and "杭州" in page and "绍兴" in page and "Provincial" not in page
    # Each city's open findings on the dashboard are the city's own count of them; the hub asked each city for
    # that count once and fetched no list of findings.
    counted = {city.name: httpx.get(f"{city.server.base}/v1/findings/counts", params={"status": "open"},
                                    headers={"Authorization": f"Bearer {city.token}"}).json()["total"]
               for city in cities}
    assert sum(counted.values()) > 0
    shown = {unquote(name): int(n) for name, n in re.findall(r'href="/findings\?city=([^"]+)">(\d+)</a>', page)}
    assert shown == counted
    for city in cities:
        assert [path for path in city.proxy.paths if path.startswith("/v1/findings")] == \
            ["/v1/findings/counts?status=open"], city.proxy.paths

    # A cross-city trace of a cylinder held in one log, and its bundle checked offline with the cities' keys.
    code = cities[0].cylinders[0]
    trace = hub.http.get(f"/v1/province/cylinders/{code}/trace").json()
    assert trace["intact"] and [s["city"] for s in trace["segments"]] == ["杭州"]
    assert [e["seq"] for e in trace["segments"][0]["events"]] == [0, 1]
    bundle = tmp_path / "bundle.json"
    bundle.write_text(hub.http.get(f"/v1/province/cylinders/{code}/bundle").text)
    checked = cli("verify-bundle", str(bundle), *[a for c in cities for a in ("--public-key", c.ledger.verifier.vkey())],
                  cwd=tmp_path)
    assert checked.returncode == 0 and "in logs hangzhou.test/log" in checked.stdout, checked.stdout
    assert hub.http.get("/v1/province/cylinders/NOSUCHCODE1/trace").status_code == 404
    assert httpx.get(f"{hub.base}/v1/province/cities").status_code == 401

    # Nothing the hub fetched from a city carries its end user's personal data.
    fetched = [body for city in cities for body in city.proxy.bodies]
    assert len(fetched) > 10
    for body in fetched:
        text = body.decode("utf-8", "replace")
        assert not any(value in text for value in PERSONAL), text[:300]


def test_a_city_offline_catches_up_and_a_rewriting_city_is_caught(province):
    hub, (hangzhou, shaoxing), witnesses = province
    hub.wait(lambda: caught_up(hub, (hangzhou, shaoxing)), "following both cities")

    # 绍兴 drops off the network; it keeps recording; the hub says so and, once it is back, holds every event once.
    shaoxing.proxy.down = True
    with shaoxing.ledger.db.writing() as c:
        shaoxing.ledger.record_batch(c, shaoxing.town.at_station, [
            fill(x, shaoxing.town, NOW + timedelta(hours=h)) for h in range(3, 6) for x in shaoxing.cylinders],
            now=NOW + timedelta(hours=6))
    shaoxing.ledger.checkpoint()
    hub.wait(lambda: hub.cities()["绍兴"]["status"] == "unreachable", "seeing 绍兴 offline")
    listed = hub.http.get("/v1/province/risk/cylinders", params={"reason": "overdue_inspection"}).json()
    assert listed["cities"]["杭州"] == "ok" and listed["cities"]["绍兴"].startswith("unreachable")
    assert [r["city"] for r in listed["items"]] == ["杭州"] and listed["next_cursor"] is None
    shaoxing.proxy.down = False
    hub.wait(lambda: caught_up(hub, (hangzhou, shaoxing)), "catching 绍兴 up")
    mirror = Database(next(c for c in _hub_cities(hub) if c[0] == "绍兴")[1])
    try:
        with mirror.reading() as c:
            ids = [row[0] for row in c.exec_driver_sql("SELECT id FROM events ORDER BY id")]
    finally:
        mirror.dispose()
    assert ids == list(range(log_size(shaoxing)))

    # 杭州 signs a larger checkpoint, then its database administrator rewrites an event the hub already
    # verified (relinked and rehashed, a consistent-looking chain): the hub refuses to follow.
    before = hub.cities()["杭州"]["size"]
    hangzhou.proxy.down = True
    with hangzhou.ledger.db.writing() as c:
        hangzhou.ledger.record_batch(c, hangzhou.town.at_station, [
            fill(hangzhou.cylinders[1], hangzhou.town, NOW + timedelta(hours=7))], now=NOW + timedelta(hours=8))
    hub.wait(lambda: f"\n{before + 1}\n" in httpx.get(f"{hangzhou.server.base}/v1/log/checkpoint").text,
             "杭州 signing its new checkpoint")
    with hangzhou.ledger.db.writing() as c:
        restore = tampering.suspend_triggers(c)
        _rehash_from(c, hangzhou.cylinders[0], 1, lambda row: row[10].replace("14.5", "13"))
        restore()
    hangzhou.proxy.down = False
    hub.wait(lambda: hub.cities()["杭州"]["status"] == "refused", "refusing 杭州's rewritten log")
    held = hub.cities()["杭州"]
    assert held["size"] == before and held["problem"]
    assert hub.cities()["绍兴"]["status"] == "ok"


def _hub_cities(hub: Hub) -> list[tuple[str, str]]:
    from ledger.storage.hub import HubStore

    store = HubStore(hub.url)
    try:
        return [(c.name, c.mirror_url) for c in store.cities()]
    finally:
        store.dispose()
