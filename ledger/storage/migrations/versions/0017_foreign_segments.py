"""Cylinders that cross city lines: parties homed in another city, and the other cities' segments.

``parties`` gains ``home``: the peer (``LEDGER_PEERS``) of the city a party is
homed in, when that is another city. ``foreign_events`` holds the events of
another city's log that a cylinder's chain here links to, each verified against
that log's signed checkpoint before it was stored; they are never part of this
ledger's log (docs/regions.md).

Revision ID: 0017
Revises: 0016
"""

import sqlalchemy as sa
from alembic import op

from ledger.storage.migrations.append_only import forbid_changes

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None

TIME = sa.String(27)


def upgrade() -> None:
    op.add_column("parties", sa.Column("home", sa.String(64), nullable=True))
    op.create_table(
        "foreign_events",
        sa.Column("cylinder", sa.String(16), nullable=False),
        sa.Column("seq", sa.Integer, nullable=False),
        sa.Column("log", sa.String(200), nullable=False),
        sa.Column("log_index", sa.BigInteger, nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("occurred_at", TIME, nullable=False),
        sa.Column("recorded_at", TIME, nullable=False),
        sa.Column("party", sa.String(64), nullable=False),
        sa.Column("person", sa.String(64)),
        sa.Column("to_ref", sa.String(64)),
        sa.Column("location", sa.Text, nullable=False),
        sa.Column("data", sa.Text, nullable=False),
        sa.Column("idempotency_key", sa.String(128), nullable=False),
        sa.Column("prev_hash", sa.LargeBinary(32)),
        sa.Column("hash", sa.LargeBinary(32), nullable=False),
        sa.Column("checkpoint", sa.Text, nullable=False),
        sa.Column("stored_at", TIME, nullable=False),
        sa.PrimaryKeyConstraint("cylinder", "seq", name="pk_foreign_events"),
        sa.ForeignKeyConstraint(["cylinder"], ["cylinders.id"], name="fk_foreign_events_cylinder_cylinders"),
    )
    forbid_changes("foreign_events")


def downgrade() -> None:
    op.drop_table("foreign_events")
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP FUNCTION IF EXISTS foreign_events_append_only()")
    op.drop_column("parties", "home")
