"""Who reads a page: the account behind the session cookie, its role, and CSRF-safe forms.

Signing in takes an account's bearer token (the same accounts and roles as the
API) and keeps it in the ``cl_session`` cookie, HttpOnly and SameSite=Strict,
with a random nonce: ``<nonce>.<token>``. Every form and every script request
that changes something carries the session's CSRF token, an HMAC of the nonce
keyed by the token, so it is fixed for one sign-in, differs for the next, and
cannot be computed without the cookie. Browsers never send a SameSite=Strict
cookie from another site's page, and a foreign ``Origin`` is refused as well.

The sign-in form itself has no session yet: it is protected by a double-submit
nonce in the ``cl_signin`` cookie.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass, field
from typing import Annotated

from fastapi import Depends
from starlette.requests import Request
from starlette.responses import Response

from ledger.domain import Role
from ledger.service import Actor

from ..deps import LedgerDep
from .render import Forbidden, SignInNeeded
from .roles import HOLDERS, OVERSIGHT

__all__ = ["Session", "SESSION", "SIGNIN", "read_session", "Viewer", "AnyAccount", "Oversight", "Holder",
           "check_form", "check_signin", "open_session", "close_session", "signin_nonce", "keep_signin_nonce"]

SESSION = "cl_session"
SIGNIN = "cl_signin"
_NONCE = re.compile(r"[A-Za-z0-9_-]{16,64}")
_MAX_TOKEN = 256
SESSION_SECONDS = 12 * 3600  # a working shift; then sign in again


@dataclass(frozen=True)
class Session:
    actor: Actor
    nonce: str
    token: str = field(repr=False)

    @property
    def csrf(self) -> str:
        return hmac.new(self.token.encode(), b"pages-csrf:" + self.nonce.encode(), hashlib.sha256).hexdigest()

    @property
    def role(self) -> str:
        return self.actor.role.value

    def can(self, roles: frozenset[Role]) -> bool:
        return self.actor.role in roles


def read_session(request: Request, ledger) -> Session | None:
    """The session of the cookie, if it names a valid account (cached on the request)."""
    if hasattr(request.state, "page_session"):
        return request.state.page_session
    session = None
    nonce, _, token = request.cookies.get(SESSION, "").partition(".")
    if _NONCE.fullmatch(nonce) and 0 < len(token) <= _MAX_TOKEN:
        with ledger.db.reading() as connection:
            actor = ledger.authenticate(connection, token)
        if actor is not None:
            session = Session(actor, nonce, token)
            request.state.account = actor.account
            request.state.role = actor.role.value
    request.state.page_session = session
    return session


def viewer(request: Request, ledger: LedgerDep) -> Session | None:
    return read_session(request, ledger)


def _signed_in(request: Request, ledger: LedgerDep) -> Session:
    session = read_session(request, ledger)
    if session is None:
        raise SignInNeeded("error.sign_in")
    return session


def reader(roles: frozenset[Role]):
    """A dependency: the session, once its role may open the page (else a 403 page)."""

    def allowed(session: Annotated[Session, Depends(_signed_in)]) -> Session:
        if not session.can(roles):
            raise Forbidden("error.role", role=session.role)
        return session

    return allowed


Viewer = Annotated[Session | None, Depends(viewer)]
AnyAccount = Annotated[Session, Depends(_signed_in)]
Oversight = Annotated[Session, Depends(reader(OVERSIGHT))]
Holder = Annotated[Session, Depends(reader(HOLDERS))]


def _same_origin(request: Request) -> bool:
    origin = request.headers.get("origin")
    if origin is None or origin == "null":
        return origin is None
    return origin.split("://", 1)[-1] == request.headers.get("host", "")


def check_form(request: Request, session: Session, sent: str | None) -> None:
    """Refuse a state-changing request without this session's CSRF token or from another origin."""
    if not _same_origin(request) or not sent or not hmac.compare_digest(sent.encode(), session.csrf.encode()):
        raise Forbidden("error.csrf")


def signin_nonce(request: Request) -> str:
    """The sign-in form's double-submit nonce: the cookie's, or a fresh one."""
    kept = request.cookies.get(SIGNIN, "")
    return kept if _NONCE.fullmatch(kept) else secrets.token_urlsafe(24)


def check_signin(request: Request, sent: str | None) -> None:
    kept = request.cookies.get(SIGNIN, "")
    if not _same_origin(request) or not _NONCE.fullmatch(kept) or not sent \
            or not hmac.compare_digest(sent.encode(), kept.encode()):
        raise Forbidden("error.csrf")


def _secure(request: Request) -> bool:
    return request.url.scheme == "https"


def open_session(request: Request, response: Response, token: str) -> None:
    value = f"{secrets.token_urlsafe(24)}.{token}"
    response.set_cookie(SESSION, value, max_age=SESSION_SECONDS, path="/", httponly=True, samesite="strict",
                        secure=_secure(request))
    response.delete_cookie(SIGNIN, path="/")


def close_session(request: Request, response: Response) -> None:
    response.delete_cookie(SESSION, path="/", httponly=True, samesite="strict", secure=_secure(request))


def keep_signin_nonce(request: Request, response: Response, nonce: str) -> None:
    response.set_cookie(SIGNIN, nonce, max_age=3600, path="/", httponly=True, samesite="strict",
                        secure=_secure(request))
