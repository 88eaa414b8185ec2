"""Which account a bearer token names, remembered for a few seconds per process.

Looking a token up is a database read on every request; drivers' apps send the
same token thousands of times an hour. A hit is kept for ``ttl`` seconds, so a
disabled account is refused at most that long after it is disabled (docs/api.md
"Accounts"). Unknown tokens are never remembered: guessing fills nothing.
Only SHA-256 digests of tokens are held, never the tokens themselves.
"""

from __future__ import annotations

import hashlib
import time
from collections import OrderedDict

from ledger.service import Actor

__all__ = ["AccountCache"]


class AccountCache:
    def __init__(self, ttl: float = 5.0, size: int = 10_000) -> None:
        self.ttl = ttl
        self.size = size
        self._entries: OrderedDict[bytes, tuple[float, Actor]] = OrderedDict()

    @staticmethod
    def _key(token: str) -> bytes:
        return hashlib.sha256(token.encode()).digest()

    def get(self, token: str) -> Actor | None:
        key = self._key(token)
        entry = self._entries.get(key)
        if entry is None:
            return None
        if entry[0] < time.monotonic():
            del self._entries[key]
            return None
        return entry[1]

    def put(self, token: str, actor: Actor) -> None:
        if self.ttl <= 0:
            return
        self._entries[self._key(token)] = (time.monotonic() + self.ttl, actor)
        self._entries.move_to_end(self._key(token))
        while len(self._entries) > self.size:
            self._entries.popitem(last=False)

    def clear(self) -> None:
        self._entries.clear()
