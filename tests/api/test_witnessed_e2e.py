"""End to end: `ledger serve` and two `ledger witness serve` processes on loopback.

Events arrive over HTTP; nobody asks for a checkpoint, yet the server publishes
one, both witnesses cosign it, and GET /v1/log/checkpoint carries both
cosignatures. A bundle then verifies offline with both witness keys and a quorum
of two, and fails naming the witness whose cosignature is missing when a key is
wrong. The label page says who witnessed the cylinder's record.
"""

from __future__ import annotations

import time

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from ledger.cosigning import WitnessKey, verify_cosignatures
from ledger.errors import ProofInvalid
from ledger.signednote import NoteVerifier, open_checkpoint
from tests.witnessing import WitnessServer, ledger_cli

from .conftest import event_body
from .served import Server

pytestmark = pytest.mark.slow


def _wait_for_witnessed(server: Server, verifier: NoteVerifier, keys: list[WitnessKey], size: int) -> str:
    deadline, note = time.monotonic() + 60, ""
    while time.monotonic() < deadline:
        note = httpx.get(f"{server.base}/v1/log/checkpoint", timeout=5).text
        if open_checkpoint(verifier, note).size == size:
            try:
                verify_cosignatures(note, keys)
                return note
            except ProofInvalid:
                pass
        time.sleep(0.2)
    raise AssertionError(f"no checkpoint of size {size} cosigned by both witnesses in time; last:\n{note}\n"
                         f"{server.log.read_text()[-3000:]}")


def test_checkpoints_are_published_and_cosigned_by_both_witnesses_without_anyone_asking(offline_world, tmp_path):
    world, url = offline_world
    log_vkey = world.ledger.verifier.vkey()
    with WitnessServer(tmp_path, "alpha") as alpha, WitnessServer(tmp_path, "beta") as beta:
        for witness in (alpha, beta):
            witness.add_log(world.ledger.settings.log_origin, log_vkey)
        listed = tmp_path / "witnesses.txt"
        listed.write_text(alpha.line() + beta.line())
        server = Server(url, tmp_path, workers=2)
        server.env.update({"LEDGER_WITNESSES": str(listed), "LEDGER_CHECKPOINT_INTERVAL": "1",
                           "LEDGER_WITNESS_QUORUM": "2"})
        with server:
            station = {"Authorization": f"Bearer {world.tokens['station']}"}
            last = None
            with httpx.Client(base_url=server.base, headers=station, timeout=10) as client:
                for n in range(12):
                    answer = client.post("/v1/events", json=event_body(world.cylinders[n % 3]))
                    assert answer.status_code == 201, answer.text
                    last = answer.json()["event"]
            size = last["log_index"] + 1
            verifier = NoteVerifier.from_vkey(httpx.get(f"{server.base}/v1/log/public-key").text.strip())
            note = _wait_for_witnessed(server, verifier, [alpha.key, beta.key], size)
            text, _, signatures = note.partition("\n\n")
            assert signatures.count("\u2014 ") == 3 and signatures.startswith(f"\u2014 {verifier.name} ")

            bundle = httpx.get(f"{server.base}/v1/cylinders/{world.cylinders[0]}/bundle", headers=station, timeout=30)
            assert bundle.status_code == 200
            assert bundle.json()["checkpoint"] == note  # the published note, cosignatures and all
            (tmp_path / "bundle.json").write_bytes(bundle.content)
            (tmp_path / "log.vkey").write_text(verifier.vkey())

            page = httpx.get(f"{server.base}/c/{world.cylinders[0]}", timeout=10).text
            assert "第三方见证" in page and "alpha（" in page and "beta（" in page
        assert "Traceback" not in server.log.read_text()

        good = ledger_cli("verify-bundle", str(tmp_path / "bundle.json"), "--public-key", str(tmp_path / "log.vkey"),
                          "--witness-key", alpha.vkey, "--witness-key", beta.vkey, "--quorum", "2", cwd=tmp_path)
        assert good.returncode == 0, good.stdout + good.stderr
        assert f"cosigned by {alpha.key.name}" in good.stdout and f"cosigned by {beta.key.name}" in good.stdout

        stranger = WitnessKey("witness.test/beta", Ed25519PrivateKey.generate().public_key()).vkey()
        wrong = ledger_cli("verify-bundle", str(tmp_path / "bundle.json"), "--public-key", str(tmp_path / "log.vkey"),
                           "--witness-key", alpha.vkey, "--witness-key", stranger, "--quorum", "2", cwd=tmp_path)
        assert wrong.returncode == 1
        assert "INVALID" in wrong.stdout and "1 of the 2" in wrong.stdout and "none from witness.test/beta" in wrong.stdout

        seen = ledger_cli("witness", "logs", "--db", alpha.db, cwd=tmp_path)
        assert f"{world.ledger.settings.log_origin}\t{size}\t" in seen.stdout
