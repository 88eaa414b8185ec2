"""Which log a mirror's database copies: its origin, its verifier key, where it is followed from.

A database that ``ledger mirror follow`` fills holds one row here (docs/mirror.md);
a ledger's own database holds none. The key is the log's public verifier key, so a
mirror answers ``GET /v1/log/public-key`` with the key its checkpoints verify under.

Revision ID: 0008
Revises: 0007
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "mirrored_log",
        sa.Column("origin", sa.String(200), primary_key=True),
        sa.Column("vkey", sa.Text, nullable=False),
        sa.Column("url", sa.Text, nullable=False),
        sa.Column("since", sa.String(27), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("mirrored_log")
