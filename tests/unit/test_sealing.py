"""The personal-data keys: sealing opens only for its own row and version; the key file is refused when malformed."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from ledger.errors import InvalidInput
from ledger.sealing import SealBroken, add_version, ensure_personal_keys, load_personal_keys, retire_versions

VALUES = {"name": "张晓梅", "phone": "13800001234", "address": "文三路 1 号"}


def test_a_sealed_value_opens_for_its_row_only_and_hides_its_text(tmp_path: Path) -> None:
    keys, created = ensure_personal_keys(tmp_path / "personal.key")
    assert created and stat.S_IMODE(os.stat(tmp_path / "personal.key").st_mode) == 0o600
    sealed = keys.seal("end_user:U1", VALUES)
    assert keys.open("end_user:U1", sealed) == VALUES
    assert "13800001234".encode() not in sealed and "张晓梅".encode() not in sealed
    assert keys.seal("end_user:U1", VALUES) != sealed  # a fresh nonce each time
    with pytest.raises(SealBroken):
        keys.open("end_user:U2", sealed)  # copied onto another row
    changed = bytearray(sealed)
    changed[-1] ^= 1
    with pytest.raises(SealBroken):
        keys.open("end_user:U1", bytes(changed))


def test_hashes_are_keyed_and_versions_rotate(tmp_path: Path) -> None:
    path = tmp_path / "personal.key"
    first, _ = ensure_personal_keys(path)
    other, _ = ensure_personal_keys(tmp_path / "other.key")
    assert first.phone_hash("13800001234") != other.phone_hash("13800001234")  # not a plain hash
    assert first.phone_hash("13800001234") == load_personal_keys(path).phone_hash("13800001234")
    old = first.seal("end_user:U1", VALUES)
    rotated = add_version(path)
    assert rotated.versions == (1, 2) and rotated.current == 2
    assert rotated.open("end_user:U1", old) == VALUES  # the old version still opens what it sealed
    assert first.phone_hash("13800001234") in rotated.phone_hashes("13800001234")
    retired = retire_versions(path, set())
    assert retired.versions == (2,)
    with pytest.raises(SealBroken):
        retired.open("end_user:U1", old)
    assert ensure_personal_keys(path)[1] is False  # never overwritten


@pytest.mark.parametrize("text", ["1 short short\n", "1 " + "A" * 44 + "\n", "x " + "A" * 44 + " " + "A" * 44 + "\n",
                                  "# only a comment\n"])
def test_a_malformed_key_file_is_refused(tmp_path: Path, text: str) -> None:
    path = tmp_path / "personal.key"
    path.write_text(text, encoding="ascii")
    with pytest.raises(InvalidInput):
        load_personal_keys(path)


def test_a_missing_key_file_says_what_to_run(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match="ledger init"):
        load_personal_keys(tmp_path / "missing.key")
