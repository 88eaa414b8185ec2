"""The provincial hub's HTTP service: the province's JSON API, its Chinese pages, and its witness.

A separate application from a city ledger's (docs/regions.md, "The provincial
hub"): ``ledger hub serve`` runs it beside the follower that keeps each city's
verified mirror. Every ``/v1/province`` route and page needs one of the hub's
own regulator accounts (``ledger hub add-account``): a bearer token, or on the
pages the same token given once at ``/signin`` and kept in a cookie. The witness
the cities list in ``LEDGER_WITNESSES`` answers under ``/witness``
(c2sp.org/tlog-witness: ``POST /witness/add-checkpoint``).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from datetime import datetime, timezone
from typing import Annotated, Any, Literal
from urllib.parse import quote

from fastapi import APIRouter, Depends, FastAPI, Form, Query, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException

from ledger.domain import FindingKind
from ledger.errors import InvalidInput
from ledger.oversight import REASONS
from ledger.service import hub
from ledger.service.hub import CityView

from . import errors
from .districts import district_label
from .export import Column
from .pages import static_files
from .pages.cases import STATUSES
from .pages.dashboard import region_filter
from .pages.i18n import Translator
from .pages.render import PageError, PageRoute, SignInNeeded, render
from .schemas_oversight import RiskReason
from .sheets import FINDINGS, RISK, local, sheet_file
from .views import cylinder_code
from .witness import witness_app

__all__ = ["hub_app"]

COOKIE = "hub_token"
CITY = Column("city", "城市", "City", 10)
RISK_SHEET = (CITY,) + tuple(c for c in RISK if not c.key.endswith("_name"))
FINDING_SHEET = (CITY,) + tuple(c for c in FINDINGS if not c.key.endswith("_name") and c.key not in ("note", "last_step", "last_step_at"))
Format = Annotated[Literal["json", "csv", "xlsx"], Query(alias="format")]
Lang = Annotated[Literal["zh", "en"], Query()]
Region = Annotated[str | None, Query(pattern=r"^\d{6}$")]
Limit = Annotated[int, Query(ge=1, le=hub.PAGE_MAX)]
Cursor = Annotated[str | None, Query(max_length=4000)]


def account(request: Request) -> str:
    """The hub account a request's bearer token (or the pages' cookie) opens; 401 otherwise."""
    header = request.headers.get("authorization", "")
    token = header[7:].strip() if header.lower().startswith("bearer ") else request.cookies.get(COOKIE, "")
    name = request.app.state.store.account(token) if token else None
    if name is None:
        raise HTTPException(401, "a bearer token of one of the hub's accounts is needed",
                            headers={"WWW-Authenticate": 'Bearer realm="cylinder-ledger hub"'})
    return name


Account = Annotated[str, Depends(account)]


def _now() -> str:
    return local(datetime.now(timezone.utc)).strftime("%Y-%m-%d %H:%M:%S")


def hub_app(store, views: Callable[[], Sequence[CityView]], cosigner=None, witness_store=None,
            seen=None) -> FastAPI:
    """``store``: the hub's ``HubStore``; ``views()``: the followed cities with their mirrors open;
    ``seen(city, body)``: handed every answer a city gives the hub (for tests that check the wire)."""
    app = FastAPI(title="cylinder-ledger provincial hub", docs_url=None, redoc_url=None)
    app.state.store = store
    errors.install(app)
    if cosigner is not None and witness_store is not None:
        app.mount("/witness", witness_app(witness_store, cosigner))

    def chosen(city: str | None) -> list[CityView]:
        every = list(views())
        if city is None:
            return every
        picked = [v for v in every if v.name == city]
        if not picked:
            raise HTTPException(404, f"the hub follows no city {city!r}")
        return picked

    @app.get("/healthz")
    def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/v1/province/cities")
    def cities(_: Account) -> list[dict[str, Any]]:
        return [{"name": c.name, "url": c.url, "origin": c.origin, "region": c.region, "size": c.size,
                 "status": c.status, "problem": c.problem, "checked_at": c.checked_at} for c in store.cities()]

    @app.get("/v1/province/risk/cylinders")
    def risk(_: Account, reason: RiskReason, city: str | None = None, region: Region = None,
             owner: Annotated[str | None, Query(max_length=100)] = None, file_format: Format = "json",
             lang: Lang = "zh", limit: Limit = 100, cursor: Cursor = None) -> Any:
        if file_format == "json":
            return JSONResponse(hub.risk_page(chosen(city), reason, region, owner, cursor, limit, seen=seen))
        found = hub.province_risk(chosen(city), reason, region, owner, seen=seen)
        t = Translator(lang)
        rows = [{**r, "district": district_label(r.get("region")), "last_event_at": local(r.get("last_event_at")),
                 "detected_at": local(r.get("detected_at")), "reason": t.term("reason", r.get("reason")),
                 "state": t.term("state", r.get("state")) if r.get("state") else None} for r in found["items"]]
        return sheet_file(rows, RISK_SHEET, file_format=file_format, name=f"province-risk-{reason}",
                          sheet=reason, heading=f"{t('hub.name')} · {t.term('reason', reason)} · {_now()}", lang=lang)

    @app.get("/v1/province/findings")
    def findings(_: Account, city: str | None = None, kind: Annotated[str | None, Query(max_length=40)] = None,
                 status: Annotated[str | None, Query(max_length=20)] = None, region: Region = None,
                 party: Annotated[str | None, Query(max_length=100)] = None, file_format: Format = "json",
                 lang: Lang = "zh", limit: Limit = 100, cursor: Cursor = None) -> Any:
        if file_format == "json":
            return JSONResponse(hub.findings_page(chosen(city), kind, status, region, party, cursor, limit, seen=seen))
        found = hub.province_findings(chosen(city), kind, status, region, party, seen=seen)
        t = Translator(lang)
        rows = [{**r, "district": district_label(r.get("region")), "detected_at": local(r.get("detected_at")),
                 "kind": t.term("finding", r.get("kind")), "severity": t.term("severity", r.get("severity")),
                 "status": t.term("status", r.get("status"))} for r in found["items"]]
        return sheet_file(rows, FINDING_SHEET, file_format=file_format, name="province-findings", sheet="findings",
                          heading=f"{t('hub.name')} · {t('hub.findings')} · {_now()}", lang=lang)

    @app.get("/v1/province/enterprises")
    def enterprises(_: Account, city: str | None = None, region: Region = None) -> dict[str, Any]:
        return hub.province_enterprises(chosen(city), region, seen=seen)

    # The answers below are JSON already (``wire.event_json``, strings and numbers): they are sent as they are,
    # without FastAPI's walk over every value, which cost a trace more than reading it from three mirrors.
    @app.get("/v1/province/cylinders/{cylinder_id}/trace")
    def trace(_: Account, cylinder_id: str) -> JSONResponse:
        return JSONResponse(hub.trace(views(), cylinder_code(cylinder_id)))

    @app.get("/v1/province/cylinders/{cylinder_id}/bundle")
    def bundle(_: Account, cylinder_id: str) -> JSONResponse:
        return JSONResponse(hub.bundle(views(), cylinder_code(cylinder_id)))

    # -- pages ------------------------------------------------------------------
    app.mount("/static", static_files(), name="static")
    app.include_router(_pages(store, views, chosen, seen))
    return app


# The hub's pages: the city pages' templates and look (api/pages/render.py), Chinese first, ``?lang=en``.
NAV = (("/", "hub.nav.dashboard"), ("/risk", "hub.nav.risk"), ("/findings", "hub.nav.findings"))
FINDING_KINDS = tuple(kind.value for kind in FindingKind)
SHOWN = 200  # rows a list page shows; the next page follows the province's cursor, the downloads carry all
Text = Annotated[str | None, Query(max_length=100)]
PageCursor = Annotated[str | None, Query(max_length=4000)]


def _listed(ask: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    """A page of a provincial list; a cursor the page did not give (altered, or of other filters) is a 422 page."""
    try:
        return ask()
    except InvalidInput:
        raise PageError("error.bad_request", 422) from None


def _hub_page(request: Request, template: str, status: int = 200, **context: Any) -> Response:
    return render(request, template, status=status, site="hub.name", nav=NAV, **context)


def _signed_in(request: Request) -> str:
    try:
        return account(request)
    except HTTPException:
        raise SignInNeeded("error.sign_in") from None


Signed = Annotated[str, Depends(_signed_in)]


def _missing(states: dict[str, str]) -> list[str]:
    return [name for name, state in states.items() if state != "ok"]


def _pages(store, views: Callable[[], Sequence[CityView]], chosen, seen) -> APIRouter:
    router = APIRouter(route_class=PageRoute, include_in_schema=False)

    def city_filter(city: str | None) -> list[CityView]:
        try:
            return chosen(city or None)
        except HTTPException:
            raise PageError("error.not_found", 404) from None

    @router.get("/signin")
    def signin_form(request: Request, failed: bool = False,
                    next: Annotated[str, Query(max_length=500)] = "/") -> Response:  # noqa: A002 - the form's name
        return _hub_page(request, "hub_signin.html", failed=failed, next=_local(next))

    @router.post("/signin")
    def signin(token: Annotated[str, Form(max_length=256)],
               next: Annotated[str, Form(max_length=500)] = "/") -> Response:  # noqa: A002 - the form's name
        if store.account(token) is None:
            return RedirectResponse(f"/signin?failed=true&next={quote(_local(next), safe='')}", status_code=303)
        answer = RedirectResponse(_local(next), status_code=303)
        answer.set_cookie(COOKIE, token, httponly=True, samesite="strict")
        return answer

    @router.get("/")
    async def dashboard(request: Request, _: Signed) -> Response:
        # The colours and each city's count of its open findings (never their rows), both asked at once.
        followed = views()
        coloured, opened = await asyncio.gather(
            run_in_threadpool(hub.province_enterprises, followed, None, seen),
            run_in_threadpool(lambda: hub.province_counts(followed, status="open", seen=seen)))
        per_city = {row["city"]: row for row in opened["items"]}
        return _hub_page(request, "hub_dashboard.html", cities=store.cities(), open=per_city,
                         enterprises=coloured["items"],
                         missing=sorted(set(_missing(coloured["cities"])) | set(_missing(opened["cities"]))))

    @router.get("/risk")
    async def risk_page(request: Request, _: Signed,
                        reason: Annotated[str, Query(max_length=40)] = "overdue_inspection",
                        city: Text = None, region: Annotated[str | None, Query(max_length=6)] = None,
                        owner: Text = None, cursor: PageCursor = None) -> Response:
        if reason not in REASONS:
            raise PageError("error.reason", 422)
        region = region_filter(region)
        found = await run_in_threadpool(_listed, lambda: hub.risk_page(
            city_filter(city), reason, region, owner or None, cursor, SHOWN, seen=seen))
        query = {k: v for k, v in {"reason": reason, "city": city, "region": region, "owner": owner}.items() if v}
        return _hub_page(request, "hub_risk.html", reasons=REASONS, chosen=query, items=found["items"],
                         shown=SHOWN, next_cursor=found["next_cursor"], paged=bool(cursor),
                         missing=_missing(found["cities"]), city_names=[c.name for c in views()], query=query)

    @router.get("/findings")
    async def findings_page(request: Request, _: Signed, city: Text = None,
                            kind: Annotated[str | None, Query(max_length=40)] = None,
                            status: Annotated[str | None, Query(max_length=20)] = "open",
                            region: Annotated[str | None, Query(max_length=6)] = None, party: Text = None,
                            cursor: PageCursor = None) -> Response:
        region = region_filter(region)
        if kind and kind not in FINDING_KINDS:
            raise PageError("error.bad_request", 422)
        if status and status not in STATUSES:
            raise PageError("error.bad_request", 422)
        found = await run_in_threadpool(_listed, lambda: hub.findings_page(
            city_filter(city), kind or None, status or None, region, party or None, cursor, SHOWN, seen=seen))
        query = {k: v for k, v in {"city": city, "kind": kind, "status": status, "region": region,
                                   "party": party}.items() if v}
        return _hub_page(request, "hub_findings.html", kinds=FINDING_KINDS, statuses=STATUSES, chosen=query,
                         items=found["items"], shown=SHOWN, next_cursor=found["next_cursor"], paged=bool(cursor),
                         missing=_missing(found["cities"]), city_names=[c.name for c in views()], query=query)

    @router.get("/trace")
    async def trace_page(request: Request, _: Signed,
                         code: Annotated[str, Query(min_length=1, max_length=64)]) -> Response:
        found = await run_in_threadpool(hub.trace, views(), cylinder_code(code))
        return _hub_page(request, "hub_trace.html", trace=found)

    return router


def _local(target: str) -> str:
    """Where a sign-in returns to: a path on the hub, never another site."""
    return target if target.startswith("/") and not target.startswith("//") else "/"
