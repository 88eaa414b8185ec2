"""A cosignature verifier written from the text of c2sp.org/tlog-cosignature alone.

It shares no code with the witness: if the witness drifted from the spec, this
would disagree with it.
"""

from __future__ import annotations

import base64
import hashlib

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey


def parse_vkey(vkey: str) -> tuple[str, bytes, bytes]:
    """c2sp.org/signed-note "Verifier keys": <name>+<hex key ID>+<base64(type || public key)>."""
    name, key_id, key = vkey.split("+", 2)
    blob = base64.b64decode(key)
    # tlog-cosignature "Format": "Ed25519 public keys MAY be encoded as vkeys with signature type 0x04".
    assert blob[0] == 0x04 and len(blob) == 33
    return name, bytes.fromhex(key_id), blob[1:]


def verify_cosignature(vkey: str, checkpoint_body: str, line: str) -> int:
    """Check one signature line; returns its timestamp. Raises on any mismatch."""
    name, key_id, public = parse_vkey(vkey)
    # tlog-cosignature "Format": key ID = SHA-256(<name> || "\n" || 0x04 || 32-byte public key)[:4]
    assert hashlib.sha256(name.encode() + b"\n" + b"\x04" + public).digest()[:4] == key_id
    # signed-note: "— <key name> base64(32-bit key ID || signature)"
    assert line.endswith("\n") and line.startswith("\u2014 " + name + " ")
    blob = base64.b64decode(line[len("\u2014 " + name + " "):-1])
    assert blob[:4] == key_id
    # timestamped_signature: u64 timestamp (big-endian, RFC 8446 §3.3), then the 64-byte Ed25519 signature.
    signature = blob[4:]
    assert len(signature) == 8 + 64
    timestamp = int.from_bytes(signature[:8], "big")
    assert 0 < timestamp < 2**63
    # "Ed25519 signed message": "cosignature/v1\n", "time <decimal>\n", then the whole checkpoint body.
    message = b"cosignature/v1\n" + b"time " + str(timestamp).encode() + b"\n" + checkpoint_body.encode()
    Ed25519PublicKey.from_public_bytes(public).verify(signature[8:], message)
    return timestamp
