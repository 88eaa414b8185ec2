"""The incremental audit against what a database administrator could do behind the ledger's back.

Each attack is planted with the append-only triggers suspended, as the schema owner could; the
auditor's next round must find it, raise a finding naming the cylinder, and from then on the trace
says ``broken`` and the public label page says disputed, never intact. Runs on both backends.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from api.auditor import Auditor
from ledger import audit
from ledger.chain import BreakKind, recomputed
from ledger.errors import CheckpointMismatch
from ledger.storage import tampering
from ledger.supervision import Supervisor
from ledger.verify import audit as full_audit
from ledger.domain import Role
from ledger.service import Actor
from tests.conftest import NOW, build_town, fill, register
from tests.pages.conftest import sign_in

REGULATOR = Actor(Role.REGULATOR, None, "Officer Zhao")
ROOT = Path(__file__).resolve().parents[2]
INTACT = "完整，校验通过"
EDITED_DUE = re.compile(r"2099[-年/]")
DISPUTED = "有争议"
BANNER = 'id="ledger-disputed"'
COLUMNS = ("id, cylinder, seq, kind, occurred_at, recorded_at, party, person, to_ref, location, data, "
           "idempotency_key, prev_hash, hash")


def build_city(ledger, cylinders: int = 20, fills: int = 55):
    """``cylinders`` cylinders filled ``fills`` times each, interleaved in the log (> one 1,024-leaf chunk);
    the last one's first fill is an overfill, so it has an open finding."""
    town = build_town(ledger)
    codes = register(ledger, town, cylinders)
    for hour in range(1, fills + 1):
        with ledger.db.writing() as c:
            ledger.record_batch(c, town.at_station, [
                fill(code, town, NOW + timedelta(hours=hour), 16.5 if (hour, code) == (1, codes[-1]) else 14.5)
                for code in codes], now=NOW + timedelta(hours=hour, minutes=5))
    return town, codes


def more_traffic(ledger, town, codes, hour: int, judge: bool = True) -> None:
    """Fills of the first six cylinders; ``judge=False``: as a batch upload leaves them, queued for the reviewer."""
    items = [fill(code, town, NOW + timedelta(hours=hour)) for code in codes[:6]]
    outcomes = ledger.ingest_one(town.at_station, items, NOW + timedelta(hours=hour, minutes=5), judge=judge)
    assert {o.status for o in outcomes} == {"created"}


def audited(ledger):
    """One round of the incremental audit; returns the round and the auditor's findings."""
    done = Auditor(ledger, interval=1).audit_once()
    with ledger.db.reading() as c:
        raised = [f for f in ledger.findings(c, limit=200)["items"] if f["kind"] in audit.DISPUTING]
    return done, raised


def victim_rows(connection, cylinder: str) -> list[tuple]:
    sql = f"SELECT {COLUMNS} FROM events WHERE cylinder = '{cylinder}' ORDER BY seq"
    return [tuple(row) for row in connection.exec_driver_sql(sql)]


# -- the attacks ---------------------------------------------------------------------------------


def rewrite_checkpointed_data(ledger, codes) -> str:
    """A fill weight in the first, audited chunk changed; its stored hash left as it was."""
    with ledger.db.writing() as c:
        restore = tampering.suspend_triggers(c)
        cylinder, _, event_id = next(row for row in tampering.fills(c) if row[2] < 200)
        tampering.rewrite_event_data(c, event_id, tampering.event_data(c, event_id).replace("14.5", "13.5"))
        restore()
    return cylinder


def rewrite_consistently(ledger, codes) -> str:
    """Every event from seq 1 to the head of one chain rewritten, re-hashed and re-linked: the chain verifies."""
    cylinder = codes[3]
    with ledger.db.writing() as c:
        restore = tampering.suspend_triggers(c)
        rows = victim_rows(c, cylinder)
        previous = bytes(rows[0][13])
        for row in rows[1:]:
            data = row[10].replace("14.5", "13.5")
            changed = (*row[:10], data, row[11], previous, row[13])
            digest = recomputed(changed)
            c.exec_driver_sql(f"UPDATE events SET data = '{data}', prev_hash = %(p)s, hash = %(h)s WHERE id = {row[0]}"
                              .replace("%(p)s", _blob(c, previous)).replace("%(h)s", _blob(c, digest)))
            previous = digest
        restore()
    return cylinder


def _blob(connection, value: bytes) -> str:
    return f"X'{value.hex()}'" if connection.dialect.name == "sqlite" else f"'\\x{value.hex()}'::bytea"


def delete_newest(ledger, codes) -> str:
    """The three newest events removed (they were covered by a signed checkpoint)."""
    with ledger.db.writing() as c:
        restore = tampering.suspend_triggers(c)
        newest = c.exec_driver_sql("SELECT id, cylinder FROM events ORDER BY id DESC LIMIT 3").fetchall()
        for event_id, _ in newest:
            tampering.delete_event(c, event_id)
        restore()
    return newest[0][1]


def edit_due_date(ledger, codes) -> str:
    """The projected inspection due date pushed years out: the public page would show it."""
    with ledger.db.writing() as c:
        c.exec_driver_sql(f"UPDATE cylinders SET next_inspection_due = '2099-01-01' WHERE id = '{codes[5]}'")
    return codes[5]


def edit_finding_status(ledger, codes) -> str:
    """An open finding marked closed without a step in its closed loop."""
    with ledger.db.writing() as c:
        c.exec_driver_sql(f"UPDATE findings SET status = 'closed' WHERE cylinder = '{codes[-1]}' AND kind = 'overfill'")
    return codes[-1]


ATTACKS = {
    "rewrite_checkpointed_data": (rewrite_checkpointed_data, "chain_tampered", False),
    "rewrite_consistently": (rewrite_consistently, "chain_tampered", True),
    "delete_newest": (delete_newest, "sequence_gap", True),
    "edit_due_date": (edit_due_date, "projection_edited", False),
    "edit_finding_status": (edit_finding_status, "finding_status_edited", False),
}


@pytest.mark.parametrize("attack", list(ATTACKS))
def test_each_attack_is_found_by_the_next_round_and_the_cylinder_is_disputed_everywhere(ledger, attack):
    plant, kind, mismatch = ATTACKS[attack]
    town, codes = build_city(ledger)
    ledger.checkpoint()
    first, raised = audited(ledger)
    assert (first.new_events, first.breaks, raised) == (ledger_size(ledger), 0, [])
    cylinder = plant(ledger, codes)
    ledger.checkpoint() if attack not in ("rewrite_consistently", "delete_newest") else None
    done, raised = audited(ledger)
    assert done.breaks > 0
    assert kind in {f["kind"] for f in raised if f["cylinder"] == cylinder}, raised
    assert ("checkpoint_mismatch" in {f["kind"] for f in raised if f["cylinder"] is None}) is mismatch
    with ledger.db.reading() as c:
        trace = ledger.trace(c, cylinder)
        assert audit.status(c)["status"] == ("disputed" if mismatch else "consistent")
        assert cylinder in {i["cylinder"] for i in ledger.risk_cylinders(c, reason="broken_chain")["items"]}
    assert trace["chain"]["status"] == "broken"
    if attack in ("delete_newest", "rewrite_consistently"):  # the log no longer reproduces its signed checkpoint:
        # nothing is proven, and no bundle is made that a verifier would have to refuse
        with pytest.raises(CheckpointMismatch):
            ledger.bundle(cylinder)
    else:
        bundle = ledger.bundle(cylinder)
        assert bundle["disputed"] and kind in {d["kind"] for d in bundle["disputes"]}
    with ledger.db.writing() as c:
        token = ledger.create_account(c, role=Role.REGULATOR, party=None, name="regulator")
    with TestClient(create_app(ledger=ledger), follow_redirects=False) as client:
        page = client.get(f"/c/{cylinder}").text
        assert DISPUTED in page and INTACT not in page
        assert not EDITED_DUE.search(page)  # the chain's due date, never an edited projection's
        sign_in(client, token)
        staff = client.get(f"/trace/{cylinder}").text
        assert DISPUTED in staff and INTACT not in staff
        assert not EDITED_DUE.search(staff.split('id="findings"')[0])  # only the finding's note quotes it
        assert (BANNER in client.get("/").text) is mismatch
        assert client.get("/v1/audit").json()["status"] == ("disputed" if mismatch else "consistent")
        bearer = {"Authorization": f"Bearer {token}"}
        assert client.get(f"/v1/cylinders/{cylinder}", headers=bearer).json()["disputed"] is True
        assert client.get(f"/v1/cylinders/{cylinder}/trace", headers=bearer).json()["chain"]["status"] == "broken"
        untouched = next(code for code in codes[6:-1] if code != cylinder)
        assert client.get(f"/v1/cylinders/{untouched}", headers=bearer).json()["disputed"] is False
        if not mismatch:
            assert INTACT in client.get(f"/c/{untouched}").text
    again, raised_again = audited(ledger)  # still found, and not raised twice
    assert again.breaks > 0 and sorted(f["id"] for f in raised_again) == sorted(f["id"] for f in raised)


def ledger_size(ledger) -> int:
    with ledger.db.reading() as c:
        return c.exec_driver_sql("SELECT COUNT(*) FROM events").scalar_one()


def test_a_clean_ledger_under_traffic_raises_nothing_and_the_position_follows_the_checkpoints(ledger):
    town, codes = build_city(ledger, cylinders=12, fills=30)
    for hour in range(40, 46):
        more_traffic(ledger, town, codes, hour, judge=hour % 2 == 0)  # odd hours: still queued for review
        done, raised = audited(ledger)
        assert (done.breaks, raised) == (0, [])
    with ledger.db.reading() as c:
        (overfill,) = ledger.findings(c, kind="overfill")["items"]
    for action in ("close", "reopen"):  # the closed loop's own steps are no edit
        with ledger.db.writing() as c:
            ledger.finding_action(c, REGULATOR, overfill["id"], action=action, note=f"{action}: checked on site",
                                  now=NOW + timedelta(days=3))
        done, raised = audited(ledger)
        assert (done.breaks, raised) == (0, [])
    with ledger.db.reading() as c:
        status = audit.status(c)
        checkpoint = ledger.checkpoint()
    assert status["status"] == "consistent" and status["audited_size"] == checkpoint.size == ledger_size(ledger)
    assert status["audited_root"] == checkpoint.root.hex()


def test_an_edited_audit_position_is_itself_found(ledger):
    town, codes = build_city(ledger, cylinders=12, fills=90)
    ledger.checkpoint()
    audited(ledger)
    with ledger.db.writing() as c:
        c.exec_driver_sql("UPDATE audit_chunks SET root = prints WHERE start = 0")
    done, raised = audited(ledger)
    assert "checkpoint_mismatch" in {f["kind"] for f in raised}


def test_ledger_verify_names_an_edited_projection_and_an_edited_finding_status(ledger):
    town, codes = build_city(ledger, cylinders=6, fills=4)
    edit_due_date(ledger, codes)
    edit_finding_status(ledger, codes)
    judge = Supervisor()
    with ledger.db.reading() as c:
        found = list(full_audit(c, ledger.verifier, projected=lambda conn, ids: judge.projections(conn, ids, NOW)))
    named = {(b.kind, b.cylinder) for b in found}
    assert named == {(BreakKind.PROJECTION_EDITED, codes[5]), (BreakKind.FINDING_STATUS_EDITED, codes[-1])}
    detail = next(b.detail for b in found if b.kind is BreakKind.PROJECTION_EDITED)
    assert "next_inspection_due" in detail and "2099-01-01" in detail


def test_an_audit_finding_is_closed_only_by_a_person_and_reopened_while_the_defect_stays(ledger):
    town, codes = build_city(ledger, cylinders=6, fills=4)
    ledger.checkpoint()
    audited(ledger)
    edit_due_date(ledger, codes)
    _, (finding,) = audited(ledger)
    with ledger.db.writing() as c:  # closed while the edit is still there: the next round reopens it
        ledger.finding_action(c, REGULATOR, finding["id"], action="close", note="looked fine", now=NOW)
    audited(ledger)
    with ledger.db.reading() as c:
        history = ledger.finding(c, finding["id"])["history"]
    assert [h["action"] for h in history] == ["detect", "close", "reopen"] and history[-1]["status"] == "open"
    more_traffic(ledger, town, codes, 50)  # codes[5] is judged again and its projection rewritten
    audited(ledger)
    with ledger.db.reading() as c:  # no event explains an edit away: the finding waits for a person
        assert ledger.finding(c, finding["id"])["status"] == "open"
        assert ledger.trace(c, codes[5])["chain"]["status"] == "broken"


def test_the_ledger_verify_command_names_an_edited_projection(ledger, tmp_path):
    town, codes = build_city(ledger, cylinders=6, fills=4)
    ledger.checkpoint()
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT), "LEDGER_KEY_FILE": str(ledger.settings.key_file),
           "LEDGER_LOG_ORIGIN": ledger.settings.log_origin}
    command = [sys.executable, "-m", "tools.cli", "verify", "--db", ledger.settings.database_url, "--json"]
    clean = subprocess.run(command, env=env, cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert clean.returncode == 0, clean.stdout + clean.stderr
    edit_due_date(ledger, codes)
    done = subprocess.run(command, env=env, cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert done.returncode == 1, done.stderr
    lines = [json.loads(line) for line in done.stdout.splitlines()]
    assert [(b["kind"], b["cylinder"]) for b in lines[:-1]] == [("projection_edited", codes[5])]
    assert "next_inspection_due" in lines[0]["detail"] and lines[-1]["status"] == "broken"


def test_the_ledger_audit_command_runs_a_round_and_names_what_it_found(ledger, tmp_path):
    town, codes = build_city(ledger, cylinders=6, fills=4)
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT), "LEDGER_KEY_FILE": str(ledger.settings.key_file),
           "LEDGER_LABEL_KEY_FILE": str(ledger.settings.label_key_file), "LEDGER_LOG_ORIGIN": ledger.settings.log_origin}
    command = [sys.executable, "-m", "tools.cli", "audit", "--db", ledger.settings.database_url, "--json"]
    clean = subprocess.run(command, env=env, cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert clean.returncode == 0, clean.stdout + clean.stderr
    assert json.loads(clean.stdout.splitlines()[-1])["new_events"] == ledger_size(ledger)
    edit_due_date(ledger, codes)
    done = subprocess.run(command, env=env, cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert done.returncode == 1, done.stderr
    lines = [json.loads(line) for line in done.stdout.splitlines()]
    assert [(b["kind"], b["cylinder"]) for b in lines[:-1]] == [("projection_edited", codes[5])]
    with ledger.db.reading() as c:
        assert ledger.trace(c, codes[5])["chain"]["status"] == "broken"


def test_a_rounds_rolling_shares_are_a_rate_not_a_fixed_amount():
    """A shorter interval makes more, smaller rounds: the re-checked events and the compared projections
    per second stay the same (20,000 and 2,000 a round at 10 s), a round re-checking one chunk at least."""
    from types import SimpleNamespace

    served = SimpleNamespace(settings=SimpleNamespace(checkpoint_interval=10.0))
    every_ten = Auditor(served)
    assert (every_ten.recheck, every_ten.projections) == (20_000, 2_000)
    every_two = Auditor(served, interval=2)
    assert (every_two.recheck, every_two.projections) == (4_000, 400)
    every_half = Auditor(served, interval=0.5)
    assert (every_half.recheck, every_half.projections) == (audit.CHUNK, 100)
    assert Auditor(served, interval=0.5, recheck=50_000, projections=7).recheck == 50_000


def test_with_several_server_processes_one_audits_at_a_time(ledger):
    """Each process runs an auditor; the one whose turn comes less than an interval after another recorded a
    round stands by, so the rolling shares are the ledger's rate, not each process's. Once the other stops
    recording, the one standing by takes the turn over."""
    build_city(ledger, cylinders=4, fills=3)
    first, second = Auditor(ledger, interval=60), Auditor(ledger, interval=60)
    assert first.due() and second.due()  # nobody has audited yet
    first.audit_once()
    assert first.due()  # its own round does not hold it back
    assert not second.due()
    with ledger.db.reading() as c:
        at = audit.last_round_at(c)
    later = datetime.fromisoformat(at) + timedelta(seconds=61)
    assert second.due(later)  # the first stopped recording: the second takes the turn
    second.audit_once(later)
    assert not first.due(later + timedelta(seconds=1))
    assert second.due(later + timedelta(seconds=1))
