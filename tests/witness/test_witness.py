"""`ledger witness` end to end: real processes, real HTTP on 127.0.0.1, a real ledger as the log.

Every status code is the one c2sp.org/tlog-witness "add-checkpoint" prescribes.
"""

from __future__ import annotations

import base64
import hashlib
import time

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from ledger.signednote import Checkpoint, NoteSigner, sign_checkpoint
from ledger.witness import CosignatureVerifier

from .served import NAME, cli, fork_of
from .spec import verify_cosignature

pytestmark = pytest.mark.slow  # each test runs `ledger witness` processes


def _monitored(witness, origin: str):
    return witness.http.get(f"/{hashlib.sha256(origin.encode()).hexdigest()}/checkpoint")


def test_init_prints_a_cosignature_vkey_alone_and_is_safe_to_run_twice(witness) -> None:
    assert witness.init_stdout == witness.vkey + "\n"
    name, key_id, key = witness.vkey.split("+", 2)
    assert name == NAME and len(key_id) == 8 and base64.b64decode(key)[0] == 0x04  # tlog-cosignature "Format"
    key_file = str(witness.folder / "witness.key")
    again = cli("witness", "init", "--db", witness.url, "--key", key_file, "--name", NAME, cwd=witness.folder)
    assert again.returncode == 0 and again.stdout == witness.vkey + "\n", again.stderr
    renamed = cli("witness", "init", "--db", witness.url, "--key", key_file, "--name", "other.test/w2", cwd=witness.folder)
    assert renamed.returncode == 2 and "already has name" in renamed.stderr
    other_key = cli("witness", "init", "--db", witness.url, "--key", str(witness.folder / "k2"), "--name", NAME,
                    cwd=witness.folder)
    assert other_key.returncode == 2 and "already has vkey" in other_key.stderr
    assert witness.http.get("/").text == witness.vkey + "\n"


def test_add_log_watches_once_and_refuses_a_bad_key(witness, log) -> None:
    again = witness.add_log(log.origin, log.vkey)
    assert again.returncode == 0 and "already watching" in again.stdout
    stranger = NoteSigner(log.origin, Ed25519PrivateKey.generate()).verifier.vkey()
    swapped = witness.add_log(log.origin, stranger)
    assert swapped.returncode == 2 and "another key" in swapped.stderr
    garbled = witness.add_log("other.test/log", "not-a-key")
    assert garbled.returncode == 2 and "verifier key" in garbled.stderr
    listed = cli("witness", "logs", "--db", witness.url, cwd=witness.folder)
    assert f"{log.origin}\t0\t{log.vkey}\n" in listed.stdout


def test_a_log_grows_under_cosignatures(witness, log) -> None:
    first = log.grow(3)
    answer = witness.post(log.request(0, first))
    assert answer.status_code == 200, answer.text
    verifier = CosignatureVerifier.from_vkey(witness.vkey)
    assert abs(verifier.verify(first.note + answer.text) - time.time()) < 60
    verify_cosignature(witness.vkey, first.text(), answer.text)
    grown = log.grow(5)
    assert grown.size > first.size
    answer = witness.post(log.request(first.size, grown))
    assert answer.status_code == 200, answer.text
    verify_cosignature(witness.vkey, grown.text(), answer.text)
    # The same checkpoint again (old size = its size, no proof) is cosigned afresh.
    assert witness.post(log.request(grown.size, grown)).status_code == 200
    # Monitors read the latest cosigned checkpoint: the log's signature and the witness's (§ Monitor Retrieval).
    monitored = _monitored(witness, log.origin)
    assert monitored.status_code == 200
    assert log.ledger.signer.verifier.open(monitored.text) == grown.text()
    verifier.verify(monitored.text)
    assert _monitored(witness, "never.test/log").status_code == 404


def test_a_stale_old_size_gets_409_with_the_size_cosigned(witness, log) -> None:
    first = log.grow(2)
    assert witness.post(log.request(0, first)).status_code == 200
    grown = log.grow(2)
    stale = witness.post(log.request(0, grown))
    assert stale.status_code == 409
    assert stale.headers["content-type"] == "text/x.tlog.size"
    assert stale.text == f"{first.size}\n"
    # The client retries from the size it was told, as the spec intends.
    assert witness.post(log.request(int(stale.text), grown)).status_code == 200


def test_a_bad_proof_gets_422_and_changes_nothing(witness, log) -> None:
    signer = log.ledger.signer
    # A checkpoint of size 0 must carry the empty tree's hash (RFC 6962 §2.1).
    assert witness.post("old 0\n\n" + sign_checkpoint(signer, log.origin, 0, bytes(32)).note).status_code == 422
    empty = sign_checkpoint(signer, log.origin, 0, hashlib.sha256(b"").digest())
    assert witness.post("old 0\n\n" + empty.note).status_code == 200
    first = log.grow(3)
    # With old size 0 the proof must be empty.
    assert witness.post(log.request(0, first, [bytes(32)])).status_code == 422
    assert witness.post(log.request(0, first)).status_code == 200
    grown = log.grow(3)
    proof = log.proof(first.size, grown.size)
    bent = [bytes([proof[0][0] ^ 1]) + proof[0][1:], *proof[1:]]
    assert witness.post(log.request(first.size, grown, bent)).status_code == 422
    assert witness.post(log.request(first.size, grown, proof[:-1])).status_code == 422
    assert witness.post(log.request(first.size, grown, [*proof, proof[0]])).status_code == 422
    assert _monitored(witness, log.origin).text.startswith(first.text())  # nothing changed
    assert witness.post(log.request(first.size, grown, proof)).status_code == 200
    # Equal sizes: no proof, and the same root.
    assert witness.post(log.request(grown.size, grown, proof)).status_code == 422


def test_an_unknown_origin_gets_404_and_a_bad_log_signature_403(witness, log) -> None:
    first = log.grow(2)
    stranger = NoteSigner("unknown.test/log", Ed25519PrivateKey.generate())
    unknown = sign_checkpoint(stranger, "unknown.test/log", first.size, first.root)
    assert witness.post(log.request(0, unknown, [])).status_code == 404
    # Same origin and key name, another key: no signature from the trusted key (its key ID differs).
    impostor = sign_checkpoint(NoteSigner(log.origin, Ed25519PrivateKey.generate()), log.origin, first.size, first.root)
    assert witness.post(log.request(0, impostor, [])).status_code == 403
    # The trusted key's name and ID, a signature that fails: the note is malformed (403).
    head, _, line = first.note.rpartition("\u2014 ")
    name, blob = line.split(" ")
    raw = base64.b64decode(blob)
    broken = head + "\u2014 " + name + " " + base64.b64encode(raw[:10] + bytes([raw[10] ^ 1]) + raw[11:]).decode() + "\n"
    assert witness.post(log.request(0, Checkpoint(first.origin, first.size, first.root, broken), [])).status_code == 403
    # The body changed after signing.
    altered = first.note.replace(f"\n{first.size}\n", f"\n{first.size + 1}\n", 1)
    assert witness.post(log.request(0, Checkpoint(first.origin, first.size + 1, first.root, altered), [])).status_code == 403
    assert _monitored(witness, log.origin).status_code == 404  # nothing was cosigned


def test_malformed_requests_get_400(witness, log) -> None:
    first = log.grow(1)
    good = log.request(0, first)
    for body in (b"", b"old 0\n", good.replace("old 0", "old 00"), good.replace("old 0", "old -1"),
                 good.replace("old 0", "new 0"), "old 0\nnot base64!\n\n" + first.note,
                 "old 0\n" + base64.b64encode(b"short").decode() + "\n\n" + first.note,
                 "old 0\n" + "".join(base64.b64encode(bytes(32)).decode() + "\n" for _ in range(64)) + "\n" + first.note,
                 f"old {first.size + 1}\n\n{first.note}", good.encode("utf-16"), good.rstrip("\n"),
                 good.replace(f"\n{first.size}\n", "\nseven\n", 1), b"old 0\n\n" + b"x" * 70_000):
        answer = witness.post(body)
        assert answer.status_code == 400, (body[:80], answer.status_code, answer.text)
    assert _monitored(witness, log.origin).status_code == 404


def test_a_fork_is_refused_at_the_same_size_or_larger(witness, log, tmp_path) -> None:
    first = log.grow(4)
    assert witness.post(log.request(0, first)).status_code == 200
    # The log's own key signs another root at the same size: a split view.
    twin = sign_checkpoint(log.ledger.signer, log.origin, first.size, hashlib.sha256(b"other").digest())
    assert witness.post(log.request(first.size, twin, [])).status_code == 422
    # Kept as evidence in the witness's error log: the log's own signature on another root.
    assert f"inconsistent checkpoint signed by {log.origin}" in witness.log.read_text(encoding="utf-8")
    assert twin.note.splitlines()[-1] in witness.log.read_text(encoding="utf-8")
    fork = fork_of(log, tmp_path / "fork")  # same key and origin, a history of its own
    try:
        larger = fork.grow(1)
        while larger.size <= first.size:
            larger = fork.grow(1)
        answer = witness.post(fork.request(first.size, larger))
        assert answer.status_code == 422, answer.text
        # Starting the fork's history from zero is a stale old size.
        assert witness.post(fork.request(0, larger)).status_code == 409
    finally:
        fork.ledger.db.dispose()
    assert _monitored(witness, log.origin).text.startswith(first.text())
    assert witness.post(log.request(first.size, log.grow(1))).status_code == 200  # the true log goes on


def test_a_smaller_checkpoint_after_a_larger_is_refused(witness, log) -> None:
    small = log.grow(2)
    large = log.grow(3)
    assert witness.post(log.request(0, large)).status_code == 200
    assert witness.post(log.request(large.size, small, [])).status_code == 400  # old size above the checkpoint's
    assert witness.post(log.request(small.size, small, [])).status_code == 409  # not what was cosigned
    assert witness.post(log.request(0, small)).status_code == 409


def test_the_state_survives_a_restart(witness, log, tmp_path) -> None:
    first = log.grow(3)
    assert witness.post(log.request(0, first)).status_code == 200
    witness.restart()
    stale = witness.post(log.request(0, log.grow(1)))
    assert stale.status_code == 409 and stale.text == f"{first.size}\n"
    fork = fork_of(log, tmp_path / "fork")
    try:
        forked = fork.grow(6)
        assert witness.post(fork.request(first.size, forked)).status_code == 422
    finally:
        fork.ledger.db.dispose()
    witness.restart()
    grown = log.checkpoint()
    answer = witness.post(log.request(first.size, grown))
    assert answer.status_code == 200
    verify_cosignature(witness.vkey, grown.text(), answer.text)


def test_a_served_ledger_is_witnessed_over_http(witness, tmp_path) -> None:
    """`ledger serve` on one port, `ledger witness serve` on another: the log's key, checkpoints and
    consistency proofs are fetched over the ledger's own HTTP API and submitted as they come."""
    from ledger.keys import ensure_key
    from ledger.sealing import ensure_personal_keys
    from ledger.service import Ledger
    from tests.api.served import Server
    from tests.conftest import make_settings

    from .served import Log

    url = f"sqlite:///{tmp_path / 'served.db'}"
    settings = make_settings(url, tmp_path)
    with Server(url, tmp_path, workers=1) as server:
        api = witness.http.__class__(base_url=server.base, timeout=30)
        vkey = api.get("/v1/log/public-key").text
        origin = settings.log_origin
        assert witness.add_log(origin, vkey).returncode == 0
        empty = api.get("/v1/log/checkpoint").text
        assert witness.post("old 0\n\n" + empty).status_code == 200  # size 0, the empty tree's root
        ensure_key(settings.key_file)
        ensure_personal_keys(settings.personal_key_file)
        writer = Ledger(settings)  # another process of the city writing the same database
        try:
            known = 0
            for cylinders in (2, 3):
                Log(writer).grow(cylinders)
                note = api.get("/v1/log/checkpoint").text
                size = int(note.split("\n")[1])
                proof = api.get("/v1/log/consistency", params={"old": known, "new": size}).json()["proof"] if known else []
                lines = "".join(base64.b64encode(bytes.fromhex(node)).decode() + "\n" for node in proof)
                answer = witness.post(f"old {known}\n{lines}\n{note}")
                assert answer.status_code == 200, answer.text
                verify_cosignature(witness.vkey, note.rpartition("\n\n")[0] + "\n", answer.text)
                known = size
            assert known > 0
        finally:
            writer.db.dispose()
            api.close()


def test_bad_setup_is_refused_with_a_reason_and_no_key_made(tmp_path) -> None:
    db = f"sqlite:///{tmp_path / 'w.db'}"
    named = cli("witness", "init", "--name", "two words", "--db", db, "--key", str(tmp_path / "k"), cwd=tmp_path)
    assert named.returncode == 2 and "witness name" in named.stderr and not (tmp_path / "k").exists()
    unknown = cli("witness", "init", "--name", "w.test/x", "--db", "mysql://h/d", cwd=tmp_path)
    assert unknown.returncode == 2 and "unsupported database" in unknown.stderr
    early = cli("witness", "serve", "--db", db, cwd=tmp_path)
    assert early.returncode == 2 and "ledger witness init" in early.stderr
