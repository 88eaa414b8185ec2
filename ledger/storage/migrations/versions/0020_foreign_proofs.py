"""The inclusion proofs another city's segment was verified with, kept beside its events.

``foreign_proofs`` holds, for each verification of another city's bundle whose
events this ledger kept, the signed checkpoint it was verified against and
every event's RFC 9162 inclusion proof under it, by seq. With them the city's
own bundle of a cylinder that crossed the line carries the other cities'
segments as they were verified, and verifies offline with the cities' keys
(``cylinder-ledger/segments/v1``, docs/regions.md). Never part of this
ledger's log; never changed (the database refuses UPDATE and DELETE).

Revision ID: 0020
Revises: 0019
"""

import sqlalchemy as sa
from alembic import op

from ledger.storage.migrations.append_only import forbid_changes

revision = "0020"
down_revision = "0019"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "foreign_proofs",
        sa.Column("cylinder", sa.String(16), nullable=False),
        sa.Column("log", sa.String(200), nullable=False),
        sa.Column("tree_size", sa.BigInteger, nullable=False),
        sa.Column("checkpoint", sa.Text, nullable=False),
        sa.Column("proofs", sa.Text, nullable=False),
        sa.Column("stored_at", sa.String(27), nullable=False),
        sa.PrimaryKeyConstraint("cylinder", "log", "tree_size", name="pk_foreign_proofs"),
        sa.ForeignKeyConstraint(["cylinder"], ["cylinders.id"], name="fk_foreign_proofs_cylinder_cylinders"),
    )
    forbid_changes("foreign_proofs")


def downgrade() -> None:
    op.drop_table("foreign_proofs")
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP FUNCTION IF EXISTS foreign_proofs_append_only()")
