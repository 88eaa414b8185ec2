"""Bundles checked offline, and the `ledger verify` / `verify-bundle` commands as users run them."""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
from datetime import timedelta

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from ledger.bundle import verify_bundle
from ledger.errors import ProofInvalid
from ledger.signednote import NoteSigner, sign_checkpoint
from tests.conftest import NOW, build_town, fill, register


@pytest.fixture
def bundle(ledger):
    town = build_town(ledger)
    a, b = register(ledger, town, 2)
    with ledger.db.writing() as c:
        ledger.record_batch(c, town.at_station, [fill(x, town, NOW + timedelta(hours=h)) for h in (1, 2, 3) for x in (a, b)],
                            now=NOW + timedelta(hours=4))
    return ledger.bundle(a)


def test_an_honest_bundle_verifies_offline(ledger, bundle):
    result = verify_bundle(json.loads(json.dumps(bundle)), ledger.verifier)
    assert result.events == 4 and result.checkpoint.size == 8


def test_a_bundle_follows_events_written_after_the_last_checkpoint(ledger, bundle):
    town_cylinder = bundle["cylinder"]
    with ledger.db.writing() as c:
        station = ledger.history(c, town_cylinder)[1].party
        from ledger.domain import EventKind, NewEvent
        from ledger.domain import Role
        from ledger.service import Actor
        ledger.record(c, Actor(Role.COMPANY, station, "station"), NewEvent(town_cylinder, EventKind.FILL, NOW + timedelta(hours=5), station, "late-fill-01",
                                         data={"net_kg": 14.4}), now=NOW + timedelta(hours=6))
    fresh = ledger.bundle(town_cylinder)
    assert len(fresh["events"]) == 5
    verify_bundle(fresh, ledger.verifier)


def altered(bundle, change):
    copy_ = copy.deepcopy(bundle)
    change(copy_)
    return copy_


@pytest.mark.parametrize("attack, message", [
    (lambda b: b["events"][2]["data"].update(net_kg=9.5), "was altered"),
    (lambda b: b["events"][1].update(party="F0000000"), "was altered"),
    (lambda b: b["proofs"].reverse(), "proof is for another log position"),
    (lambda b: b["proofs"][1].update(audit_path=b["proofs"][2]["audit_path"]), "does not lead to the checkpoint's root"),
    (lambda b: (b["events"].pop(2), b["proofs"].pop(2)), "expected seq 2"),
    (lambda b: b["events"].__setitem__(slice(1, 3), [b["events"][2], b["events"][1]]), "expected seq 1"),
    (lambda b: b.update(checkpoint=b["checkpoint"].replace("\n8\n", "\n9\n")), "does not verify"),
    (lambda b: b.update(format="something/else"), "not a cylinder-ledger/bundle/v1 bundle"),
    (lambda b: b["proofs"][0].update(audit_path=["zz"]), "not hexadecimal"),
])
def test_a_tampered_bundle_fails_with_a_clear_message(ledger, bundle, attack, message):
    with pytest.raises(ProofInvalid, match=message):
        verify_bundle(altered(bundle, attack), ledger.verifier)


def test_a_checkpoint_signed_by_another_key_fails(ledger, bundle):
    impostor = NoteSigner(ledger.settings.log_origin, Ed25519PrivateKey.generate())
    lines = bundle["checkpoint"].split("\n")
    forged = sign_checkpoint(impostor, lines[0], int(lines[1]), __import__("base64").b64decode(lines[2])).note
    with pytest.raises(ProofInvalid, match="no signature by the trusted key"):
        verify_bundle(dict(bundle, checkpoint=forged), ledger.verifier)


def run_cli(*args, env=None):
    return subprocess.run([sys.executable, "-m", "tools.cli", *args], capture_output=True, text=True,
                          env={**os.environ, **(env or {})}, timeout=120)


def test_verify_bundle_command(ledger, bundle, tmp_path):
    good, bad, key = tmp_path / "good.json", tmp_path / "bad.json", tmp_path / "log.pub"
    good.write_text(json.dumps(bundle))
    bad.write_text(json.dumps(altered(bundle, lambda b: b["events"][3]["data"].update(net_kg=1.0))))
    key.write_text(ledger.verifier.vkey())
    ok = run_cli("verify-bundle", str(good), "--public-key", str(key))
    assert ok.returncode == 0 and "valid: cylinder" in ok.stdout
    broken = run_cli("verify-bundle", str(bad), "--public-key", ledger.verifier.vkey())
    assert broken.returncode == 1 and "event seq 3 was altered" in broken.stdout
    garbage = tmp_path / "garbage.json"
    garbage.write_bytes(b"\x00not json")
    assert run_cli("verify-bundle", str(garbage), "--public-key", str(key)).returncode == 1


def test_verify_command_exit_codes_and_json(ledger, bundle):
    env = {"LEDGER_KEY_FILE": str(ledger.settings.key_file), "LEDGER_LOG_ORIGIN": ledger.settings.log_origin}
    url = ledger.settings.database_url
    intact = run_cli("verify", "--db", url, env=env)
    assert intact.returncode == 0 and "intact: 8 events checked, 0 breaks" in intact.stdout
    from tests.integration.test_storage import drop_triggers
    drop_triggers(ledger)
    with ledger.db.writing() as c:
        c.exec_driver_sql(f"UPDATE events SET occurred_at = '2026-05-01T09:00:00.000001Z' WHERE cylinder = '{bundle['cylinder']}' AND seq = 1")
    broken = run_cli("verify", "--db", url, "--json", env=env)
    assert broken.returncode == 1
    lines = [json.loads(line) for line in broken.stdout.splitlines()]
    assert {"kind": "chain_tampered", "cylinder": bundle["cylinder"], "seq": 1} == {k: lines[0][k] for k in ("kind", "cylinder", "seq")}
    assert lines[-1]["status"] == "broken"


# Numbers no named fact reaches (weights stop at 200 kg) but free data could hold: integral
# doubles from 2^53 up, which RFC 8785 writes as ECMAScript does, without ".0" or an exponent.
LARGE_NUMBERS = {"a": 9007199254740994.0, "b": 1e16, "c": 1.2345678901234568e20, "d": 1e21, "e": -0.0}


def test_a_stored_event_with_large_integral_numbers_verifies_offline(ledger, tmp_path):
    from ledger.domain import EventKind, NewEvent
    from ledger.storage import events as event_rows

    town = build_town(ledger)
    (cylinder,) = register(ledger, town, 1)
    stored = NewEvent(cylinder, EventKind.FILL, NOW + timedelta(hours=1), town.station, "fill-large-numbers",
                      data={"net_kg": 14.5, **LARGE_NUMBERS})
    with ledger.db.writing() as c:
        event_rows.append(c, [event_rows.prepare(stored)], NOW + timedelta(hours=2))
    bundle = ledger.bundle(cylinder)
    assert bundle["events"][1]["data"]["a"] == 9007199254740994
    assert verify_bundle(json.loads(json.dumps(bundle)), ledger.verifier).events == 2
    path = tmp_path / "bundle.json"
    path.write_text(json.dumps(bundle))
    checked = run_cli("verify-bundle", str(path), "--public-key", ledger.verifier.vkey())
    assert checked.returncode == 0 and "valid: cylinder" in checked.stdout, checked.stdout + checked.stderr
