"""`ledger accounts list|disable|rotate`, a role refused a party of the wrong kind, and first-run errors
said as one sentence (no traceback): run as the operator runs them, in subprocesses."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from tests.conftest import create_postgres_database, drop_postgres_database

from .served import LEDGER

pytestmark = pytest.mark.slow  # each case starts the CLI as its own process


def _env(folder: Path, **extra: str) -> dict[str, str]:
    return {"LEDGER_KEY_FILE": str(folder / "log.key"), "LEDGER_LABEL_KEY_FILE": str(folder / "label.key"),
            "PATH": "/usr/bin:/bin", "PYTHONPATH": os.environ.get("PYTHONPATH", ""), **extra}


def _ledger(folder: Path, *args: str, cwd: Path | None = None, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run([LEDGER, *args], env=_env(folder, **env), capture_output=True, text=True, timeout=60,
                          cwd=cwd or folder)


def _authenticates(world, token: str) -> bool:
    with world.ledger.db.reading() as c:
        return world.ledger.authenticate(c, token) is not None


def test_list_shows_every_account_and_no_token(offline_world, tmp_path) -> None:
    world, url = offline_world
    done = _ledger(tmp_path, "accounts", "list", "--db", url)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].split() == ["id", "role", "party", "name", "created", "disabled"]
    shop = next(line for line in lines[1:] if line.split()[0] == str(world.account_id("shop")))
    assert shop.split()[1:4] == ["shop", world.parties["shop"], "shop"] and shop.split()[-1] == "no"
    assert len(lines) == 1 + len(world.tokens)
    assert not any(token in done.stdout for token in world.tokens.values())


def test_rotate_prints_a_new_token_alone_and_the_old_stops_working(offline_world, tmp_path) -> None:
    world, url = offline_world
    account, old = world.account_id("transporter"), world.tokens["transporter"]
    done = _ledger(tmp_path, "accounts", "rotate", str(account), "--db", url)
    assert done.returncode == 0, done.stderr
    new = done.stdout.strip()
    assert done.stdout == new + "\n" and new.startswith("cl_") and new != old
    assert not _authenticates(world, old)
    with world.ledger.db.reading() as c:
        assert world.ledger.authenticate(c, new).account == account


def test_disable_refuses_the_token_and_cannot_be_rotated_back(offline_world, tmp_path) -> None:
    world, url = offline_world
    account, token = world.account_id("shop"), world.tokens["shop"]
    done = _ledger(tmp_path, "accounts", "disable", str(account), "--db", url)
    assert done.returncode == 0, done.stderr
    assert not _authenticates(world, token)
    listed = _ledger(tmp_path, "accounts", "list", "--db", url).stdout.splitlines()
    assert next(line for line in listed if line.split()[0] == str(account)).split()[-1] == "yes"
    again = _ledger(tmp_path, "accounts", "rotate", str(account), "--db", url)
    assert again.returncode == 2 and "disabled" in again.stderr and again.stdout == ""
    missing = _ledger(tmp_path, "accounts", "disable", "99999", "--db", url)
    assert missing.returncode == 2 and "no account 99999" in missing.stderr
    assert "Traceback" not in again.stderr + missing.stderr


def test_a_role_is_refused_a_party_of_another_kind_and_nothing_is_created(offline_world, tmp_path) -> None:
    world, url = offline_world
    before = _ledger(tmp_path, "accounts", "list", "--db", url).stdout
    for role, party in (("shop", "company"), ("company", "shop"), ("inspector", "company"),
                        ("regulator", "transporter")):
        done = _ledger(tmp_path, "accounts", "create", "--role", role, "--party", world.parties[party], "--db", url)
        assert done.returncode == 2 and done.stdout == "", done.stderr
        assert f"a {role} account acts for a" in done.stderr and "Traceback" not in done.stderr
    assert "gas_company" in _ledger(tmp_path, "accounts", "create", "--role", "shop", "--party",
                                    world.parties["company"], "--db", url).stderr
    fine = _ledger(tmp_path, "accounts", "create", "--role", "company", "--party", world.parties["station"],
                   "--db", url)  # a filling station's staff use company accounts
    assert fine.returncode == 0, fine.stderr
    after = _ledger(tmp_path, "accounts", "list", "--db", url).stdout
    assert len(after.splitlines()) == len(before.splitlines()) + 1


def test_a_command_before_init_says_run_init_first(tmp_path) -> None:
    done = _ledger(tmp_path, "accounts", "create", "--role", "admin", "--db", f"sqlite:///{tmp_path / 'new.db'}")
    assert done.returncode == 2 and done.stdout == ""
    assert "run `ledger init` first" in done.stderr and "Traceback" not in done.stderr


def test_a_command_before_init_on_postgresql_says_run_init_first(tmp_path) -> None:
    url = create_postgres_database()  # skips where there is no server
    try:
        done = _ledger(tmp_path, "accounts", "list", "--db", url)
        assert done.returncode == 2 and "run `ledger init` first" in done.stderr and "Traceback" not in done.stderr
    finally:
        drop_postgres_database(url)


def test_postgresql_without_its_driver_says_what_to_install(tmp_path) -> None:
    # pg8000 is a PostgreSQL driver this environment does not have: the same path as a missing psycopg.
    done = _ledger(tmp_path, "accounts", "list", "--db", "postgresql+pg8000://ledger@127.0.0.1/ledger")
    assert done.returncode == 2
    assert "pip install 'cylinder-ledger[postgres]'" in done.stderr and "Traceback" not in done.stderr


def test_psycopg_hidden_says_what_to_install(tmp_path) -> None:
    hide = tmp_path / "hide"
    hide.mkdir()
    (hide / "sitecustomize.py").write_text(
        "import sys\n"
        "class _Hide:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name.split('.')[0] in ('psycopg', 'psycopg_binary', 'psycopg_c'):\n"
        "            raise ModuleNotFoundError(f'No module named {name!r}', name=name)\n"
        "sys.meta_path.insert(0, _Hide())\n")
    env = _env(tmp_path)
    env["PYTHONPATH"] = f"{hide}:{env['PYTHONPATH']}"
    done = subprocess.run([LEDGER, "accounts", "list", "--db", "postgresql://ledger@127.0.0.1/ledger"], env=env,
                          capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert done.returncode == 2, done.stderr
    assert "pip install 'cylinder-ledger[postgres]'" in done.stderr and "Traceback" not in done.stderr


def test_bad_urls_are_named_plainly(tmp_path) -> None:
    for url, says in (("not a url", "cannot be read"), ("mysql://a@b/c", "unsupported database"),
                      ("postgresql://postgres@127.0.0.1:1/x", "cannot use the database")):
        done = _ledger(tmp_path, "accounts", "list", "--db", url)
        assert done.returncode == 2 and says in done.stderr, (url, done.stderr)
        assert "Traceback" not in done.stderr
