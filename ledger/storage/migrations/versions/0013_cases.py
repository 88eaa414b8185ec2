"""Cases that reach inspectors on time: deadlines, escalation, photos, webhooks.

``findings`` gains ``due_at`` (set by each dispatch from the severity's deadline)
and ``escalated_at`` (set once when the deadline passes unhandled). Each
closed-loop step may name photos in ``finding_actions.photos`` (their SHA-256,
as JSON); the photos themselves live in ``case_photos``, outside the chain.
``webhook_outbox`` is written in the transaction of the event it announces;
the delivery worker fans it out to ``webhook_jobs`` (one per subscribed hook)
and logs every attempt in ``webhook_deliveries``.

Revision ID: 0013
Revises: 0012
"""

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

TIME = sa.String(27)


def upgrade() -> None:
    op.add_column("findings", sa.Column("due_at", TIME, nullable=True))
    op.add_column("findings", sa.Column("escalated_at", TIME, nullable=True))
    op.create_index("ix_findings_assignee", "findings", ["assignee"])
    op.add_column("finding_actions", sa.Column("photos", sa.Text, nullable=True))
    op.create_table(
        "case_photos",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("finding", sa.Integer, sa.ForeignKey("findings.id"), nullable=False, index=True),
        sa.Column("sha256", sa.String(64), nullable=False, index=True),
        sa.Column("media_type", sa.String(16), nullable=False),
        sa.Column("data", sa.LargeBinary, nullable=False),
        sa.Column("added_by", sa.String(200), nullable=False),
        sa.Column("created_at", TIME, nullable=False),
    )
    op.create_table(
        "webhook_outbox",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("event", sa.String(32), nullable=False),
        sa.Column("body", sa.Text, nullable=False),
        sa.Column("created_at", TIME, nullable=False),
        sa.Column("fanned_out", sa.Boolean, nullable=False, server_default=sa.false(), index=True),
    )
    op.create_table(
        "webhook_jobs",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("outbox", sa.Integer, sa.ForeignKey("webhook_outbox.id"), nullable=False, index=True),
        sa.Column("hook", sa.String(64), nullable=False),
        sa.Column("status", sa.String(16), nullable=False, index=True),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("next_attempt_at", TIME, nullable=False),
    )
    op.create_table(
        "webhook_deliveries",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("job", sa.Integer, sa.ForeignKey("webhook_jobs.id"), nullable=False, index=True),
        sa.Column("hook", sa.String(64), nullable=False),
        sa.Column("event", sa.String(32), nullable=False),
        sa.Column("attempt", sa.Integer, nullable=False),
        sa.Column("at", TIME, nullable=False),
        sa.Column("status_code", sa.Integer),
        sa.Column("error", sa.Text),
        sa.Column("ok", sa.Boolean, nullable=False),
    )


def downgrade() -> None:
    raise NotImplementedError("the ledger's history is never downgraded")
