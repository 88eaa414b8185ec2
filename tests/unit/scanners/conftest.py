"""A small real ledger stand-in on 127.0.0.1 that implements POST /v1/events/batch.

It keeps events by idempotency key in memory, exactly as the contract asks
(same key and content: duplicate; same key, other content: rejected), and can
be told to fail: answer 503/429, drop the connection before or after it has
recorded a batch, or stall after recording (so a client can be killed while
the server already has the batch).
"""

from __future__ import annotations

import json
import socket
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

TOKEN = "driver-token-123"


@dataclass
class LedgerStub:
    events: dict[str, dict[str, Any]] = field(default_factory=dict)
    created: dict[str, int] = field(default_factory=dict)
    batches: list[int] = field(default_factory=list)  # size of every request that reached the handler
    committed: int = 0  # batches recorded
    unregistered: set[str] = field(default_factory=set)
    findings: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    fail_next: list[int] = field(default_factory=list)  # statuses to answer before working again
    drop_before_commit: int = 0
    drop_after_commit: int = 0
    stall_after_commit: float = 0.0
    retry_after: str | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)

    def answer(self, body: dict[str, Any]) -> list[dict[str, Any]]:
        results = []
        with self.lock:
            for index, item in enumerate(body["events"]):
                key, code = item["idempotency_key"], item["cylinder"]
                content = {k: v for k, v in item.items() if k != "idempotency_key"}
                if code in self.unregistered:
                    results.append(_rejected(index, f"cylinder {code} is not registered"))
                elif key in self.events:
                    if self.events[key] != content:
                        results.append(_rejected(index, "same idempotency_key, other content"))
                    else:
                        results.append(self._result(index, "duplicate", key, code))
                else:
                    self.events[key] = content
                    self.created[key] = self.created.get(key, 0) + 1
                    results.append(self._result(index, "created", key, code))
            self.committed += 1
        return results

    def _result(self, index: int, status: str, key: str, code: str) -> dict[str, Any]:
        result: dict[str, Any] = {"index": index, "status": status, "event": {"cylinder": code, "id": key}}
        if code in self.findings:
            result["findings"] = self.findings[code]
        return result


def _rejected(index: int, detail: str) -> dict[str, Any]:
    return {"index": index, "status": "rejected", "error": {"title": "Rejected", "status": 422, "detail": detail}}


def _handler(stub: LedgerStub) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: Any) -> None:  # keep test output clean
            pass

        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            stub.batches.append(len(body.get("events", [])))
            if self.path != "/v1/events/batch":
                return self._send(404, {"title": "Not Found", "status": 404})
            if self.headers.get("Authorization") != f"Bearer {TOKEN}":
                return self._send(401, {"title": "Unauthorized", "status": 401, "detail": "unknown token"})
            if stub.fail_next:
                return self._send(stub.fail_next.pop(0), {"title": "Unavailable", "status": 503})
            if stub.drop_before_commit:
                stub.drop_before_commit -= 1
                return self._drop()
            if not 1 <= len(body.get("events", [])) <= 1000:
                return self._send(422, {"title": "Invalid", "status": 422, "detail": "1-1000 events"})
            results = stub.answer(body)
            if stub.drop_after_commit:
                stub.drop_after_commit -= 1
                return self._drop()
            time.sleep(stub.stall_after_commit)
            self._send(200, {"results": results})

        def _drop(self) -> None:
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)

        def _send(self, status: int, body: dict[str, Any]) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            if status == 429 and stub.retry_after:
                self.send_header("Retry-After", stub.retry_after)
            self.end_headers()
            self.wfile.write(data)

    return Handler


class Server:
    """A running stub; ``url`` is its base URL."""

    def __init__(self, stub: LedgerStub, port: int = 0) -> None:
        self.stub = stub
        self.httpd = ThreadingHTTPServer(("127.0.0.1", port), _handler(stub))
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.token = TOKEN
        self.thread = threading.Thread(target=self.httpd.serve_forever, args=(0.05,), daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def ledger_server():
    server = Server(LedgerStub())
    yield server
    server.stop()


@pytest.fixture
def start_server():
    """Starts a stub on a given port (0: any); every one started is stopped after the test."""
    started: list[Server] = []

    def start(port: int = 0, stub: LedgerStub | None = None) -> Server:
        started.append(Server(stub or LedgerStub(), port))
        return started[-1]

    yield start
    for server in started:
        server.stop()


@pytest.fixture
def unused_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


WQY_ZENHEI = "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc"  # Debian's fonts-wqy-zenhei, which CI installs


@pytest.fixture
def fresh_fonts(monkeypatch):
    """The CJK font search starts afresh (nothing found or warned yet) and is forgotten after the test."""
    from scanners import fonts

    monkeypatch.delenv("LEDGER_LABEL_FONT", raising=False)
    monkeypatch.setattr(fonts, "_warned", set())
    fonts._find.cache_clear()
    yield fonts
    fonts._find.cache_clear()


@pytest.fixture
def no_cjk_font(fresh_fonts, monkeypatch):
    """A machine without a TrueType CJK font: neither a known file nor one fontconfig lists."""
    monkeypatch.setattr(fresh_fonts, "KNOWN_FILES", ())
    monkeypatch.setattr(fresh_fonts, "_fontconfig", lambda: [])
    return fresh_fonts
