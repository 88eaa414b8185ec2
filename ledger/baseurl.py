"""Whether printed labels would point somewhere the server is not (docs/operations.md "Base URL").

A label's QR code carries ``LEDGER_BASE_URL``; printed on steel it outlives any setting. Left at its
default (``http://127.0.0.1:8000``) on a server reached at another address, every label would send a
citizen's phone to a loopback address on the phone itself. ``mismatch`` names that case.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from .config import Settings

__all__ = ["DEFAULT_BASE_URL", "is_default", "mismatch"]

DEFAULT_BASE_URL = Settings.base_url
_LOOPBACK = {"127.0.0.1", "localhost", "::1"}


def is_default(base_url: str) -> bool:
    return base_url.rstrip("/") == DEFAULT_BASE_URL


def mismatch(base_url: str, host: str | None, port: int | None, scheme: str = "http") -> str | None:
    """Why labels must not be made: the base URL is the default and the server is reached at ``host:port``
    (``None`` if that is the default's own address, or the base URL was set to something else)."""
    if not is_default(base_url):
        return None
    default = urlsplit(DEFAULT_BASE_URL)
    port = port or (443 if scheme == "https" else 80)
    if scheme == default.scheme and (host or "").strip("[]") in _LOOPBACK and port == default.port:
        return None
    where = f"{scheme}://{host}:{port}"
    return (f"labels would point at the default {DEFAULT_BASE_URL}, but this server is reached at {where}: "
            f"set LEDGER_BASE_URL to the address phones open (e.g. https://trace.your-city.gov.cn) and restart")
