"""Seeded identifiers, so that one seed always builds the same ledger, hashes included.

The ledger issues trace codes (``ledger.tracecode.generate``) and party, person
and end-user ids (``ledger.service.new_id``) from the operating system's
randomness, as it must in production. While a demo city is built, both draw
from the demo's seeded ``random.Random`` instead; everything else (checks,
storage, hashing) is the production path. The originals are restored when the
block ends, before anything is served.
"""

from __future__ import annotations

import contextlib
import random
import threading
from collections.abc import Iterator

from .. import service, tracecode

__all__ = ["seeded_identifiers"]

_LOCK = threading.Lock()  # one build at a time may swap the generators


@contextlib.contextmanager
def seeded_identifiers(rng: random.Random) -> Iterator[None]:
    """Within the block, new trace codes and ids come from ``rng``."""
    alphabet = service._ID_ALPHABET

    def trace_code() -> str:
        body = "".join(rng.choice(tracecode.ALPHABET) for _ in range(tracecode.BODY_LENGTH))
        return body + tracecode.check_character(body)

    def new_id(prefix: str, length: int = 7) -> str:
        return prefix + "".join(rng.choice(alphabet) for _ in range(length))

    with _LOCK:
        saved = tracecode.generate, service.new_id
        tracecode.generate, service.new_id = trace_code, new_id
        try:
            yield
        finally:
            tracecode.generate, service.new_id = saved
