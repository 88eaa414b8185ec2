"""A witness (`ledger witness serve`) as a real process on a loopback port, and logs that feed it.

The logs are real ledgers: ``Log.grow`` registers cylinders, ``Log.checkpoint`` is
the ledger's signed checkpoint, ``Log.request`` an add-checkpoint body with the
ledger's own consistency proof (c2sp.org/tlog-witness "add-checkpoint").
"""

from __future__ import annotations

import base64
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from ledger.config import Settings
from ledger.keys import ensure_key
from ledger.sealing import ensure_personal_keys
from ledger.service import Ledger
from ledger.signednote import Checkpoint
from tests.api.served import free_port
from tests.conftest import Town, build_town, register

ROOT = Path(__file__).resolve().parents[2]
NAME = "witness.test/w1"


def cli(*args: str, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """``ledger ...`` as a user runs it: a process of its own, this worktree's code."""
    environment = {**os.environ, "PYTHONPATH": str(ROOT), **(env or {})}
    return subprocess.run([sys.executable, "-m", "tools.cli", *args], cwd=cwd, env=environment,
                          capture_output=True, text=True, timeout=120)


class Witness:
    """``ledger witness init`` then ``serve`` over ``url``; ``restart`` stops and starts the process."""

    def __init__(self, url: str, folder: Path) -> None:
        self.url = url
        self.folder = folder
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.process: subprocess.Popen | None = None
        self.log = folder / f"witness-{self.port}.log"
        done = cli("witness", "init", "--db", url, "--key", str(folder / "witness.key"), "--name", NAME, cwd=folder)
        assert done.returncode == 0, done.stderr
        self.init_stdout = done.stdout
        self.vkey = done.stdout.strip()
        self.http = httpx.Client(base_url=self.base, timeout=30)

    def add_log(self, origin: str, vkey: str) -> subprocess.CompletedProcess:
        return cli("witness", "add-log", origin, vkey, "--db", self.url, cwd=self.folder)

    def start(self) -> Witness:
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "tools.cli", "witness", "serve", "--db", self.url, "--host", "127.0.0.1",
                 "--port", str(self.port)],
                cwd=self.folder, env={**os.environ, "PYTHONPATH": str(ROOT)}, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"witness serve exited: {self.log.read_text()[-2000:]}")
            try:
                if self.http.get("/").status_code == 200:
                    return self
            except httpx.TransportError:
                time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"witness serve did not come up: {self.log.read_text()[-2000:]}")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None

    def restart(self) -> None:
        self.stop()
        self.http.close()
        self.http = httpx.Client(base_url=self.base, timeout=30)
        self.start()

    def post(self, body: str | bytes) -> httpx.Response:
        return self.http.post("/add-checkpoint", content=body.encode() if isinstance(body, str) else body)

    def close(self) -> None:
        self.stop()
        self.http.close()


@dataclass
class Log:
    """A real ledger seen as a transparency log: it grows, signs checkpoints, proves consistency."""

    ledger: Ledger
    town: Town | None = None
    seen: dict[int, Checkpoint] = field(default_factory=dict)

    @property
    def origin(self) -> str:
        return self.ledger.settings.log_origin

    @property
    def vkey(self) -> str:
        return self.ledger.signer.verifier.vkey()

    def grow(self, cylinders: int = 1) -> Checkpoint:
        if self.town is None:
            self.town = build_town(self.ledger)
        register(self.ledger, self.town, cylinders)
        return self.checkpoint()

    def checkpoint(self) -> Checkpoint:
        checkpoint = self.ledger.checkpoint()
        self.seen[checkpoint.size] = checkpoint
        return checkpoint

    def proof(self, old: int, new: int) -> list[bytes]:
        if old == 0:
            return []
        with self.ledger.db.reading() as connection:
            return [bytes.fromhex(node) for node in self.ledger.consistency(connection, old, new)["proof"]]

    def request(self, old: int, checkpoint: Checkpoint | None = None, proof: list[bytes] | None = None) -> str:
        checkpoint = checkpoint or self.checkpoint()
        proof = self.proof(old, checkpoint.size) if proof is None else proof
        lines = "".join(base64.b64encode(node).decode() + "\n" for node in proof)
        return f"old {old}\n{lines}\n{checkpoint.note}"


def fork_of(log: Log, folder: Path) -> Log:
    """Another ledger under the same log key and origin, with a history of its own: a split view."""
    folder.mkdir()
    settings = Settings(database_url=f"sqlite:///{folder / 'fork.db'}", key_file=log.ledger.settings.key_file,
                        label_key_file=folder / "label.key", personal_key_file=folder / "personal.key",
                        log_origin=log.origin, base_url="https://trace.example")
    ensure_key(settings.label_key_file)
    ensure_personal_keys(settings.personal_key_file)
    ledger = Ledger(settings)
    ledger.db.migrate()
    return Log(ledger)
