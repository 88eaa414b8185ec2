"""SQLite writers queue on a file lock beside the database (ledger.storage.db.WriterTurn)."""

from __future__ import annotations

import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ledger.storage.db import Database

HOLD = """
import sys, time
from ledger.storage.db import Database
db = Database(sys.argv[1])
with db.writing():
    print("writing", flush=True)
    time.sleep(float(sys.argv[2]))
print("done", flush=True)
"""


def _hold(url: str, seconds: float) -> subprocess.Popen:
    child = subprocess.Popen([sys.executable, "-c", HOLD, url, str(seconds)], stdout=subprocess.PIPE, text=True,
                             cwd=Path(__file__).resolve().parents[2])
    assert child.stdout.readline().strip() == "writing"
    return child


@pytest.fixture
def migrated(tmp_path):
    """A migrated SQLite ledger database and its URL."""
    url = f"sqlite:///{tmp_path / 'turn.db'}"
    database = Database(url)
    database.migrate()
    yield url, database
    database.dispose()


def test_a_writer_waits_for_another_process_and_goes_in_the_moment_it_is_done(migrated):
    url, database = migrated
    child = _hold(url, 1.0)
    try:
        started = time.perf_counter()
        with database.writing() as connection:
            waited = time.perf_counter() - started
            connection.exec_driver_sql("SELECT 1")
        assert child.wait(10) == 0 and child.stdout.read().strip() == "done"
        assert 0.5 < waited < 1.5  # it waited for the other to finish, and no longer than that
    finally:
        child.kill()


def test_a_killed_writer_leaves_no_lock_behind(migrated):
    url, database = migrated
    child = _hold(url, 60.0)
    child.send_signal(signal.SIGKILL)
    child.wait(10)
    started = time.perf_counter()
    with database.writing() as connection:
        connection.exec_driver_sql("SELECT 1")
    assert time.perf_counter() - started < 5


def test_one_turn_per_file_in_a_process_and_a_bounded_wait(tmp_path):
    import threading

    from ledger.storage.db import WriterTurn

    first, second = Database(f"sqlite:///{tmp_path / 'turn.db'}"), Database(f"sqlite:///{tmp_path / 'turn.db'}")
    first.migrate()
    try:
        with first.writing():
            turn = first._turn
            assert second._turn is None or second._turn is turn
            assert WriterTurn.for_file(tmp_path / "turn.db-writer") is turn  # shared, not a second flock
            turn.release()
            turn.timeout, failed = 0.2, []

            def other_thread() -> None:
                try:
                    with second.writing():
                        pass
                except TimeoutError as error:
                    failed.append(error)

            waiter = threading.Thread(target=other_thread)
            waiter.start()
            waiter.join(10)
            assert failed and "held turn.db-writer" in str(failed[0])  # refused like a busy database, not hung
        turn.timeout = 60.0
        with second.writing() as connection:  # and once the turn is free, it goes in
            connection.exec_driver_sql("SELECT 1")
    finally:
        first.dispose()
        second.dispose()


def test_a_turn_taken_on_one_thread_may_be_given_back_on_another(migrated):
    """FastAPI enters a route's transaction on one worker thread and may leave it on another."""
    import threading

    _, database = migrated
    writing, entered, finished = database.writing(), threading.Event(), threading.Event()

    def enter_and_stay() -> None:  # the entering thread is still alive when another leaves
        writing.__enter__()
        entered.set()
        finished.wait(30)

    enterer = threading.Thread(target=enter_and_stay)
    enterer.start()
    assert entered.wait(10)
    writing.__exit__(None, None, None)  # left on this thread
    database._turn.timeout = 5.0
    with database.writing() as connection:  # the turn was given back: not held forever
        connection.exec_driver_sql("SELECT 1")
    finished.set()
    enterer.join(10)


def test_the_log_is_checkpointed_after_a_commit_while_no_turn_is_held(migrated, monkeypatch):
    url, database = migrated
    wal = _emptied_log(url)
    with database.reading() as c:
        assert c.exec_driver_sql("PRAGMA wal_autocheckpoint").scalar() == 0  # never inside a commit
    seen: list[bool] = []
    checkpoint = database._checkpoint_if_due

    def observed() -> None:
        seen.append(database._turn._threads.locked())
        checkpoint()

    monkeypatch.setattr(database, "_checkpoint_if_due", observed)
    monkeypatch.setattr("ledger.storage.db.CHECKPOINT_SECONDS", 0.0)
    with database.writing() as c:
        c.exec_driver_sql("CREATE TABLE scratch (x TEXT)")
    payload = "x" * 3000  # most of a page per row: a log that is never copied back grows by a page a write
    for _ in range(300):
        with database.writing() as c:
            c.exec_driver_sql("INSERT INTO scratch VALUES (?)", (payload,))
            c.exec_driver_sql("DELETE FROM scratch")
    assert seen == [False] * 301
    assert wal.stat().st_size < 100 * 4096  # copied back and restarted, not 300 pages long


class _AppendsDuringEachCopy:
    """The raw connection ``_checkpoint_if_due`` uses, where another process writes while each passive
    copy runs, as it does under a steady stream of writes: its transaction began before the copy ended."""

    def __init__(self, raw, other: sqlite3.Connection) -> None:
        self.raw, self.other = raw, other

    @property
    def driver_connection(self):
        return self

    def execute(self, sql: str):
        if "PASSIVE" not in sql:
            return self.raw.driver_connection.execute(sql)
        self.other.execute("BEGIN IMMEDIATE")
        self.other.execute("INSERT INTO scratch VALUES (?)", ("y" * 3000,))
        result = self.raw.driver_connection.execute(sql)  # sqlite3 runs the copy here, at the first step
        self.other.execute("COMMIT")
        return result

    def close(self) -> None:
        self.raw.close()


def _emptied_log(url: str) -> Path:
    """The write-ahead log, emptied of what the migrations wrote: a restarted log keeps its file's size, so
    only what the test writes may count."""
    with sqlite3.connect(url.removeprefix("sqlite:///")) as raw:
        raw.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    return Path(url.removeprefix("sqlite:///") + "-wal")


def _scratch(url: str, database: Database, monkeypatch) -> tuple[Path, sqlite3.Connection]:
    monkeypatch.setattr("ledger.storage.db.CHECKPOINT_SECONDS", 0.0)
    monkeypatch.setattr("ledger.storage.db.RESTART_FRAMES", 20)
    with database.writing() as c:
        c.exec_driver_sql("CREATE TABLE scratch (x TEXT)")
    other = sqlite3.connect(url.removeprefix("sqlite:///"), isolation_level=None, timeout=60)
    return Path(url.removeprefix("sqlite:///") + "-wal"), other


def test_a_long_log_starts_again_though_others_append_while_it_is_copied(migrated, monkeypatch):
    """Were the log restarted only when a write finds it wholly copied, it would never be: another process
    has always appended meanwhile. It would grow with every commit (here to some 1,000 pages)."""
    url, database = migrated
    _emptied_log(url)
    wal, other = _scratch(url, database, monkeypatch)
    real = database.reader.raw_connection
    monkeypatch.setattr(database.reader, "raw_connection", lambda: _AppendsDuringEachCopy(real(), other))
    try:
        for _ in range(300):
            with database.writing() as c:
                c.exec_driver_sql("INSERT INTO scratch VALUES (?)", ("x" * 3000,))
        assert other.execute("SELECT COUNT(*) FROM scratch").fetchone()[0] > 300  # the others did append
        assert wal.stat().st_size < 100 * 4096  # restarted, not some 1,000 pages long
    finally:
        other.close()


def test_a_reader_in_the_log_delays_its_restart_but_holds_no_writer_up(migrated, monkeypatch):
    url, database = migrated
    _, other = _scratch(url, database, monkeypatch)
    monkeypatch.setattr("ledger.storage.db.RESTART_FRAMES", 1)
    reader = sqlite3.connect(url.removeprefix("sqlite:///"), isolation_level=None)

    def turn_and_checkpoint() -> float:  # a write turn that adds nothing: the log stays as the reader saw it
        started = time.perf_counter()
        with database.writing() as c:
            c.exec_driver_sql("SELECT 1")
        return time.perf_counter() - started

    try:
        other.execute("INSERT INTO scratch VALUES (?)", ("y" * 3000,))  # another process's commit, in the log
        reader.execute("BEGIN")
        reader.execute("SELECT COUNT(*) FROM scratch").fetchone()  # a snapshot of the whole log, held
        for _ in range(3):  # all of the log copied each time, so each checkpoint tries to restart it
            assert turn_and_checkpoint() < 2.0  # waiting briefly for the reader, not SQLite's minute
        reader.execute("COMMIT")
        turn_and_checkpoint()  # the reader gone, the log restarts
        with database.writing() as c:
            c.exec_driver_sql("INSERT INTO scratch VALUES (?)", ("x" * 3000,))
        assert other.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()[1] < 5  # written from its start
    finally:
        reader.close()
        other.close()
