"""Signed notes and checkpoints against the vectors published with C2SP signed-note and Go's sumdb.

Sources (each vector below names its own):
- golang/mod sumdb/note/note_test.go (commit fe2ec04f7c3c3aa6fad97631aafcff6e49e2d1db): the
  PeterNeumann and EnochRoot keys, the note both sign, and the manglings a verifier must refuse.
- C2SP/C2SP signed-note.md (commit 5ba5ee830903e91240fc6f9f3a7a9293d49e69c9), "Example".
- golang/mod sumdb/tlog/note_test.go, TestFormatTree: a tree head's text (the checkpoint body).
"""

from __future__ import annotations

import base64

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from ledger.errors import InvalidInput, ProofInvalid
from ledger.proofs import leaf_hash
from ledger.signednote import NoteSigner, NoteVerifier, checkpoint_text

# golang/mod sumdb/note/note_test.go, TestNewVerifier / TestNewSigner / TestSign / TestOpen.
PETER_VKEY = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
PETER_SKEY = "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz"
ENOCH_VKEY = "EnochRoot+af0cfe78+ATtqJ7zOtqQtYqOo0CpvDXNlMhV3HeJDpjrASKGLWdop"
TEXT = "If you think cryptography is the answer to your problem,\nthen you don't know what your problem is.\n"
PETER_SIG = "— PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n"
ENOCH_SIG = "— EnochRoot rwz+eBzmZa0SO3NbfRGzPCpDckykFXSdeX+MNtCOXm2/5n2tiOHp+vAF1aGrQ5ovTG01oOTGwnWLox33WWd1RvMc+QQ=\n"

# C2SP/C2SP signed-note.md, "Verifier keys" / "Example".
C2SP_VKEY = "example.com/foo+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k"
C2SP_NOTE = ("This is an example message.\n\n"
             "— example.com/foo Uw2QOkn8srV1yJGh2VYRlL1Tnagv1YEq6TfXppzi2ONncAlTgK7Ztg1ERYNZXsYjOBH3mFXmRKuwHjG1Yu72IneyaQM=\n")

# golang/mod sumdb/tlog/note_test.go, TestFormatTree: size 123456789012, root = RecordHash("hello world").
TREE_TEXT = "go.sum database tree\n123456789012\nTszzRgjTG6xce+z2AG31kAXYKBgQVtCSCE40HmuwBb0=\n"


def peter_signer() -> NoteSigner:
    name, key_id, encoded = PETER_SKEY.removeprefix("PRIVATE+KEY+").split("+", 2)
    seed = base64.b64decode(encoded)
    assert seed[0] == 1 and key_id == "c74f20a3"  # Ed25519, then the 32-byte seed
    return NoteSigner(name, Ed25519PrivateKey.from_private_bytes(seed[1:]))


def test_our_signature_is_byte_for_byte_the_reference_note():
    signer = peter_signer()
    assert signer.verifier.vkey() == PETER_VKEY
    assert signer.sign(TEXT) == TEXT + "\n" + PETER_SIG


@pytest.mark.parametrize("vkey, note", [
    (PETER_VKEY, TEXT + "\n" + PETER_SIG),
    (PETER_VKEY, TEXT + "\n" + PETER_SIG + ENOCH_SIG),
    (ENOCH_VKEY, TEXT + "\n" + PETER_SIG + ENOCH_SIG),
    (C2SP_VKEY, C2SP_NOTE),
], ids=["go-peter", "go-peter-among-two", "go-enoch-among-two", "c2sp-example"])
def test_published_notes_open_with_their_keys(vkey, note):
    assert NoteVerifier.from_vkey(vkey).open(note) == note[: note.rindex("\n\n") + 1]


@pytest.mark.parametrize("note, message", [
    (TEXT + "\n" + PETER_SIG[:60] + "ABCD" + PETER_SIG[60:], "does not verify"),
    (TEXT.replace("problem", "solution", 1) + "\n" + PETER_SIG, "does not verify"),
    (TEXT + "\n" + ENOCH_SIG, "no signature by the trusted key"),
    (TEXT + "\n" + PETER_SIG.replace("PeterNeumann", "CarmenSandiego"), "no signature by the trusted key"),
    (TEXT + "\n" + PETER_SIG.replace("x08g", "xxxx"), "no signature by the trusted key"),
    (TEXT + "\n" + PETER_SIG + "Unexpected line.\n", "malformed signature line"),
    (TEXT + "\n" + PETER_SIG[:-1], "malformed"),
    ("\x01" + TEXT + "\n" + PETER_SIG, "control characters"),
    (TEXT, "no signatures"),
], ids=["sig-mangled", "text-changed", "only-another-key", "misnamed", "wrong-key-id", "trailing-line",
        "no-final-newline", "control-character", "unsigned"])
def test_a_mangled_reference_note_is_refused(note, message):
    with pytest.raises(ProofInvalid, match=message):
        NoteVerifier.from_vkey(PETER_VKEY).open(note)


@pytest.mark.parametrize("vkey", [
    "PeterNeumann+cc469956+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TWBADKEY==",  # wrong key length
    "PeterNeumann+173116ae+ZRpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",  # unknown algorithm
    PETER_VKEY.replace("c74f20a3", "c74f20a4"),  # key ID of another key
    PETER_VKEY.replace("PeterNeumann", "PeterNeumann2"),  # the ID binds the name
    PETER_VKEY[:-1],
])
def test_a_mangled_reference_verifier_key_is_refused(vkey):
    with pytest.raises(InvalidInput):
        NoteVerifier.from_vkey(vkey)


def test_a_checkpoint_body_is_the_reference_tree_text():
    assert checkpoint_text("go.sum database tree", 123456789012, leaf_hash(b"hello world")) == TREE_TEXT
