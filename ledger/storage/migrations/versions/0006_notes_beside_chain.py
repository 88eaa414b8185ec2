"""Free text beside the chain, and the record of each erasure of personal data.

``notes`` holds a report's note text and salt; the event holds only their salted
SHA-256 commitment (ledger.notes), so the text can be erased while every chain
still verifies. ``erasures`` records each erasure and is append-only like the log.
``finding_actions`` stays append-only but for one change: erasing a step's note
(note set to '' and ``erased_at`` set once, every other column unchanged).
Notes recorded before this revision were hashed into the chain as text and stay
there: the chain cannot change (docs/privacy.md).

Revision ID: 0006
Revises: 0005
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

TIME = sa.String(27)


def upgrade() -> None:
    op.create_table(
        "notes",
        sa.Column("id", sa.String(16), primary_key=True),
        sa.Column("event", sa.BigInteger, sa.ForeignKey("events.id"), nullable=False, unique=True),
        sa.Column("sha256", sa.LargeBinary(32), nullable=False, unique=True),
        sa.Column("salt", sa.LargeBinary(32)),
        sa.Column("text", sa.Text),
        sa.Column("created_at", TIME, nullable=False),
        sa.Column("erased_at", TIME),
    )
    op.create_table(
        "erasures",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("target", sa.String(64), nullable=False, index=True),
        sa.Column("what", sa.String(32), nullable=False),
        sa.Column("fields", sa.String(200), nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("requested_by", sa.String(200), nullable=False),
        sa.Column("erased_at", TIME, nullable=False),
    )
    _forbid_changes("erasures")
    op.add_column("finding_actions", sa.Column("erased_at", TIME, nullable=True))
    _allow_only_note_erasure("finding_actions")


def _forbid_changes(table: str) -> None:
    """As revision 0001 does for the log: the database itself refuses UPDATE and DELETE."""
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            f"""
            CREATE FUNCTION {table}_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
                RAISE EXCEPTION '{table} is append-only: % refused', TG_OP
                    USING ERRCODE = 'insufficient_privilege';
            END $$;
            """
        )
        op.execute(
            f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
            f"FOR EACH ROW EXECUTE FUNCTION {table}_append_only()"
        )
        op.execute(
            f"CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table} "
            f"FOR EACH STATEMENT EXECUTE FUNCTION {table}_append_only()"
        )
    else:
        for action in ("UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER {table}_no_{action.lower()} BEFORE {action} ON {table} "
                f"BEGIN SELECT RAISE(ABORT, '{table} is append-only: {action} refused'); END"
            )


# The one UPDATE a closed-loop step admits: its note erased, nothing else touched, once.
_ERASING_NOTE = (
    "NEW.note = '' AND OLD.erased_at IS NULL AND NEW.erased_at IS NOT NULL AND NEW.id = OLD.id "
    "AND NEW.finding = OLD.finding AND NEW.action = OLD.action AND NEW.status = OLD.status "
    "AND NEW.actor = OLD.actor AND NEW.at = OLD.at AND {same_assignee}"
)


def _allow_only_note_erasure(table: str) -> None:
    if op.get_bind().dialect.name == "postgresql":
        erasing = _ERASING_NOTE.format(same_assignee="NEW.assignee IS NOT DISTINCT FROM OLD.assignee")
        op.execute(
            f"""
            CREATE OR REPLACE FUNCTION {table}_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
                IF TG_OP = 'UPDATE' THEN
                    IF {erasing} THEN
                        RETURN NEW;
                    END IF;
                END IF;
                RAISE EXCEPTION '{table} is append-only: % refused', TG_OP
                    USING ERRCODE = 'insufficient_privilege';
            END $$;
            """
        )
    else:
        erasing = _ERASING_NOTE.format(same_assignee="NEW.assignee IS OLD.assignee")
        op.execute(f"DROP TRIGGER {table}_no_update")
        op.execute(
            f"CREATE TRIGGER {table}_no_update BEFORE UPDATE ON {table} WHEN NOT ({erasing}) "
            f"BEGIN SELECT RAISE(ABORT, '{table} is append-only: UPDATE refused'); END"
        )


def downgrade() -> None:
    raise NotImplementedError("the ledger's history is never downgraded")
