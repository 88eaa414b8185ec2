"""Who reads a page: the account behind the session cookie, its role, and CSRF-safe forms.

Signing in takes an account's bearer token (the same accounts and roles as the
API), checks it once and forgets it: the ``cl_session`` cookie, HttpOnly and
SameSite=Strict, holds only a random session id that the server keeps hashed
and can revoke (ledger.sessions: sign-out, idle and absolute limits, disabled
accounts). Every form and every script request that changes something carries
the session's CSRF token, an HMAC keyed by the session id, so it is fixed for
one sign-in, differs for the next, and cannot be computed without the cookie.
Browsers never send a SameSite=Strict cookie from another site's page, and an
``Origin`` other than the site's own scheme, host and port is refused as well.

The sign-in form itself has no session yet: it is protected by a double-submit
nonce in the ``cl_signin`` cookie.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass, field
from datetime import datetime
from typing import Annotated
from urllib.parse import urlsplit

from fastapi import Depends
from starlette.requests import Request
from starlette.responses import Response

from ledger import sessions
from ledger.domain import Role
from ledger.service import Actor

from ..deps import LedgerDep, request_transaction
from .render import Forbidden, SignInNeeded
from .roles import HOLDERS, OVERSIGHT

__all__ = ["Session", "SESSION", "SIGNIN", "read_session", "Viewer", "AnyAccount", "Oversight", "Holder",
           "check_form", "check_signin", "open_session", "close_session", "signin_nonce", "keep_signin_nonce"]

SESSION = "cl_session"
SIGNIN = "cl_signin"
_NONCE = re.compile(r"[A-Za-z0-9_-]{16,64}")
_SESSION_ID = re.compile(r"[A-Za-z0-9_-]{43}")  # secrets.token_urlsafe(32)


@dataclass(frozen=True)
class Session:
    actor: Actor
    id: str = field(repr=False)

    @property
    def csrf(self) -> str:
        return hmac.new(self.id.encode(), b"pages-csrf", hashlib.sha256).hexdigest()

    @property
    def role(self) -> str:
        return self.actor.role.value

    def can(self, roles: frozenset[Role]) -> bool:
        return self.actor.role in roles


def read_session(request: Request, ledger) -> Session | None:
    """The session of the cookie, if it names a live sign-in (ledger.sessions; cached on the request)."""
    if hasattr(request.state, "page_session"):
        return request.state.page_session
    session = None
    session_id = request.cookies.get(SESSION, "")
    if _SESSION_ID.fullmatch(session_id):
        now = _now(request)
        with ledger.db.reading() as connection:
            live = sessions.live_session(connection, ledger.settings, session_id, now)
        if live is not None:
            if live.stale:  # page routes declare the session before their own connection, so no turn is held yet
                with request_transaction(ledger) as connection:
                    sessions.touch_session(connection, session_id, now)
            session = Session(live.actor, session_id)
            request.state.account = live.actor.account
            request.state.role = live.actor.role.value
    request.state.page_session = session
    return session


def _now(request: Request) -> datetime:
    return request.app.state.clock()


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


_DEFAULT_PORT = {"http": 80, "https": 443}


def _origin(url: str) -> tuple[str, str, int] | None:
    """(scheme, host, port) of a URL, the port spelled out (RFC 6454 section 4), or None if it has none."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORT or not parts.hostname:
        return None
    return scheme, parts.hostname.lower(), port or _DEFAULT_PORT[scheme]


def _same_origin(request: Request) -> bool:
    """No ``Origin`` (an older browser, a same-origin GET form), or exactly the site's scheme, host and port.

    The site's own origin is the request's URL as the server sees it: behind a proxy that ends TLS, the
    proxy's ``X-Forwarded-Proto`` must reach it (docs/pages.md), or an https page would look http.
    """
    origin = request.headers.get("origin")
    if origin is None:
        return True
    sent = _origin(origin)
    return sent is not None and sent == _origin(f"{request.url.scheme}://{request.headers.get('host', '')}")


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


def open_session(request: Request, response: Response, ledger, actor: Actor) -> None:
    """Start a server-side sign-in of ``actor``'s account and give the browser its id, nothing else."""
    with request_transaction(ledger) as connection:
        session_id = sessions.open_session(connection, actor.account, _now(request))
    response.set_cookie(SESSION, session_id, max_age=ledger.settings.session_max_seconds, path="/", httponly=True,
                        samesite="strict", secure=_secure(request))
    response.delete_cookie(SIGNIN, path="/")


def close_session(request: Request, response: Response, ledger, session: Session) -> None:
    """Revoke the sign-in on the server, so a kept copy of the cookie opens nothing, and drop the cookie."""
    with request_transaction(ledger) as connection:
        sessions.close_session(connection, session.id, _now(request))
    response.delete_cookie(SESSION, path="/", httponly=True, samesite="strict", secure=_secure(request))


def keep_signin_nonce(request: Request, response: Response, nonce: str) -> None:
    response.set_cookie(SIGNIN, nonce, max_age=3600, path="/", httponly=True, samesite="strict",
                        secure=_secure(request))
