"""Sign-ins to the web pages, held on the server (docs/pages.md "Sessions").

A sign-in is a random id (256 bits) that only the browser's cookie holds; the
database keeps its SHA-256, so reading the table opens no session. An id stops
opening pages when it is revoked (signing out), when it was not used for
``Settings.session_idle_seconds``, when it is older than
``Settings.session_max_seconds``, or when its account is disabled. The bearer
token the person signed in with is never kept: neither in the cookie nor here.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from .config import Settings
from .domain import Role, format_time
from .errors import NotFound
from .service import Actor
from .storage import Connection
from .storage import registry as reg
from .storage import sessions as rows

__all__ = ["Live", "open_session", "live_session", "touch_session", "close_session", "disable_account", "TOUCH_EVERY"]

# A page view moves ``last_seen`` at most this often: one write a minute per reader, not one per view.
TOUCH_EVERY = timedelta(minutes=1)


@dataclass(frozen=True)
class Live:
    """A live sign-in: who acts, and whether its ``last_seen`` is due to be moved (``touch_session``)."""

    actor: Actor
    stale: bool


def _hash(session_id: str) -> bytes:
    # The id is 256 random bits, so a plain hash is as strong as a slow one (as for tokens).
    return hashlib.sha256(session_id.encode()).digest()


def open_session(connection: Connection, account: int, now: datetime) -> str:
    """Start a sign-in of ``account``; returns the id for the cookie (shown once, stored only hashed)."""
    session_id = secrets.token_urlsafe(32)
    rows.insert_session(connection, _hash(session_id), account, format_time(now))
    return session_id


def live_session(connection: Connection, settings: Settings, session_id: str, now: datetime) -> Live | None:
    """The sign-in's account, or None for one revoked, expired, unknown or of a disabled account."""
    row = rows.live_session(
        connection, _hash(session_id),
        seen_after=format_time(now - timedelta(seconds=settings.session_idle_seconds)),
        created_after=format_time(now - timedelta(seconds=settings.session_max_seconds)))
    if row is None:
        return None
    # Canonical times sort as text; a view within TOUCH_EVERY of the last one writes nothing.
    return Live(Actor(Role(row.role), row.party, row.name, row.account),
                stale=row.last_seen <= format_time(now - TOUCH_EVERY))


def touch_session(connection: Connection, session_id: str, now: datetime) -> None:
    """Record a use of the sign-in, which restarts its idle limit (not its absolute one)."""
    rows.touch_session(connection, _hash(session_id), format_time(now))


def close_session(connection: Connection, session_id: str, now: datetime) -> None:
    """Revoke a sign-in: its id never opens a page again, even if a copy of the cookie survives."""
    rows.revoke_session(connection, _hash(session_id), format_time(now))


def disable_account(connection: Connection, account: int, now: datetime) -> None:
    """Disable an account: its token is refused and every sign-in of it ends at once."""
    if not reg.disable_account(connection, account):
        raise NotFound(f"no account {account}")
    rows.revoke_sessions_of(connection, account, format_time(now))
