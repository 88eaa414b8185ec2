"""The app served by uvicorn on a free loopback port in a background thread, for the browser tests."""

from __future__ import annotations

import socket
import threading
import time

import uvicorn

from api.app import create_app


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Served:
    """``with Served(ledger) as base:`` — ``base`` is ``http://127.0.0.1:<port>``."""

    def __init__(self, ledger) -> None:
        self.port = free_port()
        config = uvicorn.Config(create_app(ledger=ledger), host="127.0.0.1", port=self.port, log_level="warning",
                                lifespan="on")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, name="pages-uvicorn", daemon=True)

    def __enter__(self) -> str:
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.05)
        return f"http://127.0.0.1:{self.port}"

    def __exit__(self, *exc) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)
