"""One physical cylinder, one trace code: a unique key of each cylinder's normalised stamp.

``stamp_key`` is ``ledger.stamp.stamp_key(manufacturer, serial)``; a change to
that function needs a migration that computes the keys again. Rows registered
before may already name one cylinder twice in different spellings: then the
upgrade refuses, changes nothing, and lists them (docs/design.md "One cylinder,
one trace code" says how an operator settles them).

Revision ID: 0004
Revises: 0003
"""

from collections import defaultdict

import sqlalchemy as sa
from alembic import op

from ledger.errors import Conflict
from ledger.stamp import stamp_key

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

_BATCH = 1000


def upgrade() -> None:
    bind = op.get_bind()
    op.add_column("cylinders", sa.Column("stamp_key", sa.String(64), nullable=True))
    cylinders = sa.table("cylinders", sa.column("id"), sa.column("manufacturer"), sa.column("serial"),
                         sa.column("stamp_key"))
    rows = bind.execute(sa.select(cylinders.c.id, cylinders.c.manufacturer, cylinders.c.serial)
                        .order_by(cylinders.c.id)).all()
    named: dict[str, list[tuple[str, str, str]]] = defaultdict(list)
    for code, manufacturer, serial in rows:
        named[stamp_key(manufacturer, serial)].append((code, manufacturer, serial))
    twice = [group for group in named.values() if len(group) > 1]
    if twice:
        listed = "; ".join(" = ".join(f"{code} ({manufacturer!r}, serial {serial!r})" for code, manufacturer, serial in group)
                           for group in twice)
        raise Conflict(f"{len(twice)} cylinder(s) are registered more than once under different spellings of the "
                       f"same manufacturer and serial, so their stamps cannot be made unique: {listed}. Nothing was "
                       "changed; settle each as docs/design.md \"One cylinder, one trace code\" says, then migrate again")
    update = (sa.update(cylinders).where(cylinders.c.id == sa.bindparam("code"))
              .values(stamp_key=sa.bindparam("key")))
    pairs = [{"code": group[0][0], "key": key} for key, group in named.items()]
    for start in range(0, len(pairs), _BATCH):
        bind.execute(update, pairs[start:start + _BATCH])
    op.create_index("ux_cylinders_stamp_key", "cylinders", ["stamp_key"], unique=True)
    if bind.dialect.name == "postgresql":
        op.execute("ALTER TABLE cylinders ALTER COLUMN stamp_key SET NOT NULL")
    else:  # SQLite adds no constraint to an existing table: a trigger refuses the missing key instead
        for action in ("INSERT", "UPDATE OF stamp_key"):
            op.execute(
                f"CREATE TRIGGER cylinders_stamp_key_{action.split()[0].lower()} BEFORE {action} ON cylinders "
                "WHEN NEW.stamp_key IS NULL "
                "BEGIN SELECT RAISE(ABORT, 'NOT NULL constraint failed: cylinders.stamp_key'); END"
            )


def downgrade() -> None:
    raise NotImplementedError("the ledger's history is never downgraded")
