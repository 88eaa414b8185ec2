"""Witnesses' cosignatures on the log's checkpoints, and what the log knows of each witness.

``cosignatures`` holds one verified cosignature line per checkpoint size and witness
(append-only, as the checkpoints are). ``witness_states`` holds, per witness named in
``LEDGER_WITNESSES``, the size it last cosigned (the ``old`` size of the next
``add-checkpoint``, c2sp.org/tlog-witness), and the lease and back-off that keep
several server processes from submitting to it at once or too often.

Revision ID: 0007
Revises: 0006
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

TIME = sa.String(27)


def upgrade() -> None:
    op.create_table(
        "cosignatures",
        sa.Column("size", sa.BigInteger, sa.ForeignKey("checkpoints.size"), primary_key=True, autoincrement=False),
        sa.Column("witness", sa.String(100), primary_key=True),
        sa.Column("key_name", sa.String(200), nullable=False),
        sa.Column("timestamp", sa.BigInteger, nullable=False),
        sa.Column("line", sa.Text, nullable=False),
        sa.Column("received_at", TIME, nullable=False),
    )
    op.create_index("ix_cosignatures_witness_size", "cosignatures", ["witness", "size"])
    op.create_table(
        "witness_states",
        sa.Column("witness", sa.String(100), primary_key=True),
        sa.Column("cosigned_size", sa.BigInteger, nullable=False),
        sa.Column("failures", sa.Integer, nullable=False),
        sa.Column("retry_at", TIME),
        sa.Column("claimed_until", TIME),
        sa.Column("last_error", sa.Text),
    )
    _forbid_changes("cosignatures")


def _forbid_changes(table: str) -> None:
    """The database itself refuses UPDATE and DELETE, as for the checkpoints (revision 0001)."""
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
        op.execute(
            f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
            f"FOR EACH ROW EXECUTE FUNCTION {table}_append_only()"
        )
        op.execute(
            f"CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table} "
            f"FOR EACH STATEMENT EXECUTE FUNCTION {table}_append_only()"
        )
    else:
        for action in ("UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER {table}_no_{action.lower()} BEFORE {action} ON {table} "
                f"BEGIN SELECT RAISE(ABORT, '{table} is append-only: {action} refused'); END"
            )


def downgrade() -> None:
    raise NotImplementedError("the ledger's history is never downgraded")
