"""Free text kept beside the chain: a report's note, committed to by a salted hash.

A note may name people, so its text must be erasable (PIPL art. 47), while the
chain can never change. The chain therefore holds only the note's commitment:

    commitment = SHA-256(salt ‖ UTF-8(text))        salt: 32 random bytes

and an event's data reads ``{"note": {"sha256": "<commitment, lowercase hex>"}}``.
Text and salt are stored beside the chain (the ``notes`` table). Whoever holds
both can check the commitment with ``check``; once both are erased, the 256-bit
salt leaves nothing to guess the text from, and every hash, proof and bundle
still verifies because none of them ever covered the text. docs/privacy.md
describes the procedure.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from typing import Any

from .errors import ProofInvalid

__all__ = ["SALT_BYTES", "Note", "new_salt", "seal", "commitment", "check", "committed", "commitment_of"]

SALT_BYTES = 32


@dataclass(frozen=True, slots=True)
class Note:
    """A note's text as submitted, its salt and the commitment the chain holds."""

    text: str
    salt: bytes
    sha256: bytes

    def data(self) -> dict[str, Any]:
        """The event data the chain stores in place of the text."""
        return committed(self.sha256)


def commitment(salt: bytes, text: str) -> bytes:
    """SHA-256(salt ‖ UTF-8 text)."""
    return hashlib.sha256(salt + text.encode("utf-8")).digest()


def new_salt() -> bytes:
    """``SALT_BYTES`` from the operating system's random source (a seeded demo city swaps in its seed)."""
    return secrets.token_bytes(SALT_BYTES)


def seal(text: str) -> Note:
    """Commit to ``text`` under a fresh random salt."""
    salt = new_salt()
    return Note(text, salt, commitment(salt, text))


def check(sha256: bytes, salt: bytes, text: str) -> None:
    """Raise ``ProofInvalid`` unless ``text`` under ``salt`` is what ``sha256`` commits to."""
    if len(salt) != SALT_BYTES or not hmac.compare_digest(commitment(salt, text), sha256):
        raise ProofInvalid("the note's text and salt do not match the commitment in the chain")


def committed(sha256: bytes) -> dict[str, Any]:
    return {"note": {"sha256": sha256.hex()}}


def commitment_of(data: dict[str, Any]) -> bytes | None:
    """The commitment a stored event's data holds, or ``None`` (no note, or not in committed form)."""
    note = data.get("note")
    if isinstance(note, dict) and isinstance(note.get("sha256"), str) and len(note["sha256"]) == 64:
        try:
            return bytes.fromhex(note["sha256"])
        except ValueError:
            return None
    return None
