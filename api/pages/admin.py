"""The administrator's accounts page: every account, with disable and a new token (server-side forms).

Admin only. Each button is a POST carrying the session's CSRF token (session.check_form). A new
token is shown once, in the answer to its form (no-store), and never again; the old one stops
working with every sign-in made with it. An administrator cannot disable the account signed in.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Annotated

from fastapi import APIRouter, Depends, Form, Path
from starlette.requests import Request

from ledger import sessions
from ledger.domain import Role

from ..deps import LedgerDep, ReadConn, WriteConn
from .render import PageError, PageRoute, render
from .session import Session, check_form, reader

router = APIRouter(route_class=PageRoute)
Admin = Annotated[Session, Depends(reader(frozenset({Role.ADMIN})))]
AccountId = Annotated[int, Path(ge=1, le=2**31 - 1)]
Csrf = Annotated[str, Form(max_length=100)]


@router.get("/admin/accounts")
def accounts_page(request: Request, session: Admin, connection: ReadConn, ledger: LedgerDep):
    return render(request, "accounts.html", accounts=ledger.accounts(connection), new_token=None, changed=None)


@router.post("/admin/accounts/{account}/disable")
def disable_account(request: Request, session: Admin, connection: WriteConn, ledger: LedgerDep,
                    account: AccountId, csrf: Csrf = ""):
    check_form(request, session, csrf)
    if account == session.actor.account:
        raise PageError("accounts.not_self", 409)
    sessions.disable_account(connection, account, datetime.now(timezone.utc))
    return render(request, "accounts.html", accounts=ledger.accounts(connection), new_token=None, changed=account)


@router.post("/admin/accounts/{account}/rotate")
def rotate_token(request: Request, session: Admin, connection: WriteConn, ledger: LedgerDep,
                 account: AccountId, csrf: Csrf = ""):
    check_form(request, session, csrf)
    token = ledger.rotate_token(connection, account)
    return render(request, "accounts.html", accounts=ledger.accounts(connection), new_token=token, changed=account)
