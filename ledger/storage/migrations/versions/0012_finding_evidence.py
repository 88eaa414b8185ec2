"""Findings and their system steps keep their evidence as data beside the English note.

``evidence`` is JSON text: ``{"code": ..., parameters}`` as the custody rules
wrote it (ledger/rules), so pages render it in the reader's language. Rows
written before this revision have none and show their note (docs/regulator.md).
Adding a nullable column leaves ``finding_actions`` append-only: its triggers
still refuse every UPDATE but a note's erasure, and every DELETE.

Revision ID: 0012
Revises: 0010
"""

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("findings", sa.Column("evidence", sa.Text, nullable=True))
    op.add_column("finding_actions", sa.Column("evidence", sa.Text, nullable=True))


def downgrade() -> None:
    raise NotImplementedError("the ledger's history is never downgraded")
