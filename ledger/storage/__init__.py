"""The only package that speaks SQL: tables, migrations, the append path, queries.

The names below are what the layers above may use without importing SQLAlchemy
themselves: ``Connection`` to name the caller's open transaction, ``Database``
to open one, ``ping`` to ask whether the database answers, ``explain`` to say
why a database cannot be used.
"""

from sqlalchemy import Connection

from .db import Database, ping
from .trouble import explain

__all__ = ["Connection", "Database", "ping", "explain"]
