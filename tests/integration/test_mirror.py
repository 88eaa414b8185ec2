"""A mirror as users run it: `ledger serve` for the log, `ledger mirror follow` into a database of its own,
`ledger serve` on that copy, and `ledger verify --mirror` naming what a database administrator changed."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from ledger.bundle import verify_bundle
from ledger.chain import recomputed
from ledger.service import Ledger
from ledger.signednote import NoteSigner
from ledger.storage import Database, tampering
from ledger.storage import events as event_rows
from tests.api.served import Server
from tests.conftest import NOW, build_town, create_postgres_database, drop_postgres_database, fill, make_settings, register

pytestmark = pytest.mark.slow


def cli(*args: str, env: dict | None = None, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "tools.cli", *args], capture_output=True, text=True,
                          env={**os.environ, **(env or {})}, cwd=cwd, timeout=180)


@pytest.fixture
def other_url(ledger, tmp_path):
    """A factory of empty databases on the log's backend (the mirror's own, a fork's)."""
    made: list[str] = []

    def make(name: str) -> str:
        if ledger.db.is_sqlite:
            return f"sqlite:///{tmp_path / (name + '.db')}"
        made.append(create_postgres_database())
        return made[-1]

    yield make
    for url in made:
        drop_postgres_database(url)


def fills(ledger: Ledger, town, cylinders, rounds: int, start: int = 1) -> None:
    """Record the fills, then have a checkpoint of them signed, as the log's publisher would within its interval."""
    with ledger.db.writing() as c:
        ledger.record_batch(c, town.at_station, [fill(x, town, NOW + timedelta(hours=h)) for h in range(start, start + rounds)
                                                 for x in cylinders], now=NOW + timedelta(hours=start + rounds))
    ledger.checkpoint()


def follow(log: Server, mirror_url: str, vkey: str) -> subprocess.CompletedProcess:
    return cli("mirror", "follow", log.base, "--db", mirror_url, "--log-key", vkey, "--once")


def counts(url: str) -> tuple[int, int]:
    database = Database(url)
    try:
        with database.reading() as c:
            return (event_rows.log_size(c), c.exec_driver_sql("SELECT COUNT(*) FROM checkpoints").scalar_one())
    finally:
        database.dispose()


def test_a_mirror_catches_up_incrementally_and_serves_what_it_verified(ledger, other_url, tmp_path):
    town = build_town(ledger)
    a, b, c = register(ledger, town, 3)
    fills(ledger, town, (a, b, c), 2)
    vkey = ledger.verifier.vkey()
    mirror_url = other_url("mirror")
    with Server(ledger.settings.database_url, tmp_path, workers=1) as log:
        first = follow(log, mirror_url, vkey)
        assert first.returncode == 0, first.stdout + first.stderr
        assert "verified and stored" in first.stdout and "at size 9 (9 new events)" in first.stdout
        fills(ledger, town, (a, c), 3, start=5)  # events keep flowing
        second = follow(log, mirror_url, vkey)
        assert second.returncode == 0 and "at size 15 (6 new events)" in second.stdout, second.stdout + second.stderr
        again = follow(log, mirror_url, vkey)
        assert again.returncode == 0 and "up to date" in again.stdout
        page = httpx.get(f"{log.base}/v1/log/entries", params={"start": 3, "end": 5000}).json()
        assert page["start"] == 3 and page["end"] == 15 and [e["id"] for e in page["entries"]] == list(range(3, 15))
        assert httpx.get(f"{log.base}/v1/log/entries", params={"start": 5, "end": 5}).status_code == 422
        log_note = httpx.get(f"{log.base}/v1/log/checkpoint").text
    assert counts(mirror_url) == (15, 2)

    # The copy is served by a process that never saw the log's signing key.
    folder = tmp_path / "mirror-host"
    folder.mkdir()
    env = {"LEDGER_KEY_FILE": str(folder / "log.key"), "LEDGER_LABEL_KEY_FILE": str(folder / "label.key")}
    token = cli("accounts", "create", "--role", "regulator", "--db", mirror_url, env=env).stdout.strip()
    with Server(mirror_url, folder, workers=1) as copy:
        auth = {"Authorization": f"Bearer {token}"}
        assert httpx.get(f"{copy.base}/v1/log/checkpoint").text == log_note
        assert httpx.get(f"{copy.base}/v1/log/public-key").text == vkey + "\n"  # the log's, not the host's
        trace = httpx.get(f"{copy.base}/v1/cylinders/{a}/trace", headers=auth)
        assert trace.status_code == 200, trace.text
        assert trace.json()["chain"]["status"] == "intact" and trace.json()["chain"]["length"] == 6
        events = httpx.get(f"{copy.base}/v1/cylinders/{a}/events", headers=auth).json()["items"]
        with ledger.db.reading() as conn:
            assert [e["hash"] for e in events] == [e.hash.hex() for e in ledger.history(conn, a)]
        proof = httpx.get(f"{copy.base}/v1/events/{events[-1]['id']}/proof", headers=auth)
        assert proof.status_code == 200 and proof.json()["tree_size"] == 15
        bundle = httpx.get(f"{copy.base}/v1/cylinders/{a}/bundle", headers=auth).json()
    assert verify_bundle(bundle, ledger.verifier).events == 6  # with the log's key, not the mirror host's
    env = {"LEDGER_KEY_FILE": str(ledger.settings.key_file), "LEDGER_LOG_ORIGIN": ledger.settings.log_origin}
    audit = cli("verify", "--db", ledger.settings.database_url, "--mirror", mirror_url, env=env)
    assert audit.returncode == 0 and "intact: 15 events checked, 0 breaks" in audit.stdout, audit.stdout + audit.stderr


def test_a_fork_signed_with_the_same_key_is_refused_and_nothing_is_stored(ledger, other_url, tmp_path):
    town = build_town(ledger)
    cylinders = register(ledger, town, 3)
    fills(ledger, town, cylinders, 2)
    vkey = ledger.verifier.vkey()
    mirror_url = other_url("mirror")
    fork_folder = tmp_path / "fork"
    fork_folder.mkdir()
    fork = Ledger(make_settings(other_url("fork"), tmp_path))  # the same key file and origin
    fork.db.migrate()
    try:
        fork_town = build_town(fork)
        (x,) = register(fork, fork_town, 1)
        with Server(ledger.settings.database_url, tmp_path, workers=1) as log:
            assert follow(log, mirror_url, vkey).returncode == 0
        assert counts(mirror_url) == (9, 1)
        with Server(fork.settings.database_url, tmp_path, workers=1) as forked:
            smaller = follow(forked, mirror_url, vkey)
            assert smaller.returncode == 1 and "REFUSED" in smaller.stdout and "smaller than the size 9" in smaller.stdout
            fills(fork, fork_town, [x], 8)  # now 9 events, another history
            same = follow(forked, mirror_url, vkey)
            assert same.returncode == 1 and "split view: the log signed two different roots at size 9" in same.stdout
            fills(fork, fork_town, [x], 3, start=20)
            bigger = follow(forked, mirror_url, vkey)
            assert bigger.returncode == 1 and "not consistent with the one at size 9" in bigger.stdout, bigger.stdout
            other_key = NoteSigner("test.cylinder-ledger/log", Ed25519PrivateKey.generate()).verifier.vkey()
            wrong = follow(forked, mirror_url, other_key)
            assert wrong.returncode == 1 and "this database mirrors the log test.cylinder-ledger/log" in wrong.stdout
        assert counts(mirror_url) == (9, 1)
    finally:
        fork.db.dispose()


def test_a_follower_keeps_following_and_reports_each_round(ledger, other_url, tmp_path):
    town = build_town(ledger)
    a, b = register(ledger, town, 2)
    mirror_url = other_url("mirror")
    with Server(ledger.settings.database_url, tmp_path, workers=1) as log:
        follower = subprocess.Popen(
            [sys.executable, "-m", "tools.cli", "mirror", "follow", log.base, "--db", mirror_url,
             "--log-key", ledger.verifier.vkey(), "--interval", "0.3"],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"})
        try:
            assert _eventually(lambda: counts(mirror_url) == (2, 1))
            fills(ledger, town, (a, b), 3)
            assert _eventually(lambda: counts(mirror_url) == (8, 2))
        finally:
            follower.send_signal(signal.SIGINT)  # as Ctrl-C stops it
            out = follower.communicate(timeout=60)[0]
    assert follower.returncode == 0, out
    assert "at size 2 (2 new events)" in out and "at size 8 (6 new events)" in out


def _eventually(check, seconds: float = 60) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            if check():
                return True
        except Exception:  # noqa: BLE001 - the follower has not created the schema yet
            pass
        time.sleep(0.2)
    return False


def _rehash_from(c, cylinder: str, first: int, change) -> None:
    """Rewrite a cylinder's events from seq ``first`` on, each relinked and rehashed: a consistent chain."""
    rows = event_rows.raw_history(c, cylinder)
    previous = rows[first - 1][13]
    for row in rows[first:]:
        new = list(row)
        new[10] = change(row) or row[10]
        new[12] = previous
        new[13] = recomputed(tuple(new))
        c.exec_driver_sql("UPDATE events SET data = %s, prev_hash = %s, hash = %s WHERE id = %s".replace(
            "%s", "?" if c.dialect.name == "sqlite" else "%s"), (new[10], new[12], new[13], row[0]))
        previous = new[13]


def test_a_rewritten_or_altered_event_in_the_log_is_refused(ledger, other_url, tmp_path):
    town = build_town(ledger)
    a, b = register(ledger, town, 2)
    vkey = ledger.verifier.vkey()
    mirror_url = other_url("mirror")
    with Server(ledger.settings.database_url, tmp_path, workers=1) as log:
        assert follow(log, mirror_url, vkey).returncode == 0
        fills(ledger, town, (a, b), 2)
        httpx.get(f"{log.base}/v1/log/checkpoint")  # signed at size 6, not yet fetched by the mirror
        with ledger.db.writing() as c:
            restore = tampering.suspend_triggers(c)
            _rehash_from(c, b, 2, lambda row: row[10].replace("14.5", "13"))  # the log's last event, rehashed
            restore()
        rewritten = follow(log, mirror_url, vkey)
        assert rewritten.returncode == 1 and "changed after it signed" in rewritten.stdout, rewritten.stdout
        fresh_url = other_url("fresh")
        fresh = follow(log, fresh_url, vkey)  # no checkpoint held, so no consistency proof to ask for
        assert fresh.returncode == 1 and "do not reproduce the root of the log's checkpoint at size 6" in fresh.stdout
        with ledger.db.writing() as c:
            restore = tampering.suspend_triggers(c)
            tampering.rewrite_event_data(c, 2, '{"net_kg":9.5}')  # its hash kept
            restore()
        altered = follow(log, other_url("fresh-again"), vkey)
        assert altered.returncode == 1 and "entry 2" in altered.stdout and "was altered" in altered.stdout
    assert counts(mirror_url) == (2, 1)
    assert counts(fresh_url) == (0, 0)


@pytest.fixture
def mirrored(ledger, other_url, tmp_path):
    """A log of two cylinders of 61 events each, under checkpoints at sizes 2, 42, 82 and 122, and a mirror of it."""
    town = build_town(ledger)
    a, b = register(ledger, town, 2)
    ledger.checkpoint()
    for start in range(1, 60, 20):
        fills(ledger, town, (a, b), 20, start=start)
        ledger.checkpoint()
    mirror_url = other_url("mirror")
    with Server(ledger.settings.database_url, tmp_path, workers=1) as log:
        assert follow(log, mirror_url, ledger.verifier.vkey()).returncode == 0
    return town, a, b, mirror_url


def audit(ledger, *args: str) -> tuple[int, list[dict]]:
    env = {"LEDGER_KEY_FILE": str(ledger.settings.key_file), "LEDGER_LOG_ORIGIN": ledger.settings.log_origin}
    done = cli("verify", "--db", ledger.settings.database_url, "--json", *args, env=env)
    return done.returncode, [json.loads(line) for line in done.stdout.splitlines()][:-1]


def test_a_consistent_rewrite_of_seq_1_to_49_is_located_by_cylinder_and_seq(ledger, mirrored):
    _, a, _, mirror_url = mirrored
    with ledger.db.writing() as c:
        restore = tampering.suspend_triggers(c)
        _rehash_from(c, a, 1, lambda row: row[10].replace("14.5", "12") if row[2] <= 49 else None)
        restore()
    code, found = audit(ledger, "--mirror", mirror_url)
    assert code == 1
    differs = [f for f in found if f["kind"] == "event_differs"]
    assert {f["cylinder"] for f in differs} == {a}
    assert [f["seq"] for f in differs] == list(range(1, 61))  # seq 50..60 differ too: they were relinked
    assert all("data" in f["detail"] for f in differs if f["seq"] <= 49)
    assert all("data" not in f["detail"] and "prev_hash" in f["detail"] for f in differs if f["seq"] >= 50)
    # Without a mirror the mismatch is narrowed to the positions after the last checkpoint that still matches.
    code, found = audit(ledger)
    assert code == 1
    (first, *_) = [f for f in found if f["kind"] == "checkpoint_mismatch"]
    assert "the first changed event lies at log positions 2 to 41" in first["detail"]
    assert a in first["cylinders"]


def test_a_cut_tail_is_located_event_by_event(ledger, mirrored):
    with ledger.db.writing() as c:
        restore = tampering.suspend_triggers(c)
        last = event_rows.log_size(c) - 1
        tail = [(e.cylinder, e.seq) for e in (event_rows.get(c, i) for i in range(last - 4, last + 1))]
        for position in range(last - 4, last + 1):
            tampering.delete_event(c, position)
        restore()
    code, found = audit(ledger, "--mirror", mirrored[3])
    assert code == 1
    deleted = [(f["cylinder"], f["seq"]) for f in found if f["kind"] == "event_deleted"]
    assert sorted(deleted) == sorted(tail)


def test_a_deleted_event_is_named(ledger, mirrored):
    _, a, _, mirror_url = mirrored
    with ledger.db.writing() as c:
        victim = event_rows.history(c, a)[20]
        restore = tampering.suspend_triggers(c)
        tampering.delete_event(c, victim.id)
        restore()
    code, found = audit(ledger, "--mirror", mirror_url)
    assert code == 1
    assert [(f["cylinder"], f["seq"]) for f in found if f["kind"] == "event_deleted"] == [(a, 20)]


def test_an_event_put_in_another_ones_place_is_named_deleted_and_inserted(ledger, mirrored):
    _, a, _, mirror_url = mirrored
    with ledger.db.writing() as c:
        last = event_rows.log_size(c) - 1
        victim = event_rows.get(c, last)
        forged = list(event_rows.raw_history(c, a)[-1])
        forged[0], forged[2], forged[11], forged[12] = last, forged[2] + 1, "forged-0001", forged[13]
        forged[13] = recomputed(tuple(forged))
        restore = tampering.suspend_triggers(c)
        tampering.delete_event(c, last)
        marks = ", ".join(["?" if c.dialect.name == "sqlite" else "%s"] * 14)
        c.exec_driver_sql(f"INSERT INTO events ({event_rows.COLUMNS}) VALUES ({marks})", tuple(forged))
        restore()
    code, found = audit(ledger, "--mirror", mirror_url)
    assert code == 1
    assert [(f["kind"], f["cylinder"], f["seq"]) for f in found if f["kind"].startswith("event_")] == [
        ("event_deleted", victim.cylinder, victim.seq), ("event_inserted", a, forged[2])]


def test_verify_without_the_key_file_exits_2(ledger, tmp_path):
    build_town(ledger)
    done = cli("verify", "--db", ledger.settings.database_url,
               env={"LEDGER_KEY_FILE": str(tmp_path / "nowhere.key")})
    assert done.returncode == 2 and "no log key at" in done.stderr and "nowhere.key" in done.stderr


def test_a_bad_key_or_an_unreachable_log_exits_2_and_says_why(tmp_path):
    url = f"sqlite:///{tmp_path / 'mirror.db'}"
    bad_key = cli("mirror", "follow", "http://127.0.0.1:9", "--db", url, "--log-key", "not-a-key", "--once")
    assert bad_key.returncode == 2 and "--log-key" in bad_key.stderr
    vkey = NoteSigner("test.cylinder-ledger/log", Ed25519PrivateKey.generate()).verifier.vkey()
    nowhere = cli("mirror", "follow", "http://127.0.0.1:9", "--db", url, "--log-key", vkey, "--once")
    assert nowhere.returncode == 2 and "the log did not answer" in nowhere.stderr
