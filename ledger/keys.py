"""The platform's signing keys: kept in files outside the database.

``ledger init`` creates them once (mode 0600, never overwritten); the service
loads them at start-up. Losing the log key means starting a new log origin;
leaking it lets someone sign false checkpoints, so it belongs on the server's
disk only.
"""

from __future__ import annotations

import os
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
    load_pem_private_key,
)

from .errors import InvalidInput

__all__ = ["create_key", "load_key", "ensure_key"]


def create_key(path: Path) -> Ed25519PrivateKey:
    """Write a new key to ``path``; refuses to overwrite an existing file."""
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption())
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(pem)
        handle.flush()
        os.fsync(handle.fileno())
    return key


def load_key(path: Path) -> Ed25519PrivateKey:
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise InvalidInput(f"no signing key at {path}: run `ledger init` first") from None
    try:
        key = load_pem_private_key(data, password=None)
    except ValueError:
        raise InvalidInput(f"{path} is not a PEM private key") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise InvalidInput(f"{path} is not an Ed25519 key")
    return key


def ensure_key(path: Path) -> tuple[Ed25519PrivateKey, bool]:
    """The key at ``path``, created if missing; the flag says whether it was created."""
    if path.exists():
        return load_key(path), False
    try:
        return create_key(path), True
    except FileExistsError:  # another `ledger init` won the race
        return load_key(path), False
