"""Witnesses' cosignatures on checkpoints (C2SP tlog-cosignature, tlog-witness), without I/O.

A witness is named by a verifier key of signature type 0x04 ("timestamped
Ed25519 checkpoint cosignatures", c2sp.org/signed-note §Signature types):
``<name>+<key ID>+base64(0x04 || public key)``, the key ID being
SHA-256(name || 0x0A || 0x04 || public key)[:4] (c2sp.org/tlog-cosignature §Format).

A cosignature is a note signature line ``— <name> base64(key ID || timestamp || signature)``:
an 8-byte big-endian POSIX time, then an Ed25519 signature over the message
``cosignature/v1\\n`` ``time <timestamp>\\n`` and the checkpoint's note text
(c2sp.org/tlog-cosignature §Ed25519 signed message).

Also here: the log's list of witnesses (``LEDGER_WITNESSES``, one a line
``<name> <url> <verifier key>``), the ``add-checkpoint`` request body and the
``409`` answer of c2sp.org/tlog-witness §add-checkpoint.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from .errors import InvalidInput, ProofInvalid

__all__ = ["WitnessKey", "Cosignature", "Witness", "cosigned_message", "cosign", "split_note",
           "verify_cosignatures", "parse_witnesses", "listed_lines", "read_witnesses", "add_checkpoint_body", "parse_size", "with_cosignatures"]

_COSIGNATURE_V1 = b"\x04"
_DASH = "\u2014 "
_Key = TypeVar("_Key")
_NAME = re.compile(r"[^\s+]+")
_MAX_TIME = 2**63 - 1  # c2sp.org/tlog-cosignature: the timestamp MUST NOT exceed 2^63 - 1
MAX_PROOF_LINES = 63  # c2sp.org/tlog-witness: a client MUST NOT send more


def _raw(public_key: Ed25519PublicKey) -> bytes:
    return public_key.public_bytes(Encoding.Raw, PublicFormat.Raw)


def cosigned_message(text: str, timestamp: int) -> bytes:
    """What a v1 Ed25519 cosignature signs (c2sp.org/tlog-cosignature §Ed25519 signed message)."""
    return f"cosignature/v1\ntime {timestamp}\n{text}".encode()


@dataclass(frozen=True)
class Cosignature:
    """A verified cosignature: which key made it, when (POSIX seconds), and its note signature line."""

    name: str
    timestamp: int
    line: str  # "— <name> <base64>\n"


@dataclass(frozen=True)
class WitnessKey:
    """One witness's cosigning key (signature type 0x04)."""

    name: str
    public_key: Ed25519PublicKey

    @property
    def key_id(self) -> bytes:
        return hashlib.sha256(self.name.encode() + b"\n" + _COSIGNATURE_V1 + _raw(self.public_key)).digest()[:4]

    def vkey(self) -> str:
        encoded = base64.b64encode(_COSIGNATURE_V1 + _raw(self.public_key)).decode()
        return f"{self.name}+{self.key_id.hex()}+{encoded}"

    @classmethod
    def from_vkey(cls, vkey: str) -> WitnessKey:
        parts = vkey.strip().split("+", 2)
        if len(parts) != 3 or not _NAME.fullmatch(parts[0]):
            raise InvalidInput("a witness key reads <name>+<8 hex digits>+<base64 key>")
        name, key_hash, encoded = parts
        try:
            blob = base64.b64decode(encoded, validate=True)
        except binascii.Error:
            raise InvalidInput(f"the witness key {name}'s key part is not base64") from None
        if len(blob) != 33 or blob[:1] != _COSIGNATURE_V1:
            raise InvalidInput(f"the witness key {name} is not a cosignature key (signature type 0x04, Ed25519)")
        key = cls(name, Ed25519PublicKey.from_public_bytes(blob[1:]))
        if key.key_id.hex() != key_hash.lower():
            raise InvalidInput(f"the witness key {name}'s ID does not match its name and key")
        return key

    def verify_line(self, line: str, text: str) -> Cosignature | None:
        """The cosignature ``line`` makes on the note ``text``; ``None`` if another key made it.

        A line with this key's name and ID whose signature fails raises ``ProofInvalid``
        (c2sp.org/signed-note: a known key's failing signature spoils the note).
        """
        name, blob = _read_line(line)
        if name != self.name or len(blob) < 4 or not hmac.compare_digest(blob[:4], self.key_id):
            return None
        if len(blob) != 4 + 8 + 64:
            raise ProofInvalid(f"the cosignature by {self.name} is not a timestamped Ed25519 signature")
        timestamp = int.from_bytes(blob[4:12], "big")
        if timestamp > _MAX_TIME or timestamp == 0:
            raise ProofInvalid(f"the cosignature by {self.name} has no valid time")
        try:
            self.public_key.verify(blob[12:], cosigned_message(text, timestamp))
        except InvalidSignature:
            raise ProofInvalid(f"the cosignature by {self.name} does not verify") from None
        return Cosignature(self.name, timestamp, f"{_DASH}{name} {base64.b64encode(blob).decode()}\n")


def _read_line(line: str) -> tuple[str, bytes]:
    line = line.rstrip("\n")
    if not line.startswith(_DASH):
        raise ProofInvalid("a signature line does not start with '— '")
    name, _, encoded = line[len(_DASH):].partition(" ")
    try:
        return name, base64.b64decode(encoded, validate=True)
    except binascii.Error:
        raise ProofInvalid(f"the signature by {name} is not base64") from None


def cosign(name: str, private_key: Ed25519PrivateKey, text: str, timestamp: int) -> str:
    """A cosignature line by ``private_key`` under ``name`` on the note ``text``."""
    key = WitnessKey(name, private_key.public_key())
    signature = private_key.sign(cosigned_message(text, timestamp))
    blob = key.key_id + timestamp.to_bytes(8, "big") + signature
    return f"{_DASH}{name} {base64.b64encode(blob).decode()}\n"


def split_note(note: str) -> tuple[str, list[str]]:
    """A signed note's text (ending in a newline) and its signature lines (each ending in one)."""
    split = note.rfind("\n\n")
    if split < 0 or not note.endswith("\n"):
        raise ProofInvalid("the signed note is malformed")
    return note[: split + 1], [line + "\n" for line in note[split + 2:].splitlines()]


def with_cosignatures(note: str, lines: Iterable[str]) -> str:
    """The note with the signature lines appended after its own (a checkpoint's log signature first)."""
    return note + "".join(lines)


def verify_cosignatures(note: str, keys: Sequence[WitnessKey], quorum: int | None = None) -> list[Cosignature]:
    """The cosignatures of ``keys`` on the note; ``ProofInvalid`` naming the witnesses missing below ``quorum``.

    ``quorum`` defaults to all of ``keys``. Lines of other keys are ignored; a line by
    one of ``keys`` that does not verify spoils the note.
    """
    needed = len(keys) if quorum is None else quorum
    if not 0 <= needed <= len(keys):
        raise InvalidInput(f"a quorum of {needed} cannot be met by {len(keys)} witness key(s)")
    text, lines = split_note(note)
    found: dict[str, Cosignature] = {}
    for line in lines:
        for key in keys:
            cosignature = key.verify_line(line, text)
            if cosignature is not None:
                found.setdefault(key.vkey(), cosignature)
    if len(found) < needed:
        missing = ", ".join(key.name for key in keys if key.vkey() not in found)
        raise ProofInvalid(f"the checkpoint carries {len(found)} of the {needed} witness cosignature(s) required; "
                           f"none from {missing}")
    return list(found.values())


@dataclass(frozen=True)
class Witness:
    """A witness the log submits its checkpoints to: a local name, its URL prefix and its key."""

    name: str
    url: str
    key: WitnessKey


def listed_lines(text: str, source: str, noun: str, key_words: str, longest: int,
                 read_key: Callable[[str], _Key]) -> Iterator[tuple[int, str, str, _Key]]:
    """``(line number, name, url, key)`` of each ``<name> <url> <key>`` line of a list of witnesses or peers;
    blank lines and lines starting with ``#`` are skipped. ``read_key`` reads the key (raising
    ``InvalidInput``); a name is at most ``longest`` characters. The url comes without a trailing slash."""
    for number, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        parts = line.split()
        if len(parts) != 3:
            raise InvalidInput(f"{source} line {number}: expected '<name> <url> <{key_words}>'")
        name, url, vkey = parts
        if not url.startswith(("http://", "https://")):
            raise InvalidInput(f"{source} line {number}: the URL must start with http:// or https://")
        if len(name) > longest:
            raise InvalidInput(f"{source} line {number}: a {noun} name is at most {longest} characters")
        try:
            key = read_key(vkey)
        except InvalidInput as exc:
            raise InvalidInput(f"{source} line {number}: {exc.message}") from None
        yield number, name, url.rstrip("/"), key


def parse_witnesses(text: str, source: str = "the witness list") -> list[Witness]:
    """``<name> <url> <verifier key>`` a line; blank lines and lines starting with ``#`` are skipped."""
    witnesses: list[Witness] = []
    for number, name, url, key in listed_lines(text, source, "witness", "verifier key", 100, WitnessKey.from_vkey):
        if any(w.name == name for w in witnesses):
            raise InvalidInput(f"{source} line {number}: the witness {name} is listed twice")
        witnesses.append(Witness(name, url, key))
    return witnesses


def read_witnesses(path: Path | None, quorum: int | None) -> list[Witness]:
    """The witness list in the file ``path`` (none without one), checked against the ``quorum`` asked for."""
    if path is None:
        witnesses = []
    else:
        try:
            witnesses = parse_witnesses(path.read_text(encoding="utf-8"), f"LEDGER_WITNESSES ({path})")
        except (OSError, UnicodeDecodeError) as exc:
            raise InvalidInput(f"cannot read the witness list {path}: {exc}") from None
    if quorum is not None and not 1 <= quorum <= len(witnesses):
        raise InvalidInput(f"LEDGER_WITNESS_QUORUM is {quorum}, but {len(witnesses)} witness(es) are listed")
    return witnesses


def add_checkpoint_body(old_size: int, proof: Sequence[bytes], note: str) -> str:
    """The body of ``POST <prefix>/add-checkpoint`` (c2sp.org/tlog-witness §add-checkpoint)."""
    if len(proof) > MAX_PROOF_LINES:
        raise InvalidInput("a consistency proof has at most 63 hashes")
    lines = [f"old {old_size}\n", *(base64.b64encode(node).decode() + "\n" for node in proof)]
    return "".join(lines) + "\n" + note


def parse_size(body: str) -> int:
    """The tree size a witness answers with ``409 Conflict`` (``text/x.tlog.size``: decimal and a newline)."""
    text = body.strip()
    if not text.isdigit() or (text != "0" and text.startswith("0")) or len(text) > 20:
        raise ProofInvalid(f"the witness's size answer {body[:40]!r} is not a decimal tree size")
    return int(text)
