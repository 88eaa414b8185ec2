"""End users' personal data sealed at rest; who viewed it; one-time codes; rate windows.

``end_users`` gains ``sealed`` (name, phone and address as one AES-GCM sealed value,
ledger.sealing), ``phone_hash`` (the keyed lookup hash of the normalised phone) and
``key_version``. The migration holds no key, so it cannot seal the rows already there:
``ledger init`` and ``ledger serve`` seal every row whose plaintext columns are still
filled right after migrating, and blank those columns (docs/privacy.md "Sealed at rest").

``personal_data_views`` records every full view of an end user's data (who, whose, when,
why) and is append-only: the database refuses UPDATE and DELETE, as on ``erasures``.
``end_user_codes`` keeps one-time codes hashed; ``rate_windows`` counts requests per
fixed window for the rate limits of lookups and codes.

Revision ID: 0015
Revises: 0014
"""

import sqlalchemy as sa
from alembic import op

from ledger.storage.migrations.append_only import forbid_changes

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None

TIME = sa.String(27)


def upgrade() -> None:
    op.add_column("end_users", sa.Column("sealed", sa.LargeBinary, nullable=True))
    op.add_column("end_users", sa.Column("phone_hash", sa.LargeBinary(32), nullable=True))
    op.add_column("end_users", sa.Column("key_version", sa.Integer, nullable=True))
    op.create_index("ix_end_users_phone_hash", "end_users", ["phone_hash"])
    op.create_table(
        "personal_data_views",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("ref", sa.String(64), nullable=False, index=True),
        sa.Column("account", sa.Integer, nullable=False),
        sa.Column("account_name", sa.String(200), nullable=False),
        sa.Column("role", sa.String(32), nullable=False),
        sa.Column("party", sa.String(64)),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("viewed_at", TIME, nullable=False),
    )
    forbid_changes("personal_data_views", truncate=True)
    op.create_table(
        "end_user_codes",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("phone_hash", sa.LargeBinary(32), nullable=False, index=True),
        sa.Column("code_hash", sa.LargeBinary(32), nullable=False),
        sa.Column("created_at", TIME, nullable=False),
        sa.Column("expires_at", TIME, nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("used_at", TIME),
    )
    op.create_table(
        "rate_windows",
        sa.Column("bucket", sa.String(96), primary_key=True),
        sa.Column("window", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("count", sa.Integer, nullable=False),
    )


def downgrade() -> None:
    raise NotImplementedError("the ledger's history is never downgraded")
