"""The only package that speaks SQL: tables, migrations, the append path, queries.

``Connection`` is re-exported so the layers above can name the caller's open
transaction without importing SQLAlchemy themselves.
"""

from sqlalchemy import Connection

__all__ = ["Connection"]
