"""The database itself refuses UPDATE and DELETE on a table, whoever connects (the log's rule, migration 0001).

Used by the revisions that add such tables; each call emits the SQL those
revisions were first written with, so a database upgraded before and one
upgraded now hold the same triggers.
"""

from __future__ import annotations

from alembic import op

__all__ = ["forbid_changes"]


def forbid_changes(table: str, *, truncate: bool = False) -> None:
    """Triggers on ``table`` that raise on UPDATE and DELETE; on PostgreSQL also on TRUNCATE if ``truncate``
    (SQLite has no TRUNCATE)."""
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            f"""
            CREATE FUNCTION {table}_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
                RAISE EXCEPTION '{table} is append-only: % refused', TG_OP
                    USING ERRCODE = 'insufficient_privilege';
            END $$;
            """
        )
        op.execute(f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
                   f"FOR EACH ROW EXECUTE FUNCTION {table}_append_only()")
        if truncate:
            op.execute(f"CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table} "
                       f"FOR EACH STATEMENT EXECUTE FUNCTION {table}_append_only()")
    else:
        for action in ("UPDATE", "DELETE"):
            op.execute(f"CREATE TRIGGER {table}_no_{action.lower()} BEFORE {action} ON {table} "
                       f"BEGIN SELECT RAISE(ABORT, '{table} is append-only: {action} refused'); END")
