"""`ledger verify` holds the log to what its witnesses cosigned, which the operator's database cannot forget.

The attack: an insider deletes every stored checkpoint (and its cosignatures),
then rewrites a chain consistently, relinked and rehashed. Against its own
tables the ledger then looks intact; the witnesses still hold the cosigned root.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import replace

import httpx
import pytest

from ledger.service import Ledger
from ledger.storage import tampering
from tests.conftest import build_town, register
from tests.witnessing import WitnessServer

from .test_mirror import _rehash_from, fills
from .test_publisher import publishing

pytestmark = pytest.mark.slow


def verify(ledger: Ledger, *args: str) -> tuple[int, list[dict], dict, str]:
    env = {**os.environ, "LEDGER_KEY_FILE": str(ledger.settings.key_file),
           "LEDGER_LOG_ORIGIN": ledger.settings.log_origin}
    env.pop("LEDGER_WITNESSES", None)
    done = subprocess.run([sys.executable, "-m", "tools.cli", "verify", "--db", ledger.settings.database_url,
                           "--json", *args], capture_output=True, text=True, env=env, timeout=120)
    lines = [json.loads(line) for line in done.stdout.splitlines()]
    return done.returncode, lines[:-1], lines[-1] if lines else {}, done.stderr


def forget_checkpoints(ledger: Ledger) -> None:
    """What a DBA with the schema owner's role can do: drop the append-only guard and delete the rows."""
    with ledger.db.writing() as c:
        if c.dialect.name == "sqlite":
            for (name,) in c.exec_driver_sql("SELECT name FROM sqlite_master WHERE type = 'trigger' "
                                             "AND tbl_name IN ('checkpoints', 'cosignatures')").fetchall():
                c.exec_driver_sql(f'DROP TRIGGER "{name}"')
        else:
            c.exec_driver_sql("ALTER TABLE checkpoints DISABLE TRIGGER ALL")
            c.exec_driver_sql("ALTER TABLE cosignatures DISABLE TRIGGER ALL")
        c.exec_driver_sql("DELETE FROM cosignatures")
        c.exec_driver_sql("DELETE FROM checkpoints")


@pytest.fixture
def witnessed(ledger, tmp_path):
    """A log of two cylinders of 21 events each, its checkpoint cosigned by a witness running on loopback."""
    with WitnessServer(tmp_path, "alpha") as alpha:
        published, clock = publishing(ledger, tmp_path, alpha)
        town = build_town(published)
        a, b = register(published, town, 2)
        fills(published, town, (a, b), 20)
        clock.advance(60)
        with httpx.Client(timeout=10) as client:
            published.publisher.run_once(client)  # signs if due, then has the witness cosign the newest
        assert published.publisher.newest().checkpoint.size == 42
        listed = tmp_path / "witnesses.txt"
        listed.write_text(alpha.line())
        yield published, listed, a, alpha


def test_a_log_that_still_holds_what_was_cosigned_is_intact(witnessed):
    ledger, listed, _, _ = witnessed
    code, breaks, summary, stderr = verify(ledger, "--witnesses", str(listed))
    assert (code, breaks) == (0, []), stderr
    assert summary["witnessed"] == ["alpha"] and summary["unasked"] == []


def test_deleted_checkpoints_and_a_consistent_rewrite_are_found_against_the_witness(witnessed):
    ledger, listed, a, _ = witnessed
    forget_checkpoints(ledger)
    with ledger.db.writing() as c:
        restore = tampering.suspend_triggers(c)
        # early fills only: the projection (the last fill's weight) still agrees, so only the log can tell
        _rehash_from(c, a, 1, lambda row: row[10].replace("14.5", "14.4") if row[2] <= 10 else None)
        restore()

    code, breaks, _, _ = verify(ledger)  # against its own tables alone the rewrite passes: nothing remembers
    assert (code, breaks) == (0, [])

    code, breaks, summary, _ = verify(ledger, "--witnesses", str(listed))
    assert code == 1 and summary["status"] == "broken"
    deleted = [b for b in breaks if b["kind"] == "checkpoint_deleted"]
    assert len(deleted) == 1 and "witness alpha cosigned the log at size 42" in deleted[0]["detail"]
    (mismatch,) = [b for b in breaks if b["kind"] == "checkpoint_mismatch"]
    assert "differs from the one witness alpha cosigned" in mismatch["detail"]
    assert a in mismatch["cylinders"]


def test_a_cut_tail_is_found_against_the_witness(witnessed):
    ledger, listed, _, _ = witnessed
    forget_checkpoints(ledger)
    with ledger.db.writing() as c:
        restore = tampering.suspend_triggers(c)
        for event_id in (41, 40):
            tampering.delete_event(c, event_id)
        restore()
    code, breaks, _, _ = verify(ledger, "--witnesses", str(listed))
    assert code == 1
    assert any(b["kind"] == "checkpoint_mismatch" and "fewer than the 42 witness alpha cosigned" in b["detail"]
               for b in breaks)


def test_a_witness_that_cannot_be_asked_is_an_error_not_a_pass(witnessed, tmp_path):
    ledger, _, _, alpha = witnessed
    alpha.stop()
    listed = tmp_path / "gone.txt"
    listed.write_text(alpha.line())
    code, breaks, summary, stderr = verify(ledger, "--witnesses", str(listed))
    assert code == 2 and breaks == [] and "could not hold the log to witness alpha" in stderr
    assert summary["unasked"] and summary["witnessed"] == []


def test_a_witness_list_that_does_not_parse_is_refused(ledger, tmp_path):
    listed = tmp_path / "bad.txt"
    listed.write_text("alpha not-a-url\n")
    code, _, _, stderr = verify(ledger, "--witnesses", str(listed))
    assert code == 2 and "error" in stderr
