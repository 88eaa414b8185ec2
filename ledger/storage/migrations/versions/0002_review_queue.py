"""The review queue: cylinders whose newest events the custody rules have yet to evaluate.

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "review_queue",
        sa.Column("cylinder", sa.String(16), sa.ForeignKey("cylinders.id"), primary_key=True),
        sa.Column("since", sa.String(27), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("review_queue")
