"""Webhooks delivered to a real HTTP receiver on 127.0.0.1: signed, retried with backoff, every attempt
logged, and written in the same transaction as what they announce (docs/cases.md)."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest
from sqlalchemy import text

from ledger import tracecode, webhooks
from ledger.domain import Role
from ledger.service import Actor

from .conftest import World, event_body

SECRET = "s3cret-of-the-city-gateway"
T0 = datetime(2026, 3, 2, 8, 0, tzinfo=timezone.utc)


class Receiver:
    """A gateway that answers 500 to its first ``failures`` requests, then 204; it keeps what it got."""

    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.got: list[tuple[dict[str, str], bytes]] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.got.append(({k.lower(): v for k, v in self.headers.items()}, body))
                failing = len(receiver.got) <= receiver.failures
                self.send_response(500 if failing else 204)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver():
    found = Receiver(failures=2)
    yield found
    found.close()


def hooks_file(tmp_path: Path, url: str, events: str) -> Path:
    path = tmp_path / "webhooks.conf"
    path.write_text(f"# name url secret events\nwecom {url} {SECRET} {events}\n"
                    f"sms http://127.0.0.1:9/never {SECRET} finding.critical\n", encoding="utf-8")
    return path


def overfill(world: World) -> int:
    answer = world.client.post("/v1/events", json=event_body(world.cylinders[0], data={"net_kg": 16.9}),
                               headers=world.auth("station"))
    return next(f["id"] for f in answer.json()["findings"] if f["kind"] == "overfill")


def test_a_dispatch_reaches_the_gateway_signed_after_two_failures(world: World, receiver: Receiver,
                                                                  tmp_path: Path) -> None:
    hooks = webhooks.load_hooks(hooks_file(tmp_path, receiver.url, "case.dispatched,case.overdue"))
    deliverer = webhooks.Deliverer(world.ledger, hooks)
    finding = overfill(world)
    desk = Actor(Role.REGULATOR, world.parties["regulator"], "regulator desk")
    with world.ledger.db.writing() as c:
        world.ledger.finding_action(c, desk, finding, action="dispatch", note="go",
                                    assignee=world.account_id("inspector"), now=T0)

    assert deliverer.run(now=T0) == 1 and len(receiver.got) == 1  # 500
    assert deliverer.run(now=T0 + timedelta(seconds=29)) == 0  # not yet: the first retry waits 30 s
    assert deliverer.run(now=T0 + timedelta(seconds=30)) == 1 and len(receiver.got) == 2  # 500 again
    assert deliverer.run(now=T0 + timedelta(seconds=89)) == 0  # then 60 s
    assert deliverer.run(now=T0 + timedelta(seconds=90)) == 1 and len(receiver.got) == 3  # 204
    assert deliverer.run(now=T0 + timedelta(days=1)) == 0  # delivered: never again
    deliverer.close()

    for headers, body in receiver.got:
        expected = "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
        assert hmac.compare_digest(headers["x-ledger-signature"], expected)
        assert headers["x-ledger-event"] == "case.dispatched" and headers["content-type"] == "application/json"
        assert headers["x-ledger-timestamp"].isdigit()
    assert len({headers["x-ledger-delivery"] for headers, _ in receiver.got}) == 1  # one delivery, three tries
    announced = json.loads(receiver.got[0][1])
    assert announced["event"] == "case.dispatched" and announced["case"]["id"] == finding
    assert announced["case"]["assignee"] == str(world.account_id("inspector")) and announced["case"]["due_at"]

    log = world.client.get("/v1/webhooks/deliveries", headers=world.auth("admin"))
    assert log.status_code == 200
    attempts = sorted(log.json()["items"], key=lambda item: item["attempt"])
    assert [(a["hook"], a["attempt"], a["status_code"], a["ok"]) for a in attempts] == [
        ("wecom", 1, 500, False), ("wecom", 2, 500, False), ("wecom", 3, 204, True)]
    assert attempts[0]["error"] == "answered 500" and attempts[2]["error"] is None
    for other in ("regulator", "inspector", "shop"):
        assert world.client.get("/v1/webhooks/deliveries", headers=world.auth(other)).status_code == 403
    page = world.client.get("/v1/webhooks/deliveries?limit=2", headers=world.auth("admin")).json()
    rest = world.client.get(f"/v1/webhooks/deliveries?cursor={page['next_cursor']}",
                            headers=world.auth("admin")).json()
    assert len(page["items"]) == 2 and len(rest["items"]) == 1 and rest["next_cursor"] is None


def test_a_critical_finding_and_an_overdue_case_are_announced(world: World, tmp_path: Path) -> None:
    receiver = Receiver(failures=0)
    try:
        hooks = webhooks.load_hooks(hooks_file(tmp_path, receiver.url, "finding.critical,case.overdue"))
        deliverer = webhooks.Deliverer(world.ledger, hooks)
        unissued = tracecode.generate()  # a code the platform never issued: 黑气瓶, critical
        world.client.post("/v1/events", json=event_body(unissued), headers=world.auth("station"))
        finding = overfill(world)
        desk = Actor(Role.REGULATOR, world.parties["regulator"], "regulator desk")
        with world.ledger.db.writing() as c:
            world.ledger.finding_action(c, desk, finding, action="dispatch", note="go",
                                        assignee=world.account_id("inspector"), now=T0)
            world.ledger.escalate_overdue(c, T0 + timedelta(days=30))
        deliverer.run(now=T0 + timedelta(days=30))
        got = {json.loads(body)["event"]: json.loads(body) for _, body in receiver.got}
        assert set(got) == {"finding.critical", "case.overdue"}  # case.dispatched: not subscribed
        assert got["finding.critical"]["finding"]["cylinder"] == unissued
        assert got["finding.critical"]["finding"]["kind"] == "unregistered_code"
        assert got["case.overdue"]["case"]["id"] == finding and got["case.overdue"]["case"]["escalated_at"]
        # the other hook subscribed to finding.critical too; its gateway is down, and the log says so
        log = world.client.get("/v1/webhooks/deliveries", headers=world.auth("admin")).json()["items"]
        failed = [a for a in log if a["hook"] == "sms"]
        assert len(failed) == 1 and failed[0]["ok"] is False and failed[0]["status_code"] is None
        assert failed[0]["error"]
        deliverer.close()
    finally:
        receiver.close()


def test_an_announcement_lives_and_dies_with_its_transaction(world: World) -> None:
    finding = overfill(world)
    desk = Actor(Role.REGULATOR, world.parties["regulator"], "regulator desk")

    def outbox() -> int:
        with world.ledger.db.reading() as c:
            return c.execute(text("SELECT COUNT(*) FROM webhook_outbox WHERE event = 'case.dispatched'")).scalar_one()

    with pytest.raises(RuntimeError):
        with world.ledger.db.writing() as c:
            world.ledger.finding_action(c, desk, finding, action="dispatch", note="go",
                                        assignee=world.account_id("inspector"), now=T0)
            assert outbox() == 0  # not visible before the commit
            raise RuntimeError("the process dies before committing")
    assert outbox() == 0
    with world.ledger.db.writing() as c:
        world.ledger.finding_action(c, desk, finding, action="dispatch", note="go",
                                    assignee=world.account_id("inspector"), now=T0)
    assert outbox() == 1


@pytest.mark.parametrize("line", [
    "wecom http://x short case.dispatched",  # a secret under 16 characters
    "wecom ftp://x 0123456789abcdef case.dispatched",
    "wecom http://x 0123456789abcdef case.sneezed",
    "wecom http://x 0123456789abcdef",
])
def test_a_malformed_hooks_file_is_refused_naming_the_line(tmp_path: Path, line: str) -> None:
    path = tmp_path / "hooks"
    path.write_text(f"# ok\n{line}\n", encoding="utf-8")
    with pytest.raises(ValueError, match=f"{path}:2"):
        webhooks.load_hooks(path)


@pytest.mark.slow
def test_ledger_serve_delivers_in_the_background(offline_world, tmp_path: Path) -> None:
    """A real `ledger serve` with LEDGER_WEBHOOKS: a dispatch over HTTP reaches the receiver, signed."""
    from .served import Server

    world, url = offline_world
    receiver = Receiver(failures=0)
    try:
        path = hooks_file(tmp_path, receiver.url, "case.dispatched")
        server = Server(url, tmp_path, workers=1)
        server.env["LEDGER_WEBHOOKS"] = str(path)
        with server:
            def auth(name: str) -> dict[str, str]:
                return {"Authorization": f"Bearer {world.tokens[name]}"}

            fill = httpx.post(f"{server.base}/v1/events", headers=auth("station"),
                              json=event_body(world.cylinders[0], data={"net_kg": 16.9}))
            finding = next(f["id"] for f in fill.json()["findings"] if f["kind"] == "overfill")
            with world.ledger.db.reading() as c:
                inspector = world.ledger.authenticate(c, world.tokens["inspector"]).account
            sent = httpx.post(f"{server.base}/v1/findings/{finding}/actions", headers=auth("regulator"),
                              json={"action": "dispatch", "assignee": inspector, "note": "go"})
            assert sent.status_code == 200 and sent.json()["due_at"]
            deadline = time.monotonic() + 30
            while not receiver.got and time.monotonic() < deadline:
                time.sleep(0.2)
        assert len(receiver.got) == 1
        headers, body = receiver.got[0]
        assert headers["x-ledger-signature"] == webhooks.sign(SECRET.encode(), body)
        assert json.loads(body)["case"]["id"] == finding
    finally:
        receiver.close()
