"""Cursors are issued and read by one codec: signed, typed, and bounded for every database column they meet."""

from __future__ import annotations

import base64
import hashlib
import hmac

import pytest

from ledger.cursor import MAX_POSITION, CursorCodec
from ledger.errors import InvalidInput

CODEC = CursorCodec(b"k" * 32)


def _signed(payload: str, key: bytes = b"k" * 32) -> str:
    """A cursor as a holder of the server's key would write it, to reach the checks behind the tag."""
    raw = payload.encode()
    tag = hmac.new(key, raw, hashlib.sha256).digest()[:16]
    encode = lambda data: base64.urlsafe_b64encode(data).decode().rstrip("=")  # noqa: E731
    return f"{encode(raw)}.{encode(tag)}"


@pytest.mark.parametrize("list_name, position", [("findings", 1), ("findings", MAX_POSITION), ("events", 0),
                                                 ("parties", "P1A2B3C4"), ("risk", "7K3Q9XZ2ABM")])
def test_an_issued_cursor_reads_back_its_position(list_name, position) -> None:
    assert CODEC.read(CODEC.issue(list_name, position), list_name) == position


def test_no_cursor_is_the_first_page() -> None:
    assert CODEC.read(None, "findings") is None and CODEC.read("", "findings") is None


@pytest.mark.parametrize("payload", ["findings:2147483648", "findings:9223372036854775808", "findings:²",
                                     "findings:-1", "findings:+1", "findings:01", "findings:1_0", "findings: 1",
                                     "findings:١", "findings:", "events:1\x00", "parties:A\x00", "parties:",
                                     "parties:../x", "risk:A\u202eB"])
def test_a_signed_but_impossible_position_is_refused(payload: str) -> None:
    list_name = payload.split(":")[0]
    with pytest.raises(InvalidInput) as refused:
        CODEC.read(_signed(payload), list_name)
    assert refused.value.field == "cursor"


@pytest.mark.parametrize("cursor", ["x", "a.b", "." * 50, "A" * 300, "Zjo5.AAAAAAAAAAAAAAAAAAAAAA", "\x00",
                                    _signed("findings:1", key=b"other key of 32 bytes..........")])
def test_a_cursor_the_server_did_not_issue_is_refused(cursor: str) -> None:
    with pytest.raises(InvalidInput):
        CODEC.read(cursor, "findings")


@pytest.mark.parametrize("list_name, position", [("findings", MAX_POSITION + 1), ("findings", -1), ("events", True),
                                                 ("parties", "A\x00")])
def test_the_server_never_issues_a_cursor_it_would_refuse(list_name, position) -> None:
    with pytest.raises(ValueError):
        CODEC.issue(list_name, position)
