"""The witness's rules without a server: c2sp.org/tlog-witness "add-checkpoint", c2sp.org/tlog-cosignature."""

from __future__ import annotations

import base64
import hashlib

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from ledger.errors import InvalidInput, ProofInvalid
from ledger.proofs import leaf_hash, node_hash
from ledger.signednote import NoteSigner, sign_checkpoint
from ledger.witness import EMPTY_ROOT, CosignatureVerifier, Cosigner, LogState, Refused, decide, parse_request
from tests.witness.spec import verify_cosignature

ORIGIN = "example.test/log"
LOG = NoteSigner(ORIGIN, Ed25519PrivateKey.generate())
WITNESS = Cosigner("witness.test/w1", Ed25519PrivateKey.generate())
A, B = leaf_hash(b"a"), leaf_hash(b"b")
NOW = 1_790_000_000


def _body(old: int, size: int, root: bytes, proof: tuple[bytes, ...] = (), signer: NoteSigner = LOG) -> bytes:
    note = sign_checkpoint(signer, ORIGIN, size, root).note
    return (f"old {old}\n" + "".join(base64.b64encode(p).decode() + "\n" for p in proof) + "\n" + note).encode()


def _state(size: int = 0, root: bytes | None = None) -> LogState:
    return LogState(ORIGIN, LOG.verifier.vkey(), size, root)


def _status(state: LogState | None, body: bytes) -> int:
    try:
        decide(state, parse_request(body), WITNESS, NOW)
    except Refused as refused:
        return refused.status
    return 200


def test_the_cosignature_is_what_the_spec_describes() -> None:
    done = decide(_state(), parse_request(_body(0, 1, A)), WITNESS, NOW)
    body = f"{ORIGIN}\n1\n{base64.b64encode(A).decode()}\n"
    assert verify_cosignature(WITNESS.vkey(), body, done.cosignature) == NOW
    assert CosignatureVerifier.from_vkey(WITNESS.vkey()).verify(done.note) == NOW
    assert LOG.verifier.open(done.note) == body  # the stored note keeps the log's own signature
    raw = base64.b64decode(WITNESS.vkey().split("+", 2)[2])
    assert raw[0] == 0x04 and len(raw) == 33
    # The same key under the note-signature type (0x01) is not a cosignature key.
    with pytest.raises(InvalidInput):
        CosignatureVerifier.from_vkey(LOG.verifier.vkey())
    with pytest.raises(ProofInvalid):
        CosignatureVerifier.from_vkey(WITNESS.vkey()).verify(done.note.replace("\n1\n", "\n2\n", 1))


def test_the_spec_order_of_refusals() -> None:
    two = node_hash(A, B)
    assert _status(None, _body(0, 1, A)) == 404
    assert _status(_state(), _body(0, 1, A, signer=NoteSigner(ORIGIN, Ed25519PrivateKey.generate()))) == 403
    assert _status(_state(1, A), _body(0, 2, two)) == 409
    assert _status(_state(), _body(0, 0, bytes(32))) == 422
    assert _status(_state(), _body(0, 0, EMPTY_ROOT)) == 200
    assert _status(_state(), _body(0, 1, A, (B,))) == 422
    assert _status(_state(1, A), _body(1, 2, two, (B,))) == 200
    assert _status(_state(1, A), _body(1, 2, two, (A,))) == 422
    assert _status(_state(1, B), _body(1, 2, two, (B,))) == 422  # another history at size 1
    assert _status(_state(2, two), _body(2, 2, two)) == 200
    assert _status(_state(2, two), _body(2, 2, node_hash(B, A))) == 422


def test_a_409_names_the_size_cosigned() -> None:
    with pytest.raises(Refused) as refused:
        decide(_state(7, A), parse_request(_body(3, 9, A)), WITNESS, NOW)
    assert refused.value.status == 409 and refused.value.known_size == 7


@pytest.mark.parametrize("body", [
    b"", b"old 1", b"old 01\n\n", b"old 1\n\nexample\n1\n", "old 0\n\nx\n1\n{}\n\n— x AAAA\n".encode(),
    _body(2, 1, A), _body(0, 1, A).replace(b"old 0", b"old 0 "), _body(0, 1, A, (b"123",)),
    b"old 0\n" + b"".join(base64.b64encode(bytes(32)) + b"\n" for _ in range(64)) + b"\n" + _body(0, 1, A)[7:],
    _body(0, 1, A).replace(b"\n1\n", b"\n+1\n", 1), _body(0, 1, A)[:-1], b"\xff" + _body(0, 1, A),
    _body(0, 1, A).replace(b"\xe2\x80\x94 ", b"-- "),
])
def test_malformed_requests_are_400(body: bytes) -> None:
    with pytest.raises(Refused) as refused:
        parse_request(body)
    assert refused.value.status == 400


def test_extension_lines_are_cosigned_with_the_body() -> None:
    body = f"{ORIGIN}\n1\n{base64.b64encode(A).decode()}\nextension line\n"
    note = LOG.sign(body)
    done = decide(_state(), parse_request(f"old 0\n\n{note}".encode()), WITNESS, NOW)
    assert verify_cosignature(WITNESS.vkey(), body, done.cosignature) == NOW


def test_the_key_id_follows_the_spec() -> None:
    public = base64.b64decode(WITNESS.vkey().split("+", 2)[2])[1:]
    expected = hashlib.sha256(b"witness.test/w1\n\x04" + public).digest()[:4]
    assert WITNESS.key_id == expected and WITNESS.vkey().split("+")[1] == expected.hex()
