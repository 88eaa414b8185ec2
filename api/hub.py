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

import html
from collections.abc import Callable, Sequence
from datetime import datetime, timezone
from typing import Annotated, Any, Literal

from fastapi import Depends, FastAPI, Form, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException

from ledger.service import hub
from ledger.service.hub import CityView

from . import errors
from .districts import district_label
from .pages.i18n import Translator
from .export import Column
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

TEXT = {
    "zh": {"title": "全省气瓶追溯枢纽", "cities": "各城市", "city": "城市", "region": "行政区划", "log": "日志",
           "size": "已核验事件数", "status": "跟随状态", "checked": "最近核验", "problem": "问题", "ok": "正常",
           "new": "尚未跟随", "refused": "拒绝（日志不一致）", "unreachable": "无法连接", "enterprises": "企业风险颜色",
           "enterprise": "企业", "colour": "颜色", "cylinders": "气瓶数", "red": "红", "yellow": "黄", "green": "绿",
           "findings": "未结问题", "trace": "跨市追溯", "code": "气瓶编码", "look": "查询", "seq": "序号",
           "kind": "事件", "at": "发生时间", "party": "单位", "intact": "链完整", "broken": "链断裂",
           "signin": "登录", "token": "枢纽令牌", "download": "下载", "other": "English", "none": "无"},
    "en": {"title": "Provincial cylinder hub", "cities": "Cities", "city": "City", "region": "Region", "log": "Log",
           "size": "Verified events", "status": "Follow state", "checked": "Last checked", "problem": "Problem",
           "ok": "ok", "new": "not yet followed", "refused": "refused (log inconsistent)", "unreachable": "unreachable",
           "enterprises": "Enterprise colours", "enterprise": "Enterprise", "colour": "Colour", "cylinders": "Cylinders",
           "red": "red", "yellow": "yellow", "green": "green", "findings": "Open findings", "trace": "Cross-city trace",
           "code": "Trace code", "look": "Look up", "seq": "Seq", "kind": "Event", "at": "Occurred", "party": "Party",
           "intact": "chain intact", "broken": "chain broken", "signin": "Sign in", "token": "Hub token",
           "download": "Download", "other": "中文", "none": "none"},
}


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
             lang: Lang = "zh") -> Any:
        found = hub.province_risk(chosen(city), reason, region, owner, seen=seen)
        if file_format == "json":
            return found
        t = Translator(lang)
        rows = [{**r, "district": district_label(r.get("region")), "last_event_at": local(r.get("last_event_at")),
                 "detected_at": local(r.get("detected_at")), "reason": t.term("reason", r.get("reason")),
                 "state": t.term("state", r.get("state")) if r.get("state") else None} for r in found["items"]]
        return sheet_file(rows, RISK_SHEET, file_format=file_format, name=f"province-risk-{reason}",
                          sheet=reason, heading=f"{TEXT[lang]['title']} · {reason} · {_now()}", lang=lang)

    @app.get("/v1/province/findings")
    def findings(_: Account, city: str | None = None, kind: Annotated[str | None, Query(max_length=40)] = None,
                 status: Annotated[str | None, Query(max_length=20)] = None, region: Region = None,
                 party: Annotated[str | None, Query(max_length=100)] = None, file_format: Format = "json",
                 lang: Lang = "zh") -> Any:
        found = hub.province_findings(chosen(city), kind, status, region, party, seen=seen)
        if file_format == "json":
            return found
        t = Translator(lang)
        rows = [{**r, "district": district_label(r.get("region")), "detected_at": local(r.get("detected_at")),
                 "kind": t.term("finding", r.get("kind")), "severity": t.term("severity", r.get("severity")),
                 "status": t.term("status", r.get("status"))} for r in found["items"]]
        return sheet_file(rows, FINDING_SHEET, file_format=file_format, name="province-findings", sheet="findings",
                          heading=f"{TEXT[lang]['title']} · {TEXT[lang]['findings']} · {_now()}", lang=lang)

    @app.get("/v1/province/enterprises")
    def enterprises(_: Account, city: str | None = None, region: Region = None) -> dict[str, Any]:
        return hub.province_enterprises(chosen(city), region, seen=seen)

    @app.get("/v1/province/cylinders/{cylinder_id}/trace")
    def trace(_: Account, cylinder_id: str) -> dict[str, Any]:
        return hub.trace(views(), cylinder_code(cylinder_id))

    @app.get("/v1/province/cylinders/{cylinder_id}/bundle")
    def bundle(_: Account, cylinder_id: str) -> dict[str, Any]:
        return hub.bundle(views(), cylinder_code(cylinder_id))

    # -- pages ------------------------------------------------------------------

    def page(lang: str, body: str) -> HTMLResponse:
        t = TEXT[lang]
        switch = "en" if lang == "zh" else "zh"
        return HTMLResponse(
            f'<!doctype html><html lang="{"zh-CN" if lang == "zh" else "en"}"><head><meta charset="utf-8">'
            f'<title>{t["title"]}</title><style>body{{font-family:sans-serif;margin:2em}}'
            'table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:.3em .6em}'
            '.red{background:#f4c7c3}.yellow{background:#fce8b2}.green{background:#b7e1cd}</style></head><body>'
            f'<h1>{t["title"]}</h1><p><a href="?lang={switch}">{t["other"]}</a></p>{body}</body></html>')

    def page_account(request: Request) -> str | None:
        try:
            return account(request)
        except HTTPException:
            return None

    @app.get("/signin", response_class=HTMLResponse)
    def signin_form(lang: Lang = "zh") -> HTMLResponse:
        t = TEXT[lang]
        return page(lang, f'<form method="post" action="/signin?lang={lang}"><label>{t["token"]} '
                          f'<input name="token" type="password"></label> <button>{t["signin"]}</button></form>')

    @app.post("/signin")
    def signin(token: Annotated[str, Form(max_length=200)], lang: Lang = "zh") -> Response:
        if store.account(token) is None:
            return RedirectResponse(f"/signin?lang={lang}", status_code=303)
        answer = RedirectResponse(f"/?lang={lang}", status_code=303)
        answer.set_cookie(COOKIE, token, httponly=True, samesite="strict")
        return answer

    @app.get("/", response_class=HTMLResponse)
    async def dashboard(request: Request, lang: Lang = "zh") -> Response:
        if page_account(request) is None:
            return RedirectResponse(f"/signin?lang={lang}", status_code=303)
        t = TEXT[lang]
        listed = store.cities()
        coloured = await run_in_threadpool(hub.province_enterprises, views(), None, seen)
        opened = await run_in_threadpool(lambda: hub.province_findings(views(), status="open", seen=seen))
        per_city: dict[str, int] = {}
        for row in opened["items"]:
            per_city[row["city"]] = per_city.get(row["city"], 0) + 1
        rows = "".join(
            f"<tr><td>{html.escape(c.name)}</td><td>{html.escape(district_label(c.region))}（{c.region or '—'}）</td>"
            f"<td>{html.escape(c.origin)}</td><td>{c.size}</td><td>{t.get(c.status, c.status)}</td>"
            f"<td>{per_city.get(c.name, 0)}</td><td>{html.escape(c.problem or t['none'])}</td></tr>" for c in listed)
        colours = "".join(
            f'<tr class="{e["colour"]}"><td>{html.escape(str(e["party"].get("name") or e["enterprise"]))}</td>'
            f'<td>{html.escape(e["enterprise"])}</td><td>{t[e["colour"]]}</td><td>{e["cylinders"]}</td>'
            f'<td>{html.escape("、".join(e["cities"]))}</td></tr>' for e in coloured["items"])
        body = (f'<h2>{t["cities"]}</h2><table><tr><th>{t["city"]}</th><th>{t["region"]}</th><th>{t["log"]}</th>'
                f'<th>{t["size"]}</th><th>{t["status"]}</th><th>{t["findings"]}</th><th>{t["problem"]}</th></tr>'
                f'{rows}</table><h2>{t["trace"]}</h2><form action="/trace"><input type="hidden" name="lang" '
                f'value="{lang}"><label>{t["code"]} <input name="code"></label> <button>{t["look"]}</button></form>'
                f'<h2>{t["enterprises"]}</h2><table><tr><th>{t["enterprise"]}</th><th>{t["enterprise"]}</th>'
                f'<th>{t["colour"]}</th><th>{t["cylinders"]}</th><th>{t["cities"]}</th></tr>{colours}</table>')
        return page(lang, body)

    @app.get("/trace", response_class=HTMLResponse)
    def trace_page(request: Request, code: Annotated[str, Query(min_length=1, max_length=64)],
                   lang: Lang = "zh") -> Response:
        if page_account(request) is None:
            return RedirectResponse(f"/signin?lang={lang}", status_code=303)
        t, terms = TEXT[lang], Translator(lang)
        found = hub.trace(views(), cylinder_code(code))
        parts = [f'<h2>{t["trace"]}：{html.escape(found["cylinder"])} · '
                 f'{t["intact"] if found["intact"] else t["broken"]}</h2>']
        for problem in found["problems"]:
            parts.append(f"<p>{html.escape(problem)}</p>")
        for segment in found["segments"]:
            parts.append(f'<h3>{html.escape(segment["city"])} · {html.escape(segment["origin"])}</h3><table>'
                         f'<tr><th>{t["seq"]}</th><th>{t["kind"]}</th><th>{t["at"]}</th><th>{t["party"]}</th></tr>')
            parts += [f'<tr><td>{e["seq"]}</td><td>{html.escape(terms.term("kind", e["kind"]))}</td>'
                      f'<td>{html.escape(terms.when(e["occurred_at"]))}</td><td>{html.escape(e["party"])}</td></tr>'
                      for e in segment["events"]]
            parts.append("</table>")
        return page(lang, "".join(parts))

    return app
