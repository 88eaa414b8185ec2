"""Alembic environment: runs against the connection ``ledger init`` hands over."""

from alembic import context

from ledger.storage.models import metadata

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("migrations run through `ledger init`, which supplies the connection")

context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
