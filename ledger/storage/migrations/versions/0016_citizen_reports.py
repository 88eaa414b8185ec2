"""Citizens' reports (docs/citizens.md): what a citizen sent, beside the chain.

``citizen_reports`` holds one row per accepted report: the finding of kind
``citizen_report`` it opened or was folded into, its category and cylinder, the
text with the salt of its commitment (the finding's evidence holds only the
commitment), an optional contact, and the keyed hash of the sending address the
rate limits count. The tracking code is kept only as its SHA-256. Text, salt and
contact are erasable (``erased_at``); nothing of a report enters the chain.

Revision ID: 0016
Revises: 0015
"""

import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None

TIME = sa.String(27)


def upgrade() -> None:
    op.create_table(
        "citizen_reports",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("tracking_hash", sa.LargeBinary(32), nullable=False, unique=True),
        sa.Column("finding", sa.Integer, sa.ForeignKey("findings.id"), nullable=False, index=True),
        sa.Column("category", sa.String(32), nullable=False),
        sa.Column("cylinder", sa.String(16), index=True),
        sa.Column("text", sa.Text),
        sa.Column("salt", sa.LargeBinary(32)),
        sa.Column("text_sha256", sa.LargeBinary(32), nullable=False),
        sa.Column("contact", sa.Text),
        sa.Column("address_hash", sa.LargeBinary(32), nullable=False, index=True),
        sa.Column("photos", sa.Text),
        sa.Column("folded", sa.Boolean, nullable=False),
        sa.Column("created_at", TIME, nullable=False, index=True),
        sa.Column("erased_at", TIME),
    )


def downgrade() -> None:
    raise NotImplementedError("the ledger's history is never downgraded")
