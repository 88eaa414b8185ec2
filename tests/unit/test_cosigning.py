"""Cosignatures as c2sp.org/tlog-cosignature writes them, the witness list, and the add-checkpoint body."""

from __future__ import annotations

import base64
import hashlib

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from ledger.cosigning import (WitnessKey, add_checkpoint_body, cosign, cosigned_message, parse_size, parse_witnesses,
                              verify_cosignatures)
from ledger.errors import InvalidInput, ProofInvalid
from ledger.signednote import NoteSigner
from ledger.witness import Cosigner

ROOT = hashlib.sha256(b"root").digest()
TEXT = f"example.com/log\n12\n{base64.b64encode(ROOT).decode()}\n"


def _note() -> str:
    return NoteSigner("example.com/log", Ed25519PrivateKey.generate()).sign(TEXT)


def test_the_signed_message_is_the_header_the_time_and_the_note_text() -> None:
    # c2sp.org/tlog-cosignature §Ed25519 signed message, its example's shape.
    assert cosigned_message(TEXT, 1679315147) == (b"cosignature/v1\ntime 1679315147\n" + TEXT.encode())


def test_a_key_id_and_vkey_use_signature_type_4() -> None:
    private = Ed25519PrivateKey.generate()
    key = WitnessKey("witness.example/w1", private.public_key())
    raw = base64.b64decode(key.vkey().split("+", 2)[2])  # the key part may itself hold "+"
    assert raw[0] == 4 and len(raw) == 33
    assert key.key_id == hashlib.sha256(b"witness.example/w1\n\x04" + raw[1:]).digest()[:4]
    assert WitnessKey.from_vkey(key.vkey()) == key


def test_cosignatures_made_by_the_witness_server_verify_and_ours_verify_there() -> None:
    # Two separate implementations of the same text: each checks what the other writes.
    private = Ed25519PrivateKey.generate()
    cosigner = Cosigner("witness.example/w1", private)
    key = WitnessKey.from_vkey(cosigner.vkey())
    line = cosigner.cosign(TEXT, 1700000000)
    (found,) = verify_cosignatures(_note() + line, [key])
    assert found.timestamp == 1700000000 and found.line == line
    assert line == cosign("witness.example/w1", private, TEXT, 1700000000)


def test_a_witness_key_of_the_log_signature_type_is_refused() -> None:
    log_vkey = NoteSigner("witness.example/w1", Ed25519PrivateKey.generate()).verifier.vkey()
    with pytest.raises(InvalidInput, match="signature type 0x04"):
        WitnessKey.from_vkey(log_vkey)


def test_a_quorum_names_the_witnesses_missing_and_a_bad_line_spoils_the_note() -> None:
    keys = [Ed25519PrivateKey.generate() for _ in range(3)]
    names = ["w.test/a", "w.test/b", "w.test/c"]
    witnesses = [WitnessKey(n, k.public_key()) for n, k in zip(names, keys)]
    note = _note() + cosign(names[0], keys[0], TEXT, 5) + cosign(names[1], keys[1], TEXT, 6)
    assert {c.name for c in verify_cosignatures(note, witnesses, 2)} == set(names[:2])
    with pytest.raises(ProofInvalid, match="2 of the 3 .*none from w.test/c"):
        verify_cosignatures(note, witnesses)
    forged = _note() + cosign(names[0], keys[0], TEXT.replace("12", "13"), 5)  # over another tree
    with pytest.raises(ProofInvalid, match="cosignature by w.test/a does not verify"):
        verify_cosignatures(forged, witnesses, 0)
    stranger = _note() + cosign("w.test/a", Ed25519PrivateKey.generate(), TEXT, 5)  # same name, other key: ignored
    with pytest.raises(ProofInvalid, match="0 of the 1"):
        verify_cosignatures(stranger, witnesses[:1])


def test_the_witness_list_reads_one_witness_a_line_and_says_where_it_is_wrong() -> None:
    key = WitnessKey("w.test/a", Ed25519PrivateKey.generate().public_key()).vkey()
    listed = parse_witnesses(f"# ours\n\nalpha http://127.0.0.1:9/ {key}\n")
    assert [(w.name, w.url) for w in listed] == [("alpha", "http://127.0.0.1:9")]
    for bad, why in ((f"alpha {key}", "line 1: expected"), (f"alpha ftp://x {key}", "http://"),
                     ("alpha http://x w.test/a+00000000+AAAA", "line 1"),
                     (f"alpha http://x {key}\nalpha http://y {key}", "line 2: the witness alpha is listed twice")):
        with pytest.raises(InvalidInput, match=why):
            parse_witnesses(bad)


def test_the_add_checkpoint_body_and_the_409_size() -> None:
    # c2sp.org/tlog-witness §add-checkpoint: old size line, proof lines, blank line, checkpoint.
    note = _note()
    one, two = (base64.b64encode(bytes([n]) * 32).decode() for n in (1, 2))
    assert add_checkpoint_body(7, [b"\x01" * 32, b"\x02" * 32], note) == f"old 7\n{one}\n{two}\n\n{note}"
    assert add_checkpoint_body(0, [], note) == "old 0\n\n" + note
    assert parse_size("20852014\n") == 20852014
    for bad in ("", "012\n", "-1\n", "12 13\n"):
        with pytest.raises(ProofInvalid):
            parse_size(bad)
