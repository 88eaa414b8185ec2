"""Queries of findings, their closed-loop history, and the cylinders' projection for risk lists."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from datetime import date
from typing import Any

from sqlalchemy import Connection, and_, func, insert, or_, select, update

from ..domain import State
from ..standing import LAPSES
from . import models as m
from .events import COLUMNS, among, chunks, columns_of, marker, placeholders, unnested
from .foreign import heads as foreign_heads

__all__ = [
    "stored_for", "open_of_kind", "insert_finding", "evidence_of", "set_status", "add_action", "get_finding", "actions_of", "list_findings",
    "count_findings",
    "histories", "judged_and_later", "coverage", "event_ids", "write_projection", "risk_cylinders", "party_scores", "cylinders_with_open", "holdings",
    "sweep_candidates", "enqueue_review", "dequeue_review", "requeue_review", "queued_for_review", "review_backlog",
]



def stored_for(connection: Connection, cylinders: Iterable[str]) -> dict[str, list[tuple[str, str, int]]]:
    """Every stored finding of the given cylinders as (key, status, id)."""
    result: dict[str, list[tuple[str, str, int]]] = {cylinder: [] for cylinder in sorted(set(cylinders))}
    for condition, params in among(connection, "cylinder", result):
        # Plain SQL: this runs on every write, inside the write turn, and building the statement cost
        # more than running it.
        sql = f"SELECT cylinder, key, status, id FROM findings WHERE {condition}"
        for cylinder, key, status, id_ in connection.exec_driver_sql(sql, params):
            result[cylinder].append((key, status, id_))
    return result


def open_of_kind(connection: Connection, kind: str, statuses: Sequence[str], *,
                 end_user: str) -> list[tuple[int, str, str | None]]:
    """(id, key, evidence) of each finding of ``kind`` in one of ``statuses`` whose evidence names ``end_user``
    as its ``to``, oldest first."""
    f = m.findings.c
    # evidence is stored as json.dumps(sort_keys=True) with the default separators (``_json``)
    written = json.dumps({"to": end_user})[1:-1].replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return [tuple(row) for row in connection.execute(
        select(f.id, f.key, f.evidence).where(f.kind == kind, f.status.in_(list(statuses)),
                                              f.evidence.like(f"%{written}%", escape="\\")).order_by(f.id))]


def insert_finding(connection: Connection, **values: Any) -> int:
    values["events"] = json.dumps(list(values["events"]))
    values["evidence"] = _json(values.get("evidence"))
    finding_id = connection.execute(insert(m.findings).values(**values)).inserted_primary_key[0]
    if values["severity"] == "critical":  # announced to the webhooks in the same transaction (ledger.webhooks)
        from .cases import enqueue

        enqueue(connection, "finding.critical", {"event": "finding.critical", "finding": {
            "id": finding_id, **{k: values[k] for k in ("kind", "severity", "cylinder", "party", "region",
                                                       "detected_at")}}}, values["detected_at"])
    return finding_id


def set_status(connection: Connection, finding_id: int, status: str, at: str, **extra: Any) -> None:
    connection.execute(
        update(m.findings).where(m.findings.c.id == finding_id).values(status=status, updated_at=at, **extra)
    )


def add_action(connection: Connection, finding_id: int, action: str, status: str, actor: str,
               note: str, at: str, assignee: str | None = None, evidence: Any = None,
               photos: Sequence[str] = ()) -> None:
    connection.execute(insert(m.finding_actions).values(
        finding=finding_id, action=action, status=status, actor=actor, assignee=assignee, note=note, at=at,
        evidence=_json(evidence), photos=json.dumps(list(photos)) if photos else None))


def _json(evidence: Any) -> str | None:
    return None if evidence is None else json.dumps(evidence, ensure_ascii=False, sort_keys=True)


def evidence_of(text: str | None) -> dict[str, Any] | None:
    """A stored evidence column as data; None for rows written before it existed."""
    return None if not text else json.loads(text)


def get_finding(connection: Connection, finding_id: int):
    return connection.execute(select(m.findings).where(m.findings.c.id == finding_id)).first()


def actions_of(connection: Connection, finding_ids: Sequence[int]) -> dict[int, list[dict[str, Any]]]:
    result: dict[int, list[dict[str, Any]]] = {i: [] for i in finding_ids}
    a = m.finding_actions.c
    for chunk in chunks(finding_ids):
        rows = connection.execute(select(m.finding_actions).where(a.finding.in_(chunk)).order_by(a.id))
        for row in rows:
            result[row.finding].append({"id": row.id, "action": row.action, "status": row.status, "actor": row.actor,
                                        "assignee": row.assignee, "note": row.note, "at": row.at,
                                        "erased_at": row.erased_at, "evidence": evidence_of(row.evidence),
                                        "photos": json.loads(row.photos) if row.photos else []})
    return result


def list_findings(
    connection: Connection, *, kind: str | None = None, status: str | tuple[str, ...] | None = None,
    cylinder: str | None = None,
    party: str | None = None, region: str | None = None, before_id: int | None = None, limit: int = 50,
) -> list:
    """Findings newest first (by id), after the cursor ``before_id``."""
    f = m.findings.c
    query = _filtered(select(m.findings).order_by(f.id.desc()).limit(limit), kind=kind, status=status,
                      cylinder=cylinder, party=party, region=region)
    if before_id is not None:
        query = query.where(f.id < before_id)
    return list(connection.execute(query))


def _filtered(query, **filters: str | tuple[str, ...] | None):
    """``query`` narrowed to the findings whose columns equal the filters given (a tuple: any of several)."""
    for name, value in filters.items():
        column = m.findings.c[name]
        if isinstance(value, tuple):  # any of several (the pages' "not yet closed")
            query = query.where(column.in_(value))
        elif value is not None:
            query = query.where(column == value)
    return query


def count_findings(
    connection: Connection, *, kind: str | None = None, status: str | tuple[str, ...] | None = None,
    cylinder: str | None = None, party: str | None = None, region: str | None = None,
) -> list[tuple[str, str, str, int]]:
    """How many findings the filters select, as (status, kind, severity, count) per combination that occurs.

    One GROUP BY: the filters narrow the rows by their indexes (status and kind together, cylinder, party,
    region), and no row leaves the database.
    """
    f = m.findings.c
    query = _filtered(select(f.status, f.kind, f.severity, func.count()), kind=kind, status=status,
                      cylinder=cylinder, party=party, region=region)
    return [tuple(row) for row in connection.execute(query.group_by(f.status, f.kind, f.severity))]


def histories(connection: Connection, cylinders: Iterable[str]):
    """Raw event rows of the given cylinders, by cylinder then seq (see ``events.from_row``)."""
    for condition, params in among(connection, "cylinder", cylinders):
        sql = f"SELECT {COLUMNS} FROM events WHERE {condition} ORDER BY cylinder, seq"
        yield from connection.exec_driver_sql(sql, params).fetchall()


_EVENT_COLUMNS = ", ".join(f"e.{name.strip()}" for name in COLUMNS.split(","))


def judged_and_later(connection: Connection, cylinders: Iterable[str]):
    """Per cylinder, what the rules carried forward and the event rows they have not judged yet.

    Rows of (cylinder, judged, chain_length, *event row), by cylinder then seq; the event row
    is all None when nothing is new. A cylinder never judged (judged NULL) comes with its whole
    history. One statement, so the carried judgement and the later events come from one snapshot.
    """
    for condition, params in among(connection, "c.id", cylinders):
        sql = (f"SELECT c.id, c.judged, c.chain_length, {_EVENT_COLUMNS} FROM cylinders c"
               " LEFT JOIN events e ON e.cylinder = c.id"
               " AND e.seq >= CASE WHEN c.judged IS NULL THEN 0 ELSE c.chain_length END"
               f" WHERE {condition} ORDER BY c.id, e.seq")
        yield from connection.exec_driver_sql(sql, params).fetchall()


def coverage(connection: Connection, cylinders: Iterable[str]) -> dict[str, tuple[int | None, int]]:
    """Per cylinder: how many events the stored judgement covers (None where none is stored), and how
    many its chain has. One statement, so both come from one snapshot."""
    found: dict[str, tuple[int | None, int]] = {}
    for condition, params in among(connection, "c.id", cylinders):
        # MAX over the (cylinder, seq) index is one seek per cylinder, as in ``events.heads``.
        sql = ("SELECT c.id, c.chain_length, c.judged IS NULL, (SELECT MAX(e.seq) FROM events e WHERE e.cylinder = c.id)"
               f" FROM cylinders c WHERE {condition}")
        found.update((cylinder, (None if unjudged else length, -1 if last is None else last + 1))
                     for cylinder, length, unjudged, last in connection.exec_driver_sql(sql, params))
    # a chain with segments in other cities' logs is as long as its newest event, wherever it lives (docs/regions.md)
    for cylinder, (seq, _) in foreign_heads(connection, found).items():
        stored, length = found[cylinder]
        found[cylinder] = (stored, max(length, seq + 1))
    return found


def event_ids(connection: Connection, cylinder: str, seqs: Iterable[int]) -> dict[int, int]:
    """Event ids by seq, for the given seqs of one cylinder."""
    wanted = sorted(set(seqs))
    if not wanted:
        return {}
    sql = (f"SELECT seq, id FROM events WHERE cylinder = {marker(connection)}"
           f" AND seq IN ({placeholders(connection, len(wanted))})")
    return dict(connection.exec_driver_sql(sql, (cylinder, *wanted)).fetchall())


_PROJECTION = ("UPDATE cylinders SET holder = {0}, state = {0}, state_since = {0}, last_event_at = {0}, "
               "next_inspection_due = {0}, last_fill_kg = {0}, chain_length = {0}, life_ends_on = {0}, "
               "judged = {0} WHERE id = {0}")


_PROJECTION_UNNEST = (
    "UPDATE cylinders SET holder = v.holder, state = v.state, state_since = v.state_since, "
    "last_event_at = v.last_event_at, next_inspection_due = v.due, last_fill_kg = v.fill_kg, "
    "chain_length = v.length, life_ends_on = v.life_ends, judged = v.judged "
    "FROM unnest(%b::text[], %b::text[], %b::text[], %b::text[], %b::date[], %b::float8[], %b::int[], %b::date[], "
    "%b::text[], %b::text[]) AS v(holder, state, state_since, last_event_at, due, fill_kg, length, life_ends, judged, cid) "
    "WHERE cylinders.id = v.cid")


def write_projection(connection: Connection, rows: Sequence[dict[str, Any]]) -> None:
    """Rewrite the cylinders' projected columns; each row as ``Supervisor._projection`` builds it.

    Plain SQL, as in ``stored_for``: it runs on every write, inside the write turn.
    """
    if not rows:
        return
    sqlite = connection.dialect.name == "sqlite"

    def day(value: date | None) -> date | str | None:  # SQLite stores days as ISO text, as the Date type does
        return value.isoformat() if sqlite and value is not None else value

    values = [(row["holder"], row["state"], row["state_since"], row["last_event_at"], day(row["due"]),
               None if row["fill_kg"] is None else float(row["fill_kg"]), row["length"], day(row["life_ends"]),
               row["judged"], row["cid"]) for row in rows]
    if unnested(connection):
        # One statement for all; each cylinder once (the rows are one per cylinder, the last one counts).
        connection.exec_driver_sql(_PROJECTION_UNNEST, columns_of(list({row[-1]: row for row in values}.values())))
    else:
        connection.exec_driver_sql(_PROJECTION.format(marker(connection)), values)


def cylinders_with_open(kinds: Sequence[str] | None = None):
    f = m.findings.c
    query = select(f.cylinder).where(f.status.in_(("open", "dispatched", "handled")), f.cylinder.is_not(None))
    if kinds:
        query = query.where(f.kind.in_(kinds))
    return query


def risk_cylinders(
    connection: Connection, *, today: date, soon: date, reason: str, region: str | None, owner: str | None,
    after: str | None, limit: int,
) -> list:
    """Cylinders on a risk list, in trace-code order after the cursor ``after``."""
    c = m.cylinders.c
    query = select(m.cylinders).order_by(c.id).limit(limit)
    live = c.state != State.SCRAPPED.value  # a scrapped cylinder is out of circulation: on no list of lapses
    conditions = {
        # ledger.standing: a lapse holds once the day in its fact has passed (``lapsed``)
        **{lapse.caution.value: and_(live, c[lapse.fact] < today) for lapse in LAPSES},
        "inspection_due_soon": and_(live, c.next_inspection_due >= today, c.next_inspection_due <= soon),
        "broken_chain": c.id.in_(cylinders_with_open(("chain_tampered", "sequence_gap", "projection_edited",
                                                      "finding_status_edited"))),
        "vanished": c.id.in_(cylinders_with_open(("vanished",))),
        "short_weight": c.id.in_(cylinders_with_open(("short_weight",))),
        "open_findings": c.id.in_(cylinders_with_open()),
    }
    query = query.where(conditions[reason])
    if region:
        query = query.where(c.region == region)
    if owner:
        query = query.where(c.owner == owner)
    if after:
        query = query.where(c.id > after)
    return list(connection.execute(query))


OPEN_STATUSES = ("open", "dispatched", "handled")


def party_scores(connection: Connection, region: str | None, before: str | None = None) -> list:
    """Per party: counts of open findings by severity.

    With ``before`` (a ledger time), as things stood just before that moment: parties registered
    before it, and findings whose last step before it (the ``detect`` step first, then every change
    of status, each written with the status it left) left them open. No history table is needed:
    every status a finding ever had is in ``finding_actions``.
    """
    f, p = m.findings.c, m.parties.c
    if before is None:
        open_ = f.status.in_(OPEN_STATUSES)
    else:
        a = m.finding_actions.c
        latest = func.row_number().over(partition_by=a.finding, order_by=(a.at.desc(), a.id.desc()))
        steps = select(a.finding, a.status, latest.label("latest")).where(a.at < before).subquery()
        open_then = select(steps.c.finding).where(steps.c.latest == 1, steps.c.status.in_(OPEN_STATUSES))
        open_ = and_(f.detected_at < before, f.id.in_(open_then))
    counts = (
        select(f.party, f.severity, func.count().label("n"))
        .where(open_, f.party.is_not(None)).group_by(f.party, f.severity).subquery()
    )
    query = (
        select(p.id, p.kind, p.name, p.region, p.home, p.licence_valid_until, counts.c.severity, counts.c.n)
        .select_from(m.parties.outerjoin(counts, counts.c.party == p.id))
        .where(p.kind != "regulator").order_by(p.id)
    )
    if region:
        query = query.where(p.region == region)
    if before is not None:
        query = query.where(p.created_at < before)
    return list(connection.execute(query))


def holdings(connection: Connection, region: str | None) -> dict[str, int]:
    c = m.cylinders.c
    query = select(c.holder, func.count()).where(c.state != "scrapped").group_by(c.holder)
    if region:
        query = query.where(c.region == region)
    return {holder: n for holder, n in connection.execute(query) if holder}


def sweep_candidates(connection: Connection, *, quiet_since: str, open_since: str, resting: Sequence[str]) -> list[str]:
    """Cylinders the clock may have turned into findings: long quiet outside rest, or long in transit."""
    c = m.cylinders.c
    query = select(c.id).where(or_(
        and_(c.state.not_in(resting), c.last_event_at < quiet_since),
        and_(c.state == "in_transit", c.state_since < open_since),
    ))
    return [row[0] for row in connection.execute(query)]


# -- the review queue --------------------------------------------------------------------------


def enqueue_review(connection: Connection, cylinders: Iterable[str], since: str) -> None:
    """Queue cylinders for the reviewer; one already queued keeps its place."""
    rows = [(cylinder, since) for cylinder in sorted(set(cylinders))]
    if rows and unnested(connection):
        connection.exec_driver_sql("INSERT INTO review_queue (cylinder, since) SELECT * FROM unnest(%b::text[], %b::text[])"
                                   " ON CONFLICT (cylinder) DO NOTHING", columns_of(rows))
    elif rows:
        connection.exec_driver_sql(
            f"INSERT INTO review_queue (cylinder, since) VALUES ({placeholders(connection, 2)})"
            " ON CONFLICT (cylinder) DO NOTHING",
            rows,
        )


def dequeue_review(connection: Connection, cylinders: Iterable[str]) -> None:
    # On every inline write, so plain SQL: no statement to compile for a table that is mostly empty.
    for condition, params in among(connection, "cylinder", cylinders):
        connection.exec_driver_sql(f"DELETE FROM review_queue WHERE {condition}", params)


def requeue_review(connection: Connection, cylinders: Iterable[str], since: str) -> None:
    """Move queued cylinders to the back of the queue: what they still wait for was committed after ``since``."""
    for chunk in chunks(cylinders):
        connection.exec_driver_sql(
            f"UPDATE review_queue SET since = {marker(connection)}"
            f" WHERE cylinder IN ({placeholders(connection, len(chunk))})", (since, *chunk))


def queued_for_review(connection: Connection, limit: int, among: Iterable[str] | None = None,
                      since_before: str | None = None) -> list[str]:
    """Queued cylinders, longest waiting first; ``among`` narrows to those still queued of a set,
    ``since_before`` to those queued before that time."""
    q = m.review_queue.c
    query = select(q.cylinder).order_by(q.since, q.cylinder).limit(limit)
    if among is not None:
        query = query.where(q.cylinder.in_(sorted(set(among))))
    if since_before is not None:
        query = query.where(q.since < since_before)
    return [row[0] for row in connection.execute(query)]


def review_backlog(connection: Connection) -> tuple[int, str | None]:
    """How many cylinders wait for review, and since when the oldest has."""
    q = m.review_queue.c
    count, oldest = connection.execute(select(func.count(), func.min(q.since))).one()
    return count, oldest
