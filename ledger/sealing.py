"""End users' personal data sealed at rest, found by a keyed hash of the phone (docs/privacy.md).

The personal-data key file (``LEDGER_PERSONAL_KEY_FILE``, created by ``ledger init``, mode 0600)
is kept outside the database like the log's signing key. It holds one key version a line::

    <version> <sealing key, base64, 32 bytes> <lookup key, base64, 32 bytes>

The newest (highest) version seals; every version in the file still opens what it sealed, so a
rotation (``ledger keys rotate-personal``) adds a version, re-seals every row, and may then retire
the old ones.

- **Sealing**: AES-256-GCM (NIST SP 800-38D) with a fresh 96-bit nonce per sealing; the sealed
  bytes are ``version (2 bytes, big-endian) ‖ nonce ‖ ciphertext+tag``, and the associated data
  binds them to their purpose and row (``end_user:<ref>``), so a sealed value copied onto another
  row does not open.
- **Lookup**: HMAC-SHA256 (RFC 2104) under the version's lookup key over the normalised phone
  number; equal numbers give equal hashes, so a lookup is an exact match on an indexed column,
  and without the key the hash cannot be tested against guessed numbers.
- **One-time codes** are kept as HMAC-SHA256 under the lookup key over the phone's hash and the
  code, never as the code.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import re
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from .errors import InvalidInput

__all__ = ["PersonalKeys", "load_personal_keys", "ensure_personal_keys", "add_version", "retire_versions",
           "normalise_phone", "mask_name", "mask_phone", "SealBroken"]

_LINE = re.compile(r"^(\d{1,5}) ([A-Za-z0-9+/=]{44}) ([A-Za-z0-9+/=]{44})$")


class SealBroken(Exception):
    """Sealed bytes that no key in the file opens (a retired version, a copied value, a changed byte)."""


@dataclass(frozen=True)
class _Version:
    number: int
    seal: bytes
    lookup: bytes


class PersonalKeys:
    """The versions of the personal-data key; the newest seals, each opens its own."""

    def __init__(self, versions: list[_Version]) -> None:
        if not versions:
            raise InvalidInput("the personal-data key file holds no key")
        self._versions = {v.number: v for v in versions}
        self.current = max(self._versions)

    @property
    def versions(self) -> tuple[int, ...]:
        return tuple(sorted(self._versions))

    def seal(self, purpose: str, values: dict[str, Any]) -> bytes:
        key = self._versions[self.current]
        nonce = os.urandom(12)
        plain = json.dumps(values, ensure_ascii=False, sort_keys=True, separators=(",", ":")).encode()
        return self.current.to_bytes(2, "big") + nonce + AESGCM(key.seal).encrypt(nonce, plain, purpose.encode())

    def open(self, purpose: str, sealed: bytes) -> dict[str, Any]:
        sealed = bytes(sealed)
        version = self._versions.get(int.from_bytes(sealed[:2], "big")) if len(sealed) > 30 else None
        if version is None:
            raise SealBroken("sealed with a key version this file no longer holds")
        try:
            plain = AESGCM(version.seal).decrypt(sealed[2:14], sealed[14:], purpose.encode())
        except InvalidTag:
            raise SealBroken("sealed value does not open: changed or moved") from None
        return json.loads(plain)

    @staticmethod
    def version_of(sealed: bytes) -> int:
        return int.from_bytes(bytes(sealed)[:2], "big")

    def phone_hash(self, phone: str, version: int | None = None) -> bytes:
        """The lookup hash of a normalised phone number under ``version`` (default: the newest)."""
        key = self._versions[self.current if version is None else version]
        return hmac.new(key.lookup, b"phone:" + phone.encode(), hashlib.sha256).digest()

    def phone_hashes(self, phone: str) -> list[bytes]:
        """The number's hash under every version: rows not yet re-sealed are still found."""
        return [self.phone_hash(phone, v) for v in sorted(self._versions, reverse=True)]

    def code_hash(self, phone_hash: bytes, code: str) -> bytes:
        key = self._versions[self.current]
        return hmac.new(key.lookup, b"code:" + bytes(phone_hash) + b":" + code.encode(), hashlib.sha256).digest()


def _new_version(number: int) -> str:
    return f"{number} {base64.b64encode(secrets.token_bytes(32)).decode()} {base64.b64encode(secrets.token_bytes(32)).decode()}"


def _parse(path: Path, text: str) -> list[_Version]:
    versions = []
    for number, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        match = _LINE.match(line)
        if match is None:
            raise InvalidInput(f"{path}:{number}: expected <version> <sealing key> <lookup key> (base64, 32 bytes each)")
        seal, lookup = base64.b64decode(match[2]), base64.b64decode(match[3])
        if len(seal) != 32 or len(lookup) != 32:
            raise InvalidInput(f"{path}:{number}: each key must be 32 bytes")
        versions.append(_Version(int(match[1]), seal, lookup))
    if len({v.number for v in versions}) != len(versions):
        raise InvalidInput(f"{path}: a key version is listed twice")
    return versions


_HEADER = "# cylinder-ledger personal-data keys: <version> <sealing key> <lookup key>; keep outside the database\n"


def load_personal_keys(path: Path) -> PersonalKeys:
    try:
        text = path.read_text(encoding="ascii")
    except FileNotFoundError:
        raise InvalidInput(f"no personal-data key at {path}: run `ledger init` first") from None
    except UnicodeDecodeError:
        raise InvalidInput(f"{path} is not a personal-data key file") from None
    return PersonalKeys(_parse(path, text))


def _write(path: Path, lines: list[str], *, new: bool) -> None:
    """Write the whole file (mode 0600): a fresh file, or a replacement renamed over the old one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    target = path if new else path.with_name(path.name + ".new")
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL
    if not new and target.exists():
        target.unlink()
    fd = os.open(target, flags, 0o600)
    with os.fdopen(fd, "w", encoding="ascii") as handle:
        handle.write(_HEADER + "".join(line + "\n" for line in lines))
        handle.flush()
        os.fsync(handle.fileno())
    if not new:
        os.replace(target, path)


def ensure_personal_keys(path: Path) -> tuple[PersonalKeys, bool]:
    """The keys at ``path``, created with version 1 if missing; the flag says whether they were created."""
    if path.exists():
        return load_personal_keys(path), False
    try:
        _write(path, [_new_version(1)], new=True)
    except FileExistsError:  # another `ledger init` won the race
        return load_personal_keys(path), False
    return load_personal_keys(path), True


def _lines(path: Path) -> list[str]:
    return [line.strip() for line in path.read_text(encoding="ascii").splitlines()
            if line.strip() and not line.strip().startswith("#")]


def add_version(path: Path) -> PersonalKeys:
    """Add a new newest version to the file; every older one stays, so what it sealed still opens."""
    keys = load_personal_keys(path)
    _write(path, [*_lines(path), _new_version(keys.current + 1)], new=False)
    return load_personal_keys(path)


def retire_versions(path: Path, keep: set[int]) -> PersonalKeys:
    """Drop from the file every version not in ``keep`` (the newest is always kept)."""
    keys = load_personal_keys(path)
    keep = keep | {keys.current}
    _write(path, [line for line in _lines(path) if int(line.split()[0]) in keep], new=False)
    return load_personal_keys(path)


# -- phone numbers and masks --------------------------------------------------------------

_SEPARATORS = re.compile(r"[\s\-()]")


def normalise_phone(text: str, field: str = "phone") -> str:
    """The number as it is hashed: separators removed and a mainland prefix (+86, 0086) dropped.

    Mainland mobile numbers are 11 digits starting with 1 (GB/T numbering as carriers issue them);
    landlines and other countries' numbers are kept as 5 to 20 digits, a leading + kept."""
    if not isinstance(text, str) or len(text) > 40:
        raise InvalidInput("phone must be a phone number of at most 40 characters", field=field)
    number = _SEPARATORS.sub("", text)
    for prefix in ("+86", "0086"):
        if number.startswith(prefix) and len(number) == len(prefix) + 11:
            number = number[len(prefix):]
    if not re.fullmatch(r"\+?[0-9]{5,20}", number):
        raise InvalidInput("phone must be a phone number: digits, optionally a leading + and spaces or hyphens",
                           field=field)
    if len(number) == 11 and number[0] == "1" and number[1] not in "3456789":
        raise InvalidInput("a mainland mobile number starts with 13 to 19", field=field)
    return number


def mask_name(name: str | None) -> str | None:
    """The first character, then one * per character hidden: 张三 → 张*, 欧阳娜娜 → 欧***."""
    if not name:
        return name
    return name[0] + "*" * max(1, len(name) - 1)


def mask_phone(phone: str | None) -> str | None:
    """The first three and last four digits of a mobile number (138****8000); of a shorter
    number, only its last two digits."""
    if not phone:
        return phone
    try:
        digits = normalise_phone(phone)
    except InvalidInput:
        digits = re.sub(r"[^0-9]", "", phone) or "00"
    if len(digits) >= 11:
        return digits[:3] + "*" * (len(digits) - 7) + digits[-4:]
    return "*" * (len(digits) - 2) + digits[-2:]
