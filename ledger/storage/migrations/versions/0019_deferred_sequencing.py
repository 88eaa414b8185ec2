"""Log positions given after commit: writers of unrelated cylinders no longer wait for each other.

On PostgreSQL a new event is stored under a pending id (the negative of a number
drawn from ``events_pending``) and a sequencer gives it its log position after
commit (``ledger.storage.events.sequence``). The append-only trigger of
``events`` therefore admits one UPDATE: a pending id replaced by a position,
every other column unchanged. A note's event follows its event to its position
(``ON UPDATE CASCADE``). SQLite gives positions in the write transaction, as
before, and is unchanged.

Revision ID: 0019
Revises: 0017
"""

from alembic import op

revision = "0019"
down_revision = "0017"
branch_labels = None
depends_on = None

_COLUMNS = ("cylinder", "seq", "kind", "occurred_at", "recorded_at", "party", "person", "to_ref", "location",
            "data", "idempotency_key", "prev_hash", "hash")
# The one UPDATE an event admits: sequencing, from a pending id to a log position, nothing else touched.
_SEQUENCING = " AND ".join(["OLD.id < 0", "NEW.id >= 0"] + [f"NEW.{c} IS NOT DISTINCT FROM OLD.{c}" for c in _COLUMNS])


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("CREATE SEQUENCE IF NOT EXISTS events_pending AS bigint START 1")
    op.execute(
        f"""
        CREATE OR REPLACE FUNCTION events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            IF TG_OP = 'UPDATE' THEN
                IF {_SEQUENCING} THEN
                    RETURN NEW;
                END IF;
            END IF;
            RAISE EXCEPTION 'events is append-only: % refused', TG_OP
                USING ERRCODE = 'insufficient_privilege';
        END $$;
        """
    )
    if op.get_bind().exec_driver_sql("SELECT to_regclass('pg_dist_partition') IS NOT NULL").scalar() and op.get_bind().exec_driver_sql(
            "SELECT 1 FROM pg_dist_partition WHERE logicalrelid = to_regclass('events')").first():
        return  # a cluster gives positions in the write (its coordinator's log_index); notes refer to no shard
    op.execute("ALTER TABLE notes DROP CONSTRAINT IF EXISTS fk_notes_event_events")
    op.execute("ALTER TABLE notes ADD CONSTRAINT fk_notes_event_events FOREIGN KEY (event) REFERENCES events (id) "
               "ON UPDATE CASCADE")


def downgrade() -> None:
    raise NotImplementedError("the ledger's history is never downgraded")
