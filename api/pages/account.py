"""Signing in with an account's bearer token (checked once, never kept), and out again."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Query
from fastapi.responses import RedirectResponse
from starlette.requests import Request

from ledger.domain import Role

from ..deps import LedgerDep
from .render import PageRoute, render
from .session import (
    AnyAccount, Viewer, check_form, check_signin, close_session, keep_signin_nonce, open_session, signin_nonce,
)

router = APIRouter(route_class=PageRoute)

# Where each role starts after signing in.
LANDING = {Role.ADMIN: "/dashboard", Role.REGULATOR: "/dashboard", Role.INSPECTOR: "/trace"}


def safe_next(target: str | None) -> str | None:
    """Only a path on this site: never another host (``//evil``, ``/\\evil``) or a scheme."""
    if not target or not target.startswith("/") or target.startswith(("//", "/\\")) or len(target) > 500:
        return None
    if any(ord(c) < 0x20 for c in target):
        return None
    return target


def _signin(request: Request, status: int = 200, *, failed: bool = False, next_: str | None = None):
    nonce = signin_nonce(request)
    response = render(request, "signin.html", status=status, nonce=nonce, failed=failed,
                      next=safe_next(next_) or "")
    keep_signin_nonce(request, response, nonce)
    return response


@router.get("/signin")
def signin_form(request: Request, viewer: Viewer, next: Annotated[str | None, Query(max_length=500)] = None):
    return _signin(request, next_=next)


@router.post("/signin")
def signin(
    request: Request, ledger: LedgerDep,
    token: Annotated[str, Form(max_length=300)] = "", csrf: Annotated[str, Form(max_length=100)] = "",
    next: Annotated[str, Form(max_length=500)] = "",
):
    check_signin(request, csrf)
    token = token.strip()
    actor = None
    if 0 < len(token) <= 256:
        with ledger.db.reading() as connection:
            actor = ledger.authenticate(connection, token)
    if actor is None:
        return _signin(request, 401, failed=True, next_=next)
    response = RedirectResponse(safe_next(next) or LANDING.get(actor.role, "/driver"), status_code=303)
    open_session(request, response, ledger, actor)
    return response


@router.post("/signout")
def signout(request: Request, session: AnyAccount, ledger: LedgerDep,
            csrf: Annotated[str, Form(max_length=100)] = ""):
    check_form(request, session, csrf)
    response = RedirectResponse("/", status_code=303)
    close_session(request, response, ledger, session)
    return response
