"""The queries behind the EPCIS export: events in log order, filtered the way EPCIS queries filter.

Times are stored as fixed-width UTC text (``format_time``), so a range on them is a range on text.
Every query pages by log position (``id``), so a caller holds one page at a time whatever the size.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from sqlalchemy import Connection

from ..domain import Event
from .events import COLUMNS, chunks, from_row, marker, placeholders

__all__ = ["EventFilter", "page", "stream", "count"]


@dataclass(frozen=True, slots=True)
class EventFilter:
    """What an EPCIS query selects (``None``: no constraint). Times are ``format_time`` text.

    ``parties``: conditions that must all hold; each is a list of (kinds, column, values) alternatives,
    any of which may match: the event is of one of ``kinds`` and its ``column`` (``party`` or
    ``to_ref``) is one of ``values``. An empty condition matches nothing.
    """

    cylinders: Sequence[str] | None = None
    kinds: Sequence[str] | None = None
    event_from: str | None = None
    event_until: str | None = None
    recorded_from: str | None = None
    recorded_until: str | None = None
    parties: Sequence[Sequence[tuple[Sequence[str], str, Sequence[str]]]] | None = None


def _in(column: str, values: Sequence[str], mark: str, params: list) -> str:
    params.extend(values)
    return f"{column} IN ({', '.join([mark] * len(values))})"


def _where(selected: EventFilter, mark: str, params: list) -> list[str]:
    clauses = []
    if selected.cylinders is not None:
        clauses.append(_in("cylinder", selected.cylinders, mark, params) if selected.cylinders else "1 = 0")
    if selected.kinds is not None:
        clauses.append(_in("kind", selected.kinds, mark, params) if selected.kinds else "1 = 0")
    for column, op, value in (("occurred_at", ">=", selected.event_from), ("occurred_at", "<", selected.event_until),
                              ("recorded_at", ">=", selected.recorded_from),
                              ("recorded_at", "<", selected.recorded_until)):
        if value is not None:
            clauses.append(f"{column} {op} {mark}")
            params.append(value)
    for alternatives in selected.parties or ():
        options = []
        for kinds, column, values in alternatives:
            if kinds and values:
                if column not in ("party", "to_ref"):
                    raise ValueError(f"no such column: {column}")
                options.append(f"({_in('kind', kinds, mark, params)} AND {_in(column, values, mark, params)})")
        clauses.append("(" + " OR ".join(options) + ")" if options else "1 = 0")
    return clauses


def page(connection: Connection, selected: EventFilter, after: int, limit: int) -> list[Event]:
    """Up to ``limit`` selected events after log position ``after``, in log order."""
    mark = marker(connection)
    params: list = [after]
    clauses = [f"id > {mark}", *_where(selected, mark, params)]
    sql = f"SELECT {COLUMNS} FROM events WHERE {' AND '.join(clauses)} ORDER BY id LIMIT {int(limit)}"
    return [from_row(row) for row in connection.exec_driver_sql(sql, tuple(params))]


def stream(connection: Connection, selected: EventFilter, chunk: int = 1000) -> Iterator[Event]:
    """Every selected event in log order, read ``chunk`` rows at a time (constant memory)."""
    after = -1
    while True:
        rows = page(connection, selected, after, chunk)
        yield from rows
        if len(rows) < chunk:
            return
        after = rows[-1].id


def count(connection: Connection, selected: EventFilter) -> int:
    mark = marker(connection)
    params: list = []
    clauses = _where(selected, mark, params) or ["1 = 1"]
    return connection.exec_driver_sql(f"SELECT COUNT(*) FROM events WHERE {' AND '.join(clauses)}",
                                      tuple(params)).scalar_one()


def owners(connection: Connection, codes: Sequence[str]) -> dict[str, str]:
    """Each cylinder's owning party, by trace code."""
    found: dict[str, str] = {}
    for chunk in chunks(codes):
        found.update(connection.exec_driver_sql(
            f"SELECT id, owner FROM cylinders WHERE id IN ({placeholders(connection, len(chunk))})",
            tuple(chunk)).all())
    return found
