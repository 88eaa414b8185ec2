"""Queries of the web pages' sign-ins (``page_sessions``): each row is one cookie, by its id's hash."""

from __future__ import annotations

from sqlalchemy import Connection, insert, select, update

from . import models as m

__all__ = ["insert_session", "live_session", "touch_session", "revoke_session", "revoke_sessions_of"]


def insert_session(connection: Connection, id_hash: bytes, account: int, at: str) -> None:
    connection.execute(insert(m.page_sessions).values(id_hash=id_hash, account=account, created_at=at, last_seen=at))


def live_session(connection: Connection, id_hash: bytes, *, seen_after: str, created_after: str):
    """The session and its account's role, party and name, if it is neither revoked nor past either limit
    and its account is not disabled; else None."""
    s, a = m.page_sessions.c, m.accounts.c
    query = (
        select(s.account, s.last_seen, a.role, a.party, a.name)
        .select_from(m.page_sessions.join(m.accounts, a.id == s.account))
        .where(s.id_hash == id_hash, s.revoked_at.is_(None), s.last_seen > seen_after, s.created_at > created_after,
               a.disabled.is_(False))
    )
    return connection.execute(query).first()


def touch_session(connection: Connection, id_hash: bytes, at: str) -> None:
    s = m.page_sessions.c
    connection.execute(update(m.page_sessions).where(s.id_hash == id_hash, s.revoked_at.is_(None)).values(last_seen=at))


def revoke_session(connection: Connection, id_hash: bytes, at: str) -> None:
    s = m.page_sessions.c
    connection.execute(update(m.page_sessions).where(s.id_hash == id_hash, s.revoked_at.is_(None)).values(revoked_at=at))


def revoke_sessions_of(connection: Connection, account: int, at: str) -> None:
    s = m.page_sessions.c
    connection.execute(update(m.page_sessions).where(s.account == account, s.revoked_at.is_(None)).values(revoked_at=at))
