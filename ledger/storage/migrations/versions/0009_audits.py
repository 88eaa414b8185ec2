"""The auditor's state: its verified position in the log and the chunk roots it verified.

``audits`` holds one row, the incremental audit's position (ledger.audit);
``audit_chunks`` the roots of the complete 1024-leaf runs below it. Neither is
trusted on its own: each audit rebuilds the root of the newest signed checkpoint
from the chunk roots, so an edited row shows as a mismatch (docs/audit.md).

Revision ID: 0009
Revises: 0008
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

TIME = sa.String(27)


def upgrade() -> None:
    op.create_table(
        "audits",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("size", sa.BigInteger, nullable=False),
        sa.Column("root", sa.LargeBinary(32)),
        sa.Column("recheck", sa.BigInteger, nullable=False),
        sa.Column("projections", sa.String(16), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("detail", sa.Text, nullable=False),
        sa.Column("audited_at", TIME, nullable=False),
    )
    op.create_table(
        "audit_chunks",
        sa.Column("start", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("root", sa.LargeBinary(32), nullable=False),
        sa.Column("prints", sa.LargeBinary, nullable=False),
    )


def downgrade() -> None:
    raise NotImplementedError("the ledger's history is never downgraded")
