"""Rendering pages: the Jinja2 templates, the answer's headers, and errors shown as pages.

Routers of the pages use ``PageRoute``: whatever a page's route raises (a
missing sign-in, a role that may not look, a ledger refusal, bad query
parameters) is answered as an HTML page in the reader's language, never as the
API's problem+json.
"""

from __future__ import annotations

import functools
import hashlib
import logging
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from starlette.requests import Request

from ledger.domain import Role
from ledger.errors import LedgerError, NotFound, PermissionDenied

from ..body import JSONRoute
from ..districts import district_label
from ..errors import status_of
from .i18n import COOKIE, LANGUAGES, Translator, language
from .roles import navigation

__all__ = ["render", "PageRoute", "PageError", "SignInNeeded", "Forbidden", "SECURITY_HEADERS", "static_url"]

log = logging.getLogger("ledger.pages")
HERE = Path(__file__).resolve().parent
TEMPLATES = HERE.parent / "templates"
STATIC = HERE.parent / "static"

# The pages load nothing from elsewhere; camera frames are blobs, charts inline SVG.
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; img-src 'self' data: blob:; media-src 'self' blob:; connect-src 'self'; "
        "style-src 'self'; script-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; "
        "frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Permissions-Policy": "camera=(self), microphone=(), geolocation=()",
}


class PageError(Exception):
    """A page that cannot be shown; ``key`` names its explanation in the string table."""

    status = 400

    def __init__(self, key: str, status: int | None = None, detail: str | None = None, **values: object) -> None:
        super().__init__(key)
        self.key, self.detail, self.values = key, detail, values
        if status is not None:
            self.status = status


class SignInNeeded(PageError):
    status = 401


class Forbidden(PageError):
    status = 403


@functools.cache
def _fingerprint(name: str) -> str:
    return hashlib.sha256((STATIC / name).read_bytes()).hexdigest()[:10]


def static_url(name: str) -> str:
    """A static asset's URL, changing whenever the file does (so browsers may cache it for long)."""
    return f"/static/{name}?v={_fingerprint(name)}"


def _environment() -> Environment:
    env = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(("html", "svg")),
                      undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    env.globals["static"] = static_url
    env.globals["district"] = district_label  # a region code as its district's name (api/districts.py)
    return env


ENV = _environment()


def _resized(request: Request, size: str) -> str:
    params = [(k, v) for k, v in request.query_params.multi_items() if k != "size"] + [("size", size)]
    return f"{request.url.path}?{urlencode(params)}"


def _switch(request: Request, lang: str) -> str:
    params = [(k, v) for k, v in request.query_params.multi_items() if k != "lang"] + [("lang", lang)]
    return f"{request.url.path}?{urlencode(params)}"


# Large type and high contrast for older readers (docs/citizens.md): ``?size=large`` or ``normal``, remembered.
SIZE_COOKIE, SIZES = "size", ("large", "normal")


def _large(request: Request) -> bool:
    asked = request.query_params.get("size")
    return (asked if asked in SIZES else request.cookies.get(SIZE_COOKIE)) == "large"


def render(request: Request, template: str, status: int = 200, **context: Any) -> HTMLResponse:
    """``template`` in the reader's language; a ``?lang=`` or ``?size=`` choice is remembered in a cookie.
    ``nav`` (pairs of link and string key) replaces the role's menu (the provincial hub's pages)."""
    lang = language(request)
    t = Translator(lang)
    session = getattr(request.state, "page_session", None)
    audited = getattr(request.app.state, "ledger_status", None)
    served = getattr(request.app.state, "ledger", None)
    context.setdefault("hotline", served.settings.hotline if served is not None else "")  # printed on public pages
    html = ENV.get_template(template).render(
        ledger_disputed=audited is not None and audited.disputed(),
        t=t, session=session, path=request.url.path,
        nav=context.pop("nav", None) or navigation(session.actor.role if session else None),
        nav_counts=_nav_counts(request, session),
        switch={other: _switch(request, other) for other in LANGUAGES if other != lang},
        large=_large(request), resize=_resized(request, "normal" if _large(request) else "large"), **context)
    response = HTMLResponse(html, status_code=status, headers=SECURITY_HEADERS)
    if request.query_params.get("lang") in LANGUAGES:
        response.set_cookie(COOKIE, lang, max_age=365 * 24 * 3600, samesite="lax", httponly=True)
    if request.query_params.get("size") in SIZES:
        response.set_cookie(SIZE_COOKIE, request.query_params["size"], max_age=365 * 24 * 3600, samesite="lax",
                            httponly=True)
    response.headers["Cache-Control"] = "no-store" if session else "no-cache"
    return response


def _nav_counts(request: Request, session) -> dict[str, int]:
    """An inspector's menu shows how many cases wait in the inbox (/cases/mine)."""
    if session is None or session.actor.role is not Role.INSPECTOR:
        return {}
    ledger = request.app.state.ledger
    with ledger.db.reading() as connection:
        return {"/cases/mine": ledger.count_my_cases(connection, session.actor)}


def error_page(request: Request, error: PageError) -> Response:
    if isinstance(error, SignInNeeded):
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return RedirectResponse(f"/signin?next={quote(target, safe='')}", status_code=303)
    values = dict(error.values)
    if "role" in values:  # the reader's role, named in the reader's language
        values["role"] = Translator(language(request)).term("role", values["role"])
    return render(request, "error.html", status=error.status, key=error.key, values=values, detail=error.detail)


def _from_ledger(error: LedgerError) -> PageError:
    if isinstance(error, PermissionDenied):
        return Forbidden("error.forbidden", detail=error.message)
    if isinstance(error, NotFound):
        return PageError("error.not_found", 404, detail=error.message)
    status = status_of(error)
    if status >= 500:
        log.error("integrity failure on a page: %s", error.message)
        return PageError("error.integrity", 500)
    return PageError("error.refused", status, detail=error.message)


class PageRoute(JSONRoute):
    """A route whose failures are pages in the reader's language; a JSON body (the driver's sync) is read as
    strictly as the API's (``api.body``), and refused as the API refuses it."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def page(request: Request) -> Response:
            try:
                return await handler(request)
            except PageError as error:
                return error_page(request, error)
            except LedgerError as error:
                return error_page(request, _from_ledger(error))
            except RequestValidationError as error:
                fields = ", ".join(".".join(str(p) for p in item.get("loc", ())[1:]) for item in error.errors())
                return error_page(request, PageError("error.bad_request", 422, detail=fields or None))

        return page
