"""Photos of a delivery's home safety check, beside the chain.

A deliver event's ``data.safety_check.photos`` names each photo by the SHA-256 of
the bytes kept here (``POST /v1/photos`` stores them first, EXIF GPS stripped).

Revision ID: 0014
Revises: 0013
"""

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None

TIME = sa.String(27)


def upgrade() -> None:
    op.create_table(
        "delivery_photos",
        sa.Column("sha256", sa.String(64), primary_key=True),
        sa.Column("media_type", sa.String(16), nullable=False),
        sa.Column("data", sa.LargeBinary, nullable=False),
        sa.Column("party", sa.String(64), nullable=False),
        sa.Column("added_by", sa.String(200), nullable=False),
        sa.Column("created_at", TIME, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("delivery_photos")
