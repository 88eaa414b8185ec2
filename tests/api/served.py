"""`ledger serve` as a subprocess on a free loopback port, for tests that need real processes."""

from __future__ import annotations

import contextlib
import os
import random
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

LEDGER = str(Path(sys.executable).parent / "ledger")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def free_ports(count: int) -> int:
    """The first of ``count`` consecutive free ports, for a command that serves on a port and the next ones.

    They are drawn below the kernel's ephemeral range, where ``free_port`` and every outgoing connection take
    theirs, so a test running beside this one cannot be handed one of them between the choice and the bind."""
    ephemeral = Path("/proc/sys/net/ipv4/ip_local_port_range")
    low = int(ephemeral.read_text().split()[0]) if ephemeral.exists() else 32768
    for _ in range(200):
        base = random.randrange(10000, low - count)
        try:
            with contextlib.ExitStack() as probes:
                for port in range(base, base + count):
                    probes.enter_context(socket.socket()).bind(("127.0.0.1", port))
        except OSError:
            continue
        return base
    raise RuntimeError(f"no {count} consecutive free ports below {low}")


class Server:
    """``ledger serve --workers N`` over ``url``, with keys in ``folder``; stopped with SIGTERM."""

    startup = 30.0  # seconds it may take to answer /healthz

    def __init__(self, url: str, folder: Path, workers: int = 2) -> None:
        self.url = url
        self.folder = folder
        self.workers = workers
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.env = {**os.environ, "LEDGER_DATABASE_URL": url, "LEDGER_KEY_FILE": str(folder / "log.key"),
                    "LEDGER_LABEL_KEY_FILE": str(folder / "label.key"), "LEDGER_LOG_ORIGIN": "test.cylinder-ledger/log",
                    "LEDGER_BASE_URL": "https://trace.example"}
        self.process: subprocess.Popen | None = None
        self.log = folder / f"serve-{self.port}.log"

    def __enter__(self) -> Server:
        with self.log.open("wb") as log:
            self.process = subprocess.Popen(
                [LEDGER, "serve", "--db", self.url, "--host", "127.0.0.1", "--port", str(self.port),
                 "--workers", str(self.workers)],
                cwd=self.folder, env=self.env, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + self.startup
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"ledger serve exited: {self.log.read_text()[-2000:]}")
            try:
                if httpx.get(f"{self.base}/healthz", timeout=1).status_code == 200:
                    return self
            except httpx.TransportError:
                time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"ledger serve did not come up: {self.log.read_text()[-2000:]}")

    def terminate(self) -> None:
        """SIGTERM, as a service manager stops the service."""
        assert self.process is not None
        self.process.send_signal(signal.SIGTERM)

    def stop(self, timeout: float = 30) -> int:
        if self.process is None:
            return 0
        if self.process.poll() is None:
            self.terminate()
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            raise

    def __exit__(self, *_exc) -> None:
        self.stop()

    def verify(self) -> subprocess.CompletedProcess:
        return subprocess.run([LEDGER, "verify", "--db", self.url], env=self.env, cwd=self.folder,
                              capture_output=True, text=True, timeout=120)
