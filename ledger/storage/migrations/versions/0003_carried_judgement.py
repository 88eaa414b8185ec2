"""What the custody rules carry forward from the events they have judged of each cylinder.

With it, the rules judge only a cylinder's new events instead of replaying its whole
chain on every write (ledger.rules.judge). NULL: judge the whole chain next time.

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("cylinders", sa.Column("judged", sa.Text, nullable=True))


def downgrade() -> None:
    op.drop_column("cylinders", "judged")
