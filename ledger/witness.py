"""A transparency-log witness's rules: read an add-checkpoint request, decide, cosign.

Pure logic, no storage: the caller hands ``decide`` the log's stored state (read
under a lock) and stores what it returns in the same transaction. Each rule
names the text it comes from:

- the request body and every status code: c2sp.org/tlog-witness, "add-checkpoint";
- the checkpoint note: c2sp.org/tlog-checkpoint and c2sp.org/signed-note;
- the cosignature: c2sp.org/tlog-cosignature, "Format" (key ID, vkey of type
  0x04, ``timestamped_signature``) and "Ed25519 signed message";
- consistency proofs: RFC 9162 §2.1.4.2 (``ledger.proofs``), which computes the
  same proofs as RFC 6962 §2.1.2, the section tlog-witness names.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
import struct
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from .errors import InvalidInput, LedgerError, ProofInvalid
from .proofs import verify_consistency
from .signednote import NoteVerifier

__all__ = ["Refused", "Cosigner", "CosignatureVerifier", "AddCheckpoint", "LogState", "Cosigned",
           "parse_request", "decide", "origin_hash", "EMPTY_ROOT", "MAX_SIZE"]

COSIGNATURE_V1 = b"\x04"  # tlog-cosignature "Format": the Ed25519 cosignature's signature type
EMPTY_ROOT = hashlib.sha256(b"").digest()  # RFC 6962 §2.1: the hash of the empty tree
MAX_PROOF_LINES = 63  # tlog-witness: "The client MUST NOT send more than 63 consistency proof lines"
MAX_SIZE = 2**63 - 1  # sizes and timestamps are stored as signed 64-bit integers
MAX_BODY = 64 * 1024
_DASH = "\u2014 "
_OLD = re.compile(r"old (0|[1-9][0-9]*)")
_DECIMAL = re.compile(r"0|[1-9][0-9]*")
_NAME = re.compile(r"[^\s+]+")


class Refused(LedgerError):
    """The witness will not cosign; ``status`` is the HTTP status tlog-witness prescribes."""

    code = "witness-refused"

    def __init__(self, status: int, message: str, *, known_size: int | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.known_size = known_size


def _malformed(message: str) -> Refused:
    return Refused(400, message)


def origin_hash(origin: str) -> str:
    """tlog-witness "Monitor Retrieval Mechanism": SHA-256 of the origin, lowercase hex."""
    return hashlib.sha256(origin.encode("utf-8")).hexdigest()


def _raw(public_key: Ed25519PublicKey) -> bytes:
    return public_key.public_bytes(Encoding.Raw, PublicFormat.Raw)


def _key_id(name: str, public_key: Ed25519PublicKey) -> bytes:
    # tlog-cosignature "Format": SHA-256(<name> || "\n" || 0x04 || 32-byte Ed25519 public key)[:4]
    return hashlib.sha256(name.encode("utf-8") + b"\n" + COSIGNATURE_V1 + _raw(public_key)).digest()[:4]


def _message(body: str, timestamp: int) -> bytes:
    # tlog-cosignature "Ed25519 signed message": header line, timestamp line, then the whole note body.
    return f"cosignature/v1\ntime {timestamp}\n{body}".encode("utf-8")


class Cosigner:
    """The witness's Ed25519 key under its name (a schema-less URL, tlog-cosignature "Format")."""

    def __init__(self, name: str, private_key: Ed25519PrivateKey) -> None:
        if not _NAME.fullmatch(name):
            raise InvalidInput("a witness name may not be empty or contain spaces or '+'")
        self.name = name
        self._key = private_key
        self.key_id = _key_id(name, private_key.public_key())
        self.verifier = CosignatureVerifier(name, private_key.public_key())

    def vkey(self) -> str:
        return self.verifier.vkey()

    def cosign(self, body: str, timestamp: int) -> str:
        """One signature line over the checkpoint ``body`` (its text up to and with the final newline)."""
        if not 0 < timestamp <= MAX_SIZE:
            raise InvalidInput("a cosignature's timestamp must be a positive 63-bit number")
        signature = self._key.sign(_message(body, timestamp))
        # timestamped_signature: u64 big-endian timestamp, then the 64-byte signature (RFC 8446 §3.3 order).
        blob = self.key_id + struct.pack(">Q", timestamp) + signature
        return f"{_DASH}{self.name} {base64.b64encode(blob).decode()}\n"


@dataclass(frozen=True)
class CosignatureVerifier:
    """Checks a witness's cosignature on a checkpoint; built from the witness's vkey."""

    name: str
    public_key: Ed25519PublicKey

    @property
    def key_id(self) -> bytes:
        return _key_id(self.name, self.public_key)

    def vkey(self) -> str:
        encoded = base64.b64encode(COSIGNATURE_V1 + _raw(self.public_key)).decode()
        return f"{self.name}+{self.key_id.hex()}+{encoded}"

    @classmethod
    def from_vkey(cls, vkey: str) -> CosignatureVerifier:
        parts = vkey.strip().split("+", 2)
        if len(parts) != 3 or not _NAME.fullmatch(parts[0]):
            raise InvalidInput("a verifier key reads <name>+<8 hex digits>+<base64 key>")
        try:
            blob = base64.b64decode(parts[2], validate=True)
        except binascii.Error:
            raise InvalidInput("the verifier key's key part is not base64") from None
        if len(blob) != 33 or blob[:1] != COSIGNATURE_V1:
            raise InvalidInput("the verifier key is not an Ed25519 cosignature key (type 0x04)")
        verifier = cls(parts[0], Ed25519PublicKey.from_public_bytes(blob[1:]))
        if verifier.key_id.hex() != parts[1].lower():
            raise InvalidInput("the verifier key's ID does not match its name and key")
        return verifier

    def verify(self, note: str) -> int:
        """The timestamp of this witness's valid cosignature on ``note``; raises ``ProofInvalid``."""
        split = note.rfind("\n\n")
        if split < 0:
            raise ProofInvalid("the note has no signatures")
        body, lines = note[: split + 1], note[split + 2 :].splitlines()
        for line in lines:
            name, _, encoded = line.removeprefix(_DASH).partition(" ")
            if not line.startswith(_DASH) or name != self.name:
                continue
            try:
                blob = base64.b64decode(encoded, validate=True)
            except binascii.Error:
                continue
            if len(blob) != 4 + 8 + 64 or not hmac.compare_digest(blob[:4], self.key_id):
                continue
            (timestamp,) = struct.unpack(">Q", blob[4:12])
            try:
                self.public_key.verify(blob[12:], _message(body, timestamp))
            except InvalidSignature:
                raise ProofInvalid(f"the cosignature by {self.name} does not verify") from None
            return timestamp
        raise ProofInvalid(f"the note carries no cosignature by {self.name}")


@dataclass(frozen=True)
class AddCheckpoint:
    """A well-formed add-checkpoint request; its checkpoint's signatures not yet checked."""

    old_size: int
    proof: tuple[bytes, ...]
    note: str  # the checkpoint as sent, signatures and all
    body: str  # the checkpoint's text: origin, size, root hash, any extension lines
    origin: str
    size: int
    root: bytes


def _hash_line(line: str, what: str) -> bytes:
    try:
        value = base64.b64decode(line, validate=True)
    except binascii.Error:
        raise _malformed(f"the {what} is not base64") from None
    if len(value) != 32:
        raise _malformed(f"the {what} is not a 32-byte hash")
    return value


def parse_request(raw: bytes) -> AddCheckpoint:
    """Read an add-checkpoint body (tlog-witness "add-checkpoint"); malformed input is a 400."""
    if len(raw) > MAX_BODY:
        raise _malformed("the request body is too long")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise _malformed("the request body is not UTF-8") from None
    head, blank, note = text.partition("\n\n")
    if not blank:
        raise _malformed("the request needs an old size line, proof lines, an empty line and a checkpoint")
    lines = head.split("\n")
    old = _OLD.fullmatch(lines[0])
    if old is None:
        raise _malformed("the first line must read 'old <size>' in decimal without leading zeroes")
    if len(lines) - 1 > MAX_PROOF_LINES:
        raise _malformed(f"more than {MAX_PROOF_LINES} consistency proof lines")
    proof = tuple(_hash_line(line, "consistency proof line") for line in lines[1:])
    split = note.rfind("\n\n")
    if split < 0 or not note.endswith("\n"):
        raise _malformed("the checkpoint is not a signed note (text, an empty line, signature lines)")
    body = note[: split + 1]
    signatures = note[split + 2 :].splitlines()
    if not signatures or not all(line.startswith(_DASH) for line in signatures):
        raise _malformed("the checkpoint's signature lines must each begin with an em dash and a space")
    fields = body.split("\n")[:-1]
    # tlog-checkpoint: origin, tree size in decimal, base64 root hash, then optional extension lines.
    if len(fields) < 3 or not fields[0] or any(not line for line in fields):
        raise _malformed("the checkpoint needs an origin, a size and a root hash, each on a non-empty line")
    if not _DECIMAL.fullmatch(fields[1]):
        raise _malformed("the checkpoint's size is not a decimal without leading zeroes")
    old_size, size = int(old.group(1)), int(fields[1])
    if size > MAX_SIZE or old_size > MAX_SIZE:
        raise _malformed("the tree size is beyond 2^63 - 1")
    root = _hash_line(fields[2], "checkpoint's root hash")
    if old_size > size:  # "The old size MUST be equal to or lower than the checkpoint size."
        raise _malformed(f"the old size {old_size} is larger than the checkpoint's size {size}")
    return AddCheckpoint(old_size, proof, note, body, fields[0], size, root)


@dataclass(frozen=True)
class LogState:
    """What the witness keeps for one log: its key and the latest checkpoint it cosigned."""

    origin: str
    vkey: str
    size: int  # 0 until the first cosignature
    root: bytes | None
    note: str | None = None  # the latest cosigned checkpoint: the log's signatures and ours


@dataclass(frozen=True)
class Cosigned:
    """The new state to store, and the response body (the cosignature line)."""

    size: int
    root: bytes
    note: str
    timestamp: int
    cosignature: str


def _log_signatures(note: str, verifier: NoteVerifier) -> list[str]:
    """The note's signature lines by the log's key (already verified): what the monitoring copy keeps."""
    split = note.rfind("\n\n")
    prefix = f"{_DASH}{verifier.name} "
    kept = []
    for line in note[split + 2 :].splitlines():
        if line.startswith(prefix):
            try:
                blob = base64.b64decode(line[len(prefix):], validate=True)
            except binascii.Error:
                continue
            if blob[:4] == verifier.key_id:
                kept.append(line + "\n")
    return kept


def decide(state: LogState | None, request: AddCheckpoint, cosigner: Cosigner, now: int) -> Cosigned:
    """Check ``request`` against the stored ``state`` in the order tlog-witness gives; cosign or raise ``Refused``."""
    if state is None:
        raise Refused(404, f"this witness does not watch the log {request.origin!r}")
    verifier = NoteVerifier.from_vkey(state.vkey)
    try:
        # Signatures by unknown keys are ignored; a trusted key's bad signature spoils the note (signed-note).
        verifier.open(request.note)
    except ProofInvalid as exc:
        raise Refused(403, exc.message) from None
    if request.old_size != state.size:
        raise Refused(409, f"the latest checkpoint this witness cosigned for the log has size {state.size}",
                      known_size=state.size)
    if request.size == 0 and request.root != EMPTY_ROOT:
        raise Refused(422, "a checkpoint of size 0 must carry the empty tree's root hash")
    if request.old_size == 0:
        if request.proof:
            raise Refused(422, "the old size is 0, so the consistency proof must be empty")
    else:
        assert state.root is not None
        try:
            verify_consistency(request.old_size, request.size, state.root, request.root, request.proof)
        except ProofInvalid as exc:
            raise Refused(422, f"not consistent with the checkpoint cosigned at size {state.size}: {exc.message}") from None
    cosignature = cosigner.cosign(request.body, now)
    note = request.body + "\n" + "".join(_log_signatures(request.note, verifier)) + cosignature
    return Cosigned(request.size, request.root, note, now, cosignature)
