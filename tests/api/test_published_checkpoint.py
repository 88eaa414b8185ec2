"""GET /v1/log/checkpoint serves what the publisher stored; verify-bundle's witness options refuse clearly."""

from __future__ import annotations

import json

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from ledger.cosigning import WitnessKey
from ledger.signednote import NoteVerifier, open_checkpoint
from tests.witnessing import ledger_cli

from .conftest import World, event_body


def _size(world: World) -> int:
    verifier = NoteVerifier.from_vkey(world.client.get("/v1/log/public-key").text.strip())
    return open_checkpoint(verifier, world.client.get("/v1/log/checkpoint").text).size


def test_the_checkpoint_served_is_the_newest_stored_not_one_signed_per_request(world: World) -> None:
    assert _size(world) == 4  # none stored yet: one is signed for the first reader
    answer = world.client.post("/v1/events", json=event_body(world.cylinders[0]), headers=world.auth("station"))
    assert answer.status_code == 201
    before = world.counts()["checkpoints"]
    assert _size(world) == 4  # the log grew, but only the publisher signs, once an interval
    assert world.counts()["checkpoints"] == before
    event = answer.json()["event"]
    proof = world.client.get(f"/v1/events/{event['id']}/proof", headers=world.auth("shop")).json()
    assert proof["tree_size"] == 5  # a proof of an event no checkpoint holds yet has one signed
    assert _size(world) == 5


def test_a_ledger_without_witnesses_says_nothing_of_them_on_the_label_page(world: World) -> None:
    page = world.client.get(f"/c/{world.cylinders[0]}").text
    assert "第三方见证" not in page and "见证" not in page


def test_verify_bundle_names_what_is_missing_and_refuses_impossible_options(world: World, tmp_path) -> None:
    bundle = world.client.get(f"/v1/cylinders/{world.cylinders[1]}/bundle", headers=world.auth("shop")).json()
    (tmp_path / "b.json").write_text(json.dumps(bundle))
    vkey = world.ledger.verifier.vkey()
    witness = WitnessKey("witness.test/w1", Ed25519PrivateKey.generate().public_key()).vkey()

    def check(*options: str):
        return ledger_cli("verify-bundle", str(tmp_path / "b.json"), "--public-key", vkey, *options, cwd=tmp_path)

    assert check().returncode == 0
    missing = check("--witness-key", witness)
    assert missing.returncode == 1 and "0 of the 1 witness cosignature(s) required; none from witness.test/w1" in \
        " ".join(missing.stdout.split())
    too_many = check("--witness-key", witness, "--quorum", "2")
    assert too_many.returncode == 2 and "--quorum 2 needs at least 2 --witness-key" in too_many.stderr
    log_key_as_witness = check("--witness-key", vkey)
    assert log_key_as_witness.returncode == 2 and "0x04" in log_key_as_witness.stderr


def test_serve_refuses_a_broken_witness_list_or_quorum_before_starting(tmp_path) -> None:
    import os
    import subprocess

    from .served import LEDGER

    listed = tmp_path / "witnesses.txt"
    key = WitnessKey("witness.test/w1", Ed25519PrivateKey.generate().public_key()).vkey()
    for content, quorum, why in (("alpha http://127.0.0.1:9 not-a-key\n", "", "line 1: a witness key reads"),
                                 (f"alpha http://127.0.0.1:9 {key}\n", "2", "QUORUM is 2, but 1 witness(es)")):
        listed.write_text(content)
        env = {**os.environ, "LEDGER_WITNESSES": str(listed), "LEDGER_WITNESS_QUORUM": quorum,
               "LEDGER_KEY_FILE": str(tmp_path / "log.key"), "LEDGER_LABEL_KEY_FILE": str(tmp_path / "label.key")}
        done = subprocess.run([LEDGER, "serve", "--db", f"sqlite:///{tmp_path / 'l.db'}", "--port", "9"], env=env,
                              cwd=tmp_path, capture_output=True, text=True, timeout=60)
        assert done.returncode == 2 and why in " ".join(done.stderr.split()), done.stderr
