"""Cursors: the opaque tokens that page through a list, issued and read in one place.

A cursor is ``<payload>.<tag>``, both base64url without padding. The payload
is ``<list>:<position>``: the list it pages (``parties``, ``events``,
``findings``, ``risk``, ``epcis``) and the last position a page showed. The tag is the
first 16 bytes of HMAC-SHA256 (RFC 2104) of the payload under a key only the
server holds, so a client can only hand back a cursor it was given, for the
list it was given for.

``CursorCodec.read`` checks, and raises ``InvalidInput`` (field ``cursor``)
with the reason on the first failure:

1. the shape: at most 200 characters of the base64url alphabet around one dot;
2. the tag, compared in constant time;
3. the list named in the payload is the one being paged;
4. the position has its list's type, spelled one way only, within bounds that
   fit every column a position is compared with on SQLite and PostgreSQL:
   a whole number 0 ≤ n ≤ 2³¹−1 (PostgreSQL's ``integer``), or an identifier.

A position is parsed by a pattern of ASCII digits before ``int`` sees it, so
no other spelling (``²``, ``٣``, ``+1``, ``1_0``) and no oversized number ever
reaches a query.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
from typing import Literal

from .errors import InvalidInput

__all__ = ["CursorCodec", "ListName", "MAX_POSITION", "MAX_CURSOR"]

ListName = Literal["parties", "events", "findings", "risk", "epcis", "deliveries", "personal-views"]
# What each list's positions are: an event's seq, a finding's id and an EPCIS query's log position are
# whole numbers, parties and cylinders are paged by their identifiers.
_WHOLE: frozenset[str] = frozenset({"events", "findings", "epcis", "deliveries", "personal-views"})
MAX_POSITION = 2**31 - 1  # PostgreSQL's integer, the narrowest column a position meets
MAX_CURSOR = 200
_TAG_BYTES = 16
_KEY_LABEL = b"cylinder-ledger cursor key v1\x00"

_SHAPE = re.compile(r"[A-Za-z0-9_-]{1,150}\.[A-Za-z0-9_-]{22}")
_WHOLE_NUMBER = re.compile(r"0|[1-9][0-9]{0,9}")
_IDENTIFIER = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:\-]{0,63}")


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    if _b64(raw) != text:  # one spelling per cursor: no trailing bits set
        raise ValueError("not canonical base64url")
    return raw


class CursorCodec:
    """Issues and reads the cursors of every list, under one server key."""

    def __init__(self, key: bytes) -> None:
        if len(key) < 16:
            raise ValueError("a cursor key needs at least 16 bytes")
        self._key = key

    @classmethod
    def derived_from(cls, secret: bytes) -> CursorCodec:
        """A codec whose key is derived from ``secret`` (a signing key's private bytes), never ``secret`` itself."""
        return cls(hashlib.sha256(_KEY_LABEL + secret).digest())

    def _tag(self, payload: bytes) -> bytes:
        return hmac.new(self._key, payload, hashlib.sha256).digest()[:_TAG_BYTES]

    def issue(self, list_name: ListName, position: int | str) -> str:
        """The cursor that resumes ``list_name`` after ``position``."""
        text = str(position)
        pattern = _WHOLE_NUMBER if list_name in _WHOLE else _IDENTIFIER
        if isinstance(position, bool) or not pattern.fullmatch(text) or (
                list_name in _WHOLE and int(text) > MAX_POSITION):
            raise ValueError(f"{position!r} is not a position of {list_name}")
        payload = f"{list_name}:{text}".encode("ascii")
        return f"{_b64(payload)}.{_b64(self._tag(payload))}"

    def read(self, cursor: str | None, list_name: ListName) -> int | str | None:
        """The position ``cursor`` resumes ``list_name`` after (``None`` for no cursor); see the module's steps."""
        if cursor is None or cursor == "":
            return None
        # 1. the shape
        if not isinstance(cursor, str) or len(cursor) > MAX_CURSOR or not _SHAPE.fullmatch(cursor):
            raise _refused("it is not a cursor this API issues; pass next_cursor back as it was given")
        encoded, _, tag = cursor.partition(".")
        try:
            payload, tag_bytes = _unb64(encoded), _unb64(tag)
        except (binascii.Error, ValueError):
            raise _refused("it is not a cursor this API issues; pass next_cursor back as it was given") from None
        # 2. the tag
        if not hmac.compare_digest(tag_bytes, self._tag(payload)):
            raise _refused("it was not issued by this server (altered, or from before a key change); "
                           "start again without a cursor")
        # 3. the list
        named, _, position = payload.decode("ascii", "replace").partition(":")
        if named != list_name:
            raise _refused(f"it pages {named or 'another list'}, not {list_name}")
        # 4. the position
        if list_name in _WHOLE:
            if not _WHOLE_NUMBER.fullmatch(position) or int(position) > MAX_POSITION:
                raise _refused(f"its position must be a whole number from 0 to {MAX_POSITION}")
            return int(position)
        if not _IDENTIFIER.fullmatch(position):
            raise _refused("its position is not an identifier")
        return position


def _refused(reason: str) -> InvalidInput:
    return InvalidInput(f"cursor refused: {reason}", field="cursor")
