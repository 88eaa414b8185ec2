"""Signed notes and checkpoints (C2SP signed-note, tlog-checkpoint)."""

from __future__ import annotations

import base64

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from ledger.errors import InvalidInput, ProofInvalid
from ledger.signednote import NoteSigner, NoteVerifier, open_checkpoint, sign_checkpoint

ROOT = bytes(range(32))


@pytest.fixture
def signer():
    return NoteSigner("example.org/log", Ed25519PrivateKey.generate())


def test_a_checkpoint_has_the_three_lines_and_one_signature(signer):
    note = sign_checkpoint(signer, "example.org/log", 42, ROOT).note
    text, _, signatures = note.partition("\n\n")
    assert text.split("\n") == ["example.org/log", "42", base64.b64encode(ROOT).decode()]
    assert signatures.startswith("\u2014 example.org/log ") and signatures.endswith("\n")
    blob = base64.b64decode(signatures.split(" ")[2])
    assert blob[:4] == signer.verifier.key_id and len(blob) == 68
    checkpoint = open_checkpoint(signer.verifier, note, "example.org/log")
    assert (checkpoint.size, checkpoint.root) == (42, ROOT)


def test_the_verifier_key_round_trips(signer):
    vkey = signer.verifier.vkey()
    name, key_id, _ = vkey.split("+", 2)
    assert name == "example.org/log" and key_id == signer.verifier.key_id.hex()
    again = NoteVerifier.from_vkey(vkey)
    assert again.key_id == signer.verifier.key_id


@pytest.mark.parametrize("vkey", ["", "name", "a+b+c", "example.org/log+00000000+" + base64.b64encode(b"\x01" + bytes(32)).decode()])
def test_malformed_verifier_keys_are_refused(vkey):
    with pytest.raises(InvalidInput):
        NoteVerifier.from_vkey(vkey)


def test_a_changed_size_breaks_the_signature(signer):
    note = sign_checkpoint(signer, "example.org/log", 42, ROOT).note
    with pytest.raises(ProofInvalid, match="does not verify"):
        open_checkpoint(signer.verifier, note.replace("\n42\n", "\n43\n"))


def test_a_checkpoint_signed_by_another_key_is_refused(signer):
    other = NoteSigner("example.org/log", Ed25519PrivateKey.generate())
    note = sign_checkpoint(other, "example.org/log", 42, ROOT).note
    with pytest.raises(ProofInvalid, match="no signature by the trusted key"):
        open_checkpoint(signer.verifier, note)


def test_a_foreign_cosignature_is_ignored(signer):
    note = sign_checkpoint(signer, "example.org/log", 7, ROOT).note
    witness = NoteSigner("witness.example/w1", Ed25519PrivateKey.generate())
    cosigned = note + witness.sign(sign_checkpoint(signer, "example.org/log", 7, ROOT).text()).split("\n\n", 1)[1]
    assert open_checkpoint(signer.verifier, cosigned).size == 7


@pytest.mark.parametrize("note", ["", "no newline", "a\n", "a\n\n", "a\n\nnot a signature\n", "a\x01\n\n\u2014 x AAAA\n"])
def test_malformed_notes_are_refused(signer, note):
    with pytest.raises(ProofInvalid):
        signer.verifier.open(note)


def test_the_wrong_origin_is_refused(signer):
    note = sign_checkpoint(signer, "example.org/log", 1, ROOT).note
    with pytest.raises(ProofInvalid, match="is for log"):
        open_checkpoint(signer.verifier, note, "other.org/log")
