"""The record of views of personal data, for regulators: who saw whose identity, phone and address in
full, when and why (``GET /v1/end-users/views``; docs/privacy.md). Filter by an end user's ref and by
local days (Beijing time, as every page shows times); page through, newest first."""

from __future__ import annotations

import re
from datetime import date, datetime, time, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from starlette.requests import Request

from ledger.domain import Role

from ..deps import LedgerDep, WriteConn
from .i18n import LOCAL
from .render import PageError, PageRoute, render
from .session import Session, reader

router = APIRouter(route_class=PageRoute)
Regulator = Annotated[Session, Depends(reader(frozenset({Role.REGULATOR})))]
PAGE = 50
REF = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:\-]{0,63}$")


def _day(value: str | None) -> date | None:
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise PageError("views.bad_day", 422) from None


def _start(day: date) -> datetime:
    return datetime.combine(day, time(), LOCAL)


@router.get("/personal-views")
def personal_views(request: Request, session: Regulator, connection: WriteConn, ledger: LedgerDep,
                   ref: Annotated[str | None, Query(max_length=64)] = None,
                   since: Annotated[str | None, Query(max_length=10)] = None,
                   until: Annotated[str | None, Query(max_length=10)] = None,
                   cursor: Annotated[str | None, Query(max_length=200)] = None):
    ref = (ref or "").strip() or None
    if ref is not None and not REF.match(ref):
        raise PageError("views.bad_ref", 422)
    first, last = _day(since), _day(until)
    if first and last and last < first:
        raise PageError("views.bad_range", 422)
    page = ledger.personal_data_views(
        connection, session.actor, ref=ref, cursor=cursor or None, limit=PAGE,
        since=_start(first) if first else None, until=_start(last + timedelta(days=1)) if last else None)
    query: dict[str, Any] = {k: v for k, v in (("ref", ref), ("since", since), ("until", until)) if v}
    return render(request, "personal_views.html", items=page["items"], next_cursor=page["next_cursor"],
                  first_page=not cursor, query=query, chosen={"ref": ref or "", "since": since or "",
                                                              "until": until or ""})
