"""HTTP clients for the servers the ledger asks: other cities, witnesses, webhooks' receivers, a hub's cities.

Making an ``httpx.Client`` the plain way builds a new TLS context and loads every
certificate authority of the system into it: about 25 ms of CPU here, more than a
whole request over the loopback. A hub that made three such clients per province
page (one per city) spent most of its time there, and a follower making one per
city every round took the processor from the requests it served. Every client
the ledger makes shares one context instead, built on first use exactly as
httpx builds its default (the system's authorities, ``SSL_CERT_FILE`` and
``SSL_CERT_DIR`` honoured), and a client that is used again and again
(``shared``) is also kept, with its open connections, for the life of the process.
"""

from __future__ import annotations

import ssl
import threading
from typing import Any

import httpx

__all__ = ["client", "shared", "tls"]

_lock = threading.Lock()
_context: ssl.SSLContext | None = None
_kept: dict[tuple, httpx.Client] = {}


def tls() -> ssl.SSLContext:
    """The one TLS context of this process's clients (an ``SSLContext`` is safe to share between threads)."""
    global _context
    with _lock:
        if _context is None:
            _context = httpx.create_ssl_context()
        return _context


def client(**options: Any) -> httpx.Client:
    """A new ``httpx.Client`` with ``options``, on the shared TLS context; the caller closes it."""
    return httpx.Client(verify=tls(), **options)


def shared(base_url: str, headers: dict[str, str] | None = None, timeout: float = 30.0) -> httpx.Client:
    """The process's one client for ``base_url`` with these headers and timeout, made on first use and never
    closed: its keep-alive connections serve every later call, from any thread (an ``httpx.Client`` may
    send from several threads at once)."""
    key = (base_url, tuple(sorted((headers or {}).items())), timeout)
    with _lock:
        found = _kept.get(key)
    if found is not None:
        return found
    made = httpx.Client(base_url=base_url, headers=headers, timeout=timeout, verify=tls())
    with _lock:
        kept = _kept.setdefault(key, made)
    if kept is not made:
        made.close()
    return kept

