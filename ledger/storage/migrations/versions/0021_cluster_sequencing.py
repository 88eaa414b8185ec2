"""A Citus cluster gives log positions after commit too: its ``log_index`` claims admit sequencing.

On a cluster a writer now claims each new event's idempotency key in the
coordinator's ``log_index`` under the event's pending id, and the sequencer
replaces the pending id by the log position with the event's
(``ledger.storage.citus.sequence``). The append-only trigger of ``log_index``
therefore admits that one UPDATE, as the events' trigger does since 0019.
Nothing changes on SQLite or on a single PostgreSQL node; a cluster distributed
after this revision makes the table with this trigger already
(``ledger.storage.citus``).

Revision ID: 0021
Revises: 0020
"""

from alembic import op

revision = "0021"
down_revision = "0020"
branch_labels = None
depends_on = None


def upgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name != "postgresql" or not bind.exec_driver_sql("SELECT to_regclass('log_index') IS NOT NULL").scalar():
        return
    op.execute(
        """
        CREATE OR REPLACE FUNCTION log_index_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            IF TG_OP = 'UPDATE' AND OLD.id < 0 AND NEW.id >= 0 AND NEW.cylinder = OLD.cylinder
                    AND NEW.idempotency_key = OLD.idempotency_key THEN
                RETURN NEW;
            END IF;
            RAISE EXCEPTION 'log_index is append-only: % refused', TG_OP USING ERRCODE = 'insufficient_privilege';
        END $$;
        """
    )


def downgrade() -> None:
    raise NotImplementedError("the ledger's history is never downgraded")
