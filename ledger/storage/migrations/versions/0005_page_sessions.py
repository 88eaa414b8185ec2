"""Sign-ins to the web pages, kept on the server so that signing out or disabling an account ends them.

The cookie holds a random session id; only its SHA-256 is stored (ledger.sessions).

Revision ID: 0005
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "page_sessions",
        sa.Column("id_hash", sa.LargeBinary(32), primary_key=True),
        sa.Column("account", sa.Integer, sa.ForeignKey("accounts.id"), nullable=False, index=True),
        sa.Column("created_at", sa.String(27), nullable=False),
        sa.Column("last_seen", sa.String(27), nullable=False),
        sa.Column("revoked_at", sa.String(27)),
    )


def downgrade() -> None:
    op.drop_table("page_sessions")
