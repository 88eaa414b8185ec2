"""EPCIS 2.0 capture jobs: each document accepted by ``POST /v1/epcis/capture``, stored before the 202.

A job holds the document's events (compact JSON), who sent them, the SHA-256
of the body as received and how far the capture worker got (``done``);
``capture_results`` holds each event's outcome, a JSON list per chunk recorded. ``lease_until`` is when the
process working on it is presumed dead and another may take it over
(docs/epcis.md "Capture").

Revision ID: 0010
Revises: 0009
"""

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

TIME = sa.String(27)


def upgrade() -> None:
    op.create_table(
        "capture_jobs",
        sa.Column("id", sa.String(24), primary_key=True),
        sa.Column("account", sa.Integer, sa.ForeignKey("accounts.id"), nullable=True, index=True),
        sa.Column("role", sa.String(32), nullable=False),
        sa.Column("party", sa.String(64), nullable=True),
        sa.Column("actor_name", sa.String(200), nullable=False),
        sa.Column("received_at", TIME, nullable=False),
        sa.Column("started_at", TIME, nullable=True),
        sa.Column("finished_at", TIME, nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("lease_until", TIME, nullable=True),
        sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
        sa.Column("digest", sa.LargeBinary(32), nullable=False),
        sa.Column("total", sa.Integer, nullable=False),
        sa.Column("done", sa.Integer, nullable=False, server_default="0"),
        sa.Column("events", sa.Text, nullable=False),
    )
    op.create_index("capture_jobs_open", "capture_jobs", ["status", "lease_until"])
    # Each chunk's outcomes, one row per chunk, so progress never rewrites what was stored before.
    op.create_table(
        "capture_results",
        sa.Column("job", sa.String(24), sa.ForeignKey("capture_jobs.id"), primary_key=True),
        sa.Column("first", sa.Integer, primary_key=True),
        sa.Column("results", sa.Text, nullable=False),
    )


def downgrade() -> None:
    raise NotImplementedError("the ledger's history is never downgraded")
