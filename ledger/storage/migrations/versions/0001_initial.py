"""The initial schema: registry, cylinders, append-only events and checkpoints, findings.

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

TIME = sa.String(27)
APPEND_ONLY = ("events", "checkpoints", "finding_actions")


def upgrade() -> None:
    op.create_table(
        "parties",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("region", sa.String(6), nullable=False, index=True),
        sa.Column("licence_number", sa.String(64)),
        sa.Column("licence_valid_until", sa.Date),
        sa.Column("parent", sa.String(64), sa.ForeignKey("parties.id")),
        sa.Column("created_at", TIME, nullable=False),
    )
    op.create_table(
        "people",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("party", sa.String(64), sa.ForeignKey("parties.id"), nullable=False, index=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("role", sa.String(32), nullable=False),
        sa.Column("certificate_number", sa.String(64)),
        sa.Column("certificate_valid_until", sa.Date),
        sa.Column("created_at", TIME, nullable=False),
    )
    op.create_table(
        "accounts",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("token_hash", sa.LargeBinary(32), nullable=False, unique=True),
        sa.Column("role", sa.String(32), nullable=False),
        sa.Column("party", sa.String(64), sa.ForeignKey("parties.id")),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("created_at", TIME, nullable=False),
        sa.Column("disabled", sa.Boolean, nullable=False, server_default=sa.false()),
    )
    op.create_table(
        "end_users",
        sa.Column("ref", sa.String(64), primary_key=True),
        sa.Column("shop", sa.String(64), sa.ForeignKey("parties.id"), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("name", sa.String(200)),
        sa.Column("phone", sa.String(32)),
        sa.Column("address", sa.String(400)),
        sa.Column("created_at", TIME, nullable=False),
    )
    op.create_table(
        "cylinders",
        sa.Column("id", sa.String(16), primary_key=True),
        sa.Column("owner", sa.String(64), sa.ForeignKey("parties.id"), nullable=False, index=True),
        sa.Column("serial", sa.String(64), nullable=False),
        sa.Column("manufacturer", sa.String(200), nullable=False),
        sa.Column("model", sa.String(32), nullable=False),
        sa.Column("manufactured_on", sa.Date, nullable=False),
        sa.Column("tare_kg", sa.Float, nullable=False),
        sa.Column("design_life_years", sa.Integer, nullable=False),
        sa.Column("registered_at", TIME, nullable=False),
        sa.Column("region", sa.String(6), nullable=False, index=True),
        sa.Column("next_inspection_due", sa.Date, nullable=False, index=True),
        sa.Column("holder", sa.String(64), index=True),
        sa.Column("state", sa.String(32), nullable=False),
        sa.Column("state_since", TIME, nullable=False),
        sa.Column("last_event_at", TIME, nullable=False, index=True),
        sa.Column("last_fill_kg", sa.Float),
        sa.Column("life_ends_on", sa.Date, index=True),
        sa.Column("chain_length", sa.Integer, nullable=False),
        sa.UniqueConstraint("manufacturer", "serial"),
    )
    op.create_table(
        "events",
        sa.Column("id", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("cylinder", sa.String(16), sa.ForeignKey("cylinders.id"), nullable=False),
        sa.Column("seq", sa.Integer, nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("occurred_at", TIME, nullable=False),
        sa.Column("recorded_at", TIME, nullable=False),
        sa.Column("party", sa.String(64), nullable=False, index=True),
        sa.Column("person", sa.String(64)),
        sa.Column("to_ref", sa.String(64)),
        sa.Column("location", sa.Text, nullable=False),
        sa.Column("data", sa.Text, nullable=False),
        sa.Column("idempotency_key", sa.String(128), nullable=False, unique=True),
        sa.Column("prev_hash", sa.LargeBinary(32)),
        sa.Column("hash", sa.LargeBinary(32), nullable=False),
        sa.UniqueConstraint("cylinder", "seq"),
    )
    op.create_table(
        "checkpoints",
        sa.Column("size", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("root", sa.LargeBinary(32), nullable=False),
        sa.Column("note", sa.Text, nullable=False),
        sa.Column("signed_at", TIME, nullable=False),
    )
    op.create_table(
        "findings",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("key", sa.String(200), nullable=False, unique=True),
        sa.Column("kind", sa.String(40), nullable=False, index=True),
        sa.Column("severity", sa.String(16), nullable=False),
        sa.Column("cylinder", sa.String(16), index=True),
        sa.Column("party", sa.String(64), index=True),
        sa.Column("region", sa.String(6), index=True),
        sa.Column("events", sa.Text, nullable=False),
        sa.Column("note", sa.Text, nullable=False),
        sa.Column("detected_at", TIME, nullable=False),
        sa.Column("status", sa.String(16), nullable=False, index=True),
        sa.Column("assignee", sa.String(200)),
        sa.Column("resolved_by", sa.BigInteger),
        sa.Column("updated_at", TIME, nullable=False),
    )
    op.create_index("ix_findings_status_kind", "findings", ["status", "kind"])
    op.create_table(
        "finding_actions",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("finding", sa.Integer, sa.ForeignKey("findings.id"), nullable=False, index=True),
        sa.Column("action", sa.String(16), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("actor", sa.String(200), nullable=False),
        sa.Column("assignee", sa.String(200)),
        sa.Column("note", sa.Text, nullable=False),
        sa.Column("at", TIME, nullable=False),
    )
    for table in APPEND_ONLY:
        _forbid_changes(table)


def _forbid_changes(table: str) -> None:
    """The database itself refuses UPDATE and DELETE, whoever connects."""
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
