"""Witnesses for the publisher's tests: `ledger witness serve` as a subprocess, and one that lies.

``WitnessServer`` is the real witness (``ledger witness init`` / ``add-log`` /
``serve``) on a free loopback port. ``LyingWitness`` answers every
``add-checkpoint`` with a cosignature line under its real name and key ID whose
signature is wrong: what no honest witness sends, so it is built here.
"""

from __future__ import annotations

import subprocess
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from ledger.cosigning import WitnessKey, cosign

from .api.served import LEDGER, free_port


def ledger_cli(*args: str, cwd: Path, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run([LEDGER, *args], cwd=cwd, capture_output=True, text=True, timeout=timeout)


class WitnessServer:
    """``ledger witness serve`` with its own SQLite database and key in ``folder``."""

    def __init__(self, folder: Path, name: str) -> None:
        self.folder = folder
        self.name = name
        self.db = f"sqlite:///{folder / (name + '.db')}"
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.process: subprocess.Popen | None = None
        done = ledger_cli("witness", "init", "--name", f"witness.test/{name}", "--db", self.db,
                          "--key", str(folder / (name + ".key")), cwd=folder)
        assert done.returncode == 0, done.stderr
        self.vkey = done.stdout.strip()
        self.key = WitnessKey.from_vkey(self.vkey)

    def add_log(self, origin: str, log_vkey: str) -> None:
        done = ledger_cli("witness", "add-log", origin, log_vkey, "--db", self.db, cwd=self.folder)
        assert done.returncode == 0, done.stderr

    def line(self) -> str:
        """This witness's line of a LEDGER_WITNESSES file."""
        return f"{self.name} {self.url} {self.vkey}\n"

    def __enter__(self) -> WitnessServer:
        self.log = self.folder / f"witness-{self.name}.log"
        with self.log.open("wb") as out:
            self.process = subprocess.Popen(
                [LEDGER, "witness", "serve", "--db", self.db, "--host", "127.0.0.1", "--port", str(self.port)],
                cwd=self.folder, stdout=out, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"ledger witness serve exited: {self.log.read_text()[-2000:]}")
            try:
                if httpx.get(self.url + "/", timeout=1).status_code == 200:
                    return self
            except httpx.TransportError:
                time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"ledger witness serve did not come up: {self.log.read_text()[-2000:]}")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def __exit__(self, *_exc) -> None:
        self.stop()


class LyingWitness:
    """Answers every add-checkpoint 200 with a cosignature whose signature does not verify."""

    def __init__(self, name: str = "liar") -> None:
        self.name = name
        self._private = Ed25519PrivateKey.generate()
        self.key = WitnessKey(f"witness.test/{name}", self._private.public_key())
        self.vkey = self.key.vkey()
        self.requests: list[str] = []
        lying = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - the standard library's name
                body = self.rfile.read(int(self.headers.get("Content-Length", "0"))).decode()
                lying.requests.append(body)
                text = body.split("\n\n", 1)[1]
                text = text[: text.rfind("\n\n") + 1]  # the checkpoint's note text
                line = cosign(lying.key.name, lying._private, text + "tampered\n", int(time.time()))
                answer = line.encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/plain")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, *_args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def line(self) -> str:
        return f"{self.name} {self.url} {self.vkey}\n"

    def __enter__(self) -> LyingWitness:
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *_exc) -> None:
        self.server.shutdown()
        self.server.server_close()
