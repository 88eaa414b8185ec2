"""Ed25519 signed notes and checkpoints (C2SP signed-note, tlog-checkpoint).

A signed note is a text ending in a newline, a blank line, and signature lines
``— <key name> base64(key ID || signature)``. The key ID is the first four bytes
of SHA-256(key name || 0x0A || 0x01 || public key) (C2SP signed-note, type 0x01).
A verifier key is written ``<name>+<key ID as 8 hex digits>+base64(0x01 || public key)``.

A checkpoint's text is three lines: the log's origin, the tree size in decimal
and the base64 root hash (C2SP tlog-checkpoint).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from .errors import InvalidInput, ProofInvalid

__all__ = ["NoteSigner", "NoteVerifier", "Checkpoint", "sign_checkpoint", "open_checkpoint"]

_ED25519 = b"\x01"
_DASH = "\u2014 "
_MAX_NOTE = 16 * 1024
_NAME = re.compile(r"[^\s+]+")


def _raw(public_key: Ed25519PublicKey) -> bytes:
    return public_key.public_bytes(Encoding.Raw, PublicFormat.Raw)


def _key_id(name: str, public_key: Ed25519PublicKey) -> bytes:
    return hashlib.sha256(name.encode() + b"\n" + _ED25519 + _raw(public_key)).digest()[:4]


class NoteSigner:
    """Signs notes with one Ed25519 key under one key name."""

    def __init__(self, name: str, private_key: Ed25519PrivateKey) -> None:
        if not _NAME.fullmatch(name):
            raise InvalidInput("a key name may not be empty or contain spaces or '+'")
        self.name = name
        self._key = private_key
        self._id = _key_id(name, private_key.public_key())
        self.verifier = NoteVerifier(name, private_key.public_key())

    def sign(self, text: str) -> str:
        if not text.endswith("\n"):
            raise InvalidInput("a note's text must end with a newline")
        signature = self._key.sign(text.encode("utf-8"))
        return f"{text}\n{_DASH}{self.name} {base64.b64encode(self._id + signature).decode()}\n"


@dataclass(frozen=True)
class NoteVerifier:
    """Checks notes against one trusted key; build it from a verifier key string."""

    name: str
    public_key: Ed25519PublicKey

    @property
    def key_id(self) -> bytes:
        return _key_id(self.name, self.public_key)

    def vkey(self) -> str:
        encoded = base64.b64encode(_ED25519 + _raw(self.public_key)).decode()
        return f"{self.name}+{self.key_id.hex()}+{encoded}"

    @classmethod
    def from_vkey(cls, vkey: str) -> NoteVerifier:
        parts = vkey.strip().split("+", 2)
        if len(parts) != 3 or not _NAME.fullmatch(parts[0]):
            raise InvalidInput("a verifier key reads <name>+<8 hex digits>+<base64 key>")
        name, key_hash, encoded = parts
        try:
            blob = base64.b64decode(encoded, validate=True)
        except binascii.Error:
            raise InvalidInput("the verifier key's key part is not base64") from None
        if len(blob) != 33 or blob[:1] != _ED25519:
            raise InvalidInput("the verifier key is not an Ed25519 key")
        verifier = cls(name, Ed25519PublicKey.from_public_bytes(blob[1:]))
        if verifier.key_id.hex() != key_hash.lower():
            raise InvalidInput("the verifier key's ID does not match its name and key")
        return verifier

    def open(self, note: str) -> str:
        """The note's text once a signature by this key verifies; raises ``ProofInvalid``."""
        if len(note) > _MAX_NOTE or not note.endswith("\n"):
            raise ProofInvalid("the signed note is malformed")
        if any(ord(c) < 0x20 and c != "\n" for c in note):
            raise ProofInvalid("the signed note holds control characters")
        split = note.rfind("\n\n")
        if split < 0:
            raise ProofInvalid("the signed note has no signatures")
        text, block = note[: split + 1], note[split + 2 :]
        lines = block.splitlines()
        if not lines:
            raise ProofInvalid("the signed note has no signatures")
        signatures = []
        # Every line is read before any signature counts: one malformed line spoils the note.
        for line in lines:
            if not line.startswith(_DASH):
                raise ProofInvalid("the signed note has a malformed signature line")
            name, _, encoded = line[len(_DASH) :].partition(" ")
            try:
                signatures.append((name, base64.b64decode(encoded, validate=True)))
            except binascii.Error:
                raise ProofInvalid("a signature in the note is not base64") from None
        for name, blob in signatures:
            if name != self.name or len(blob) < 4 or not hmac.compare_digest(blob[:4], self.key_id):
                continue  # another key's signature: C2SP says to ignore it
            try:
                self.public_key.verify(blob[4:], text.encode("utf-8"))
            except InvalidSignature:
                raise ProofInvalid(f"the signature by {self.name} does not verify") from None
            return text
        raise ProofInvalid(f"the note carries no signature by the trusted key {self.name}")


@dataclass(frozen=True)
class Checkpoint:
    """A verified (or freshly signed) statement: the log ``origin`` had ``size`` leaves with ``root``."""

    origin: str
    size: int
    root: bytes
    note: str

    def text(self) -> str:
        return checkpoint_text(self.origin, self.size, self.root)


def checkpoint_text(origin: str, size: int, root: bytes) -> str:
    return f"{origin}\n{size}\n{base64.b64encode(root).decode()}\n"


def sign_checkpoint(signer: NoteSigner, origin: str, size: int, root: bytes) -> Checkpoint:
    note = signer.sign(checkpoint_text(origin, size, root))
    return Checkpoint(origin, size, root, note)


def open_checkpoint(verifier: NoteVerifier, note: str, origin: str | None = None) -> Checkpoint:
    """Verify the signature, then parse; raises ``ProofInvalid`` on any defect."""
    text = verifier.open(note)
    lines = text.split("\n")[:-1]
    if len(lines) < 3:
        raise ProofInvalid("the checkpoint needs an origin, a size and a root hash")
    found_origin, size_text, root_text = lines[0], lines[1], lines[2]
    if origin is not None and found_origin != origin:
        raise ProofInvalid(f"the checkpoint is for log {found_origin!r}, not {origin!r}")
    if not size_text.isdigit() or (size_text != "0" and size_text.startswith("0")):
        raise ProofInvalid("the checkpoint's tree size is not a decimal number")
    try:
        root = base64.b64decode(root_text, validate=True)
    except binascii.Error:
        raise ProofInvalid("the checkpoint's root hash is not base64") from None
    if len(root) != 32:
        raise ProofInvalid("the checkpoint's root hash is not 32 bytes")
    return Checkpoint(found_origin, int(size_text), root, note)
