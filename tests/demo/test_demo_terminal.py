"""`ledger demo` and the first mistakes, as a person at a terminal meets them: this worktree's CLI, real processes."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest

from tests.conftest import create_postgres_database, drop_postgres_database


ROOT = Path(__file__).resolve().parents[2]
ENV = {**os.environ, "PYTHONPATH": str(ROOT), "COLUMNS": "200"}
# A Python without PostgreSQL's driver: importing psycopg fails as on an install without the extra.
NO_DRIVER = """
import sys
class NoDriver:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("psycopg", "psycopg2"):
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
sys.meta_path.insert(0, NoDriver())
from tools.cli import main
sys.argv = ["ledger", *sys.argv[1:]]
main()
"""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def cli(*args: str, cwd: Path, python: list[str] | None = None) -> subprocess.CompletedProcess:
    command = (python or [sys.executable, "-m", "tools.cli"]) + list(args)
    return subprocess.run(command, cwd=cwd, env=ENV, capture_output=True, text=True, timeout=120)


def test_a_command_before_init_says_to_run_init_and_leaves_nothing_behind(tmp_path):
    done = cli("accounts", "create", "--role", "admin", "--db", f"sqlite:///{tmp_path / 'new.db'}", cwd=tmp_path)
    assert done.returncode == 2 and "Traceback" not in done.stderr and done.stdout == ""
    assert "run `ledger init` first" in done.stderr
    assert list(tmp_path.iterdir()) == []  # the database file connecting created is gone again


def test_a_command_before_init_on_postgresql_says_the_same():
    url = create_postgres_database()
    try:
        done = cli("sweep", "--db", url, cwd=Path.cwd())
        assert done.returncode == 2 and "Traceback" not in done.stderr
        assert "run `ledger init` first" in done.stderr
    finally:
        drop_postgres_database(url)


def test_a_postgresql_url_without_the_driver_says_what_to_install(tmp_path):
    done = cli("init", "--db", "postgresql://postgres@127.0.0.1:5432/postgres", cwd=tmp_path,
               python=[sys.executable, "-c", NO_DRIVER])
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert "pip install 'cylinder-ledger[postgres]'" in done.stderr


@pytest.mark.slow
def test_the_demo_says_what_to_do_next_and_keeps_requests_off_the_terminal(tmp_path):
    port = free_port()
    process = subprocess.Popen([sys.executable, "-m", "tools.cli", "demo", "--port", str(port), "--db",
                                str(tmp_path / "demo.db"), "--seed", "3"], cwd=tmp_path, env=ENV,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines: list[str] = []
    threading.Thread(target=lambda: lines.extend(line.rstrip("\n") for line in process.stdout), daemon=True).start()
    try:
        deadline = time.monotonic() + 240
        while not any("Serving" in line for line in lines):
            assert process.poll() is None and time.monotonic() < deadline, "\n".join(lines[-30:])
            time.sleep(0.2)
        text = "\n".join(lines)
        assert "What to do next" in text and f"http://127.0.0.1:{port}/signin" in text
        assert "ledger verify --db sqlite:///" in text and "demo-access.log" in text
        before = len(lines)
        for _ in range(5):
            assert httpx.get(f"http://127.0.0.1:{port}/", timeout=30).status_code == 200
        time.sleep(1)
        assert not any("GET /" in line for line in lines[before:])  # nothing on the terminal
        assert "GET" in (tmp_path / "demo-access.log").read_text(encoding="utf-8")
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=30) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
