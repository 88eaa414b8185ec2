"""Citizens' tracking codes catch typos, and the report limits parse as documented (docs/citizens.md)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from ledger import citizen, tracecode
from ledger.errors import InvalidInput


def test_every_single_wrong_character_and_every_swap_of_neighbours_is_caught() -> None:
    for _ in range(20):
        code = citizen.new_tracking_code()
        assert citizen.tracking_code(code) == code
        for i in range(len(code)):
            for other in tracecode.ALPHABET:
                if other != code[i]:
                    with pytest.raises(InvalidInput):
                        citizen.tracking_code(code[:i] + other + code[i + 1:])
            if i + 1 < len(code) and code[i] != code[i + 1]:
                with pytest.raises(InvalidInput):
                    citizen.tracking_code(code[:i] + code[i + 1] + code[i] + code[i + 2:])


def test_a_code_is_read_as_printed_in_any_case_and_nothing_else_is() -> None:
    code = citizen.new_tracking_code()
    assert citizen.tracking_code(citizen.printed(code).lower()) == code
    for bad in ("", code[:-1], code + "0", code[:5] + "é" + code[6:], None, 12, "x" * 41):
        with pytest.raises(InvalidInput):
            citizen.tracking_code(bad)


def test_the_limits_parse_with_defaults_for_what_is_left_out() -> None:
    default = citizen.parse_limits(citizen.DEFAULT_LIMITS)
    assert (default.per_address, default.address_window) == (5, timedelta(hours=1))
    assert (default.per_cylinder, default.cylinder_window, default.fold) == (20, timedelta(days=1), timedelta(days=7))
    mixed = citizen.parse_limits("address=2/30m")
    assert (mixed.per_address, mixed.address_window, mixed.fold) == (2, timedelta(minutes=30), default.fold)
    for bad in ("address=0/1h", "address=5", "fold=1w", "cylinder=3/0d", "phone=1/1h"):
        with pytest.raises(ValueError, match="LEDGER_REPORT_LIMITS"):
            citizen.parse_limits(bad)


def test_the_address_a_limit_counts_is_keyed() -> None:
    assert citizen.address_hash(b"k1", "10.0.0.1") != citizen.address_hash(b"k2", "10.0.0.1")
    assert citizen.address_hash(b"k1", "10.0.0.1") == citizen.address_hash(b"k1", "10.0.0.1")
