"""The only package that speaks SQL: tables, migrations, the append path, queries.

The names below are what the layers above may use without importing SQLAlchemy
themselves: ``Connection`` to name the caller's open transaction, ``Database``
to open one, ``ping`` to ask whether the database answers.
"""

from sqlalchemy import Connection

from .db import Database, ping

__all__ = ["Connection", "Database", "ping"]
