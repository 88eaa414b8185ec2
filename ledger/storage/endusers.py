"""Queries of end users' sealed personal data, the log of who viewed it, one-time codes and rate windows."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import Connection, and_, delete, insert, or_, select, update
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from . import models as m

__all__ = [
    "by_phone_hashes", "plaintext_rows", "not_sealed_with", "reseal", "record_view", "views", "count_in_window",
    "insert_code", "live_codes", "spend_attempt", "use_code", "deliveries_to", "party_names", "versions_in_use",
    "compact",
]


def by_phone_hashes(connection: Connection, hashes: Sequence[bytes]) -> list:
    """The end users whose phone hashes to one of ``hashes`` (exact match only), oldest first."""
    u = m.end_users.c
    return list(connection.execute(select(m.end_users).where(u.phone_hash.in_(list(hashes)))
                                   .order_by(u.created_at, u.ref)))


def plaintext_rows(connection: Connection, limit: int = 500) -> list:
    """Rows from before revision 0015 whose name, phone or address is still in plaintext."""
    u = m.end_users.c
    return list(connection.execute(select(m.end_users).where(or_(u.name.is_not(None), u.phone.is_not(None),
                                                                  u.address.is_not(None)))
                                   .order_by(u.ref).limit(limit)))


def not_sealed_with(connection: Connection, version: int, after: str, limit: int = 500) -> list:
    """Sealed rows under another key version than ``version``, by ref after ``after``."""
    u = m.end_users.c
    return list(connection.execute(select(m.end_users).where(u.sealed.is_not(None), u.key_version != version,
                                                             u.ref > after).order_by(u.ref).limit(limit)))


def versions_in_use(connection: Connection) -> set[int]:
    u = m.end_users.c
    return {v for v in connection.execute(select(u.key_version).distinct()).scalars() if v is not None}


def reseal(connection: Connection, ref: str, *, sealed: bytes, phone_hash: bytes | None, key_version: int) -> None:
    """Store a row's sealed value and blank its plaintext columns."""
    connection.execute(update(m.end_users).where(m.end_users.c.ref == ref).values(
        sealed=sealed, phone_hash=phone_hash, key_version=key_version, name=None, phone=None, address=None))


def record_view(connection: Connection, **values: object) -> None:
    connection.execute(insert(m.personal_data_views).values(**values))


def views(connection: Connection, *, ref: str | None, before: int | None, limit: int,
          since: str | None = None, until: str | None = None) -> list:
    """The view log, newest first; ``before``: an id the page starts below; ``since`` (inclusive) and
    ``until`` (exclusive): ledger times bounding ``viewed_at``."""
    v = m.personal_data_views.c
    query = select(m.personal_data_views).order_by(v.id.desc()).limit(limit)
    if ref is not None:
        query = query.where(v.ref == ref)
    if since is not None:
        query = query.where(v.viewed_at >= since)
    if until is not None:
        query = query.where(v.viewed_at < until)
    if before is not None:
        query = query.where(v.id < before)
    return list(connection.execute(query))


def count_in_window(connection: Connection, bucket: str, window: int) -> int:
    """Count one more request in ``bucket``'s fixed ``window``; returns the count with it. Whenever a
    window opens, every bucket's windows more than a day older are dropped."""
    dialect_insert = postgresql_insert if connection.dialect.name == "postgresql" else sqlite_insert
    r = m.rate_windows.c
    statement = dialect_insert(m.rate_windows).values(bucket=bucket, window=window, count=1)
    statement = statement.on_conflict_do_update(index_elements=["bucket", "window"],
                                                set_={"count": m.rate_windows.c.count + 1}).returning(r.count)
    count = connection.execute(statement).scalar_one()
    if count == 1:
        connection.execute(delete(m.rate_windows).where(r.window < window - 86400))
    return count


def insert_code(connection: Connection, *, stale_before: str, **values: object) -> None:
    """Store a code; codes that expired before ``stale_before`` are dropped on the way."""
    c = m.end_user_codes.c
    connection.execute(delete(m.end_user_codes).where(c.expires_at < stale_before))
    connection.execute(insert(m.end_user_codes).values(**values))


def live_codes(connection: Connection, hashes: Sequence[bytes], now: str) -> list:
    """The codes sent to these phone hashes that are unused and unexpired, newest first."""
    c = m.end_user_codes.c
    return list(connection.execute(select(m.end_user_codes).where(
        c.phone_hash.in_(list(hashes)), c.used_at.is_(None), c.expires_at > now).order_by(c.id.desc())))


def spend_attempt(connection: Connection, code_id: int, limit: int, now: str) -> None:
    """One wrong try at a code; at ``limit`` tries the code is used up."""
    c = m.end_user_codes.c
    connection.execute(update(m.end_user_codes).where(c.id == code_id).values(attempts=c.attempts + 1))
    connection.execute(update(m.end_user_codes).where(c.id == code_id, c.attempts >= limit, c.used_at.is_(None))
                       .values(used_at=now))


def use_code(connection: Connection, code_id: int, now: str) -> bool:
    """Mark the code used; False when another request used it first."""
    c = m.end_user_codes.c
    return connection.execute(update(m.end_user_codes).where(c.id == code_id, c.used_at.is_(None))
                              .values(used_at=now)).rowcount == 1


def deliveries_to(connection: Connection, refs: Sequence[str], limit: int = 200) -> list:
    """The deliver and collect events naming ``refs`` in ``to``, newest first."""
    e = m.events.c
    if not refs:
        return []
    return list(connection.execute(
        select(e.id, e.cylinder, e.seq, e.kind, e.occurred_at, e.party, e.to_ref, e.data)
        .where(and_(e.to_ref.in_(list(refs)), e.kind.in_(("deliver", "collect"))))
        .order_by(e.occurred_at.desc(), e.id.desc()).limit(limit)))


def party_names(connection: Connection, ids: set[str]) -> dict[str, str]:
    p = m.parties.c
    if not ids:
        return {}
    return dict(connection.execute(select(p.id, p.name).where(p.id.in_(sorted(ids)))).all())


def compact(database) -> None:
    """Rewrite ``end_users`` so no free page still holds plaintext overwritten by sealing: SQLite
    copies the whole file (VACUUM) and empties its WAL; PostgreSQL rewrites the table (VACUUM FULL)."""
    with database.writer.connect() as connection:
        raw = connection.connection.dbapi_connection
        if database.is_sqlite:
            raw.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            raw.execute("VACUUM")
            raw.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        else:
            autocommit = raw.autocommit
            raw.autocommit = True
            try:
                raw.execute("VACUUM FULL end_users")
            finally:
                raw.autocommit = autocommit
