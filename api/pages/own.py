"""An end user's own page (``/me``): their deliveries by phone number and one-time code; no sign-in, no script.

The page is a thin form over ``Ledger.send_code`` and ``Ledger.own_history`` (the API's
``POST /v1/my/codes`` and ``POST /v1/my/history``): the code reaches the phone through the
``end_user.code`` webhook, a phone number alone shows nothing (docs/privacy.md).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form
from starlette.requests import Request

from ledger.errors import InvalidInput, RateLimited, Unavailable
from ledger.service.endusers import CODE_LIFETIME, Refused

from ..deps import LedgerDep, WriteConn
from ..routers.endusers import client_address
from .render import PageRoute, render
from .session import Viewer

router = APIRouter(route_class=PageRoute)


def _page(request: Request, stage: str, *, status: int = 200, problem: str | None = None,
          values: dict[str, Any] | None = None, **context: Any):
    context.setdefault("phone", "")
    response = render(request, "me.html", status=status, stage=stage, problem=problem, values=values or {},
                      **context)
    response.headers["Cache-Control"] = "no-store"  # a history is for this reader only
    return response


def _refusal(request: Request, error: Exception, stage: str, **context: Any):
    if isinstance(error, RateLimited):
        return _page(request, stage, status=429, problem="me.too_many", values={"seconds": error.retry_after},
                     **context)
    if isinstance(error, Unavailable):
        return _page(request, stage, status=503, problem="me.no_gateway", **context)
    key = "me.bad_code" if getattr(error, "field", None) == "code" else "me.bad_phone"
    return _page(request, stage, status=422, problem=key, **context)


@router.get("/me")
def own_page(request: Request, viewer: Viewer):
    return _page(request, "phone")


@router.post("/me/code")
def own_code(request: Request, viewer: Viewer, connection: WriteConn, ledger: LedgerDep,
             phone: Annotated[str, Form(max_length=40)] = ""):
    try:
        sent = ledger.send_code(connection, phone, client=client_address(request))
    except (InvalidInput, RateLimited, Unavailable) as error:
        return _refusal(request, error, "phone", phone=phone)
    return _page(request, "code", phone=phone, masked=sent["sent_to"],
                 minutes=int(CODE_LIFETIME.total_seconds() // 60))


@router.post("/me/history")
def own_history(request: Request, viewer: Viewer, connection: WriteConn, ledger: LedgerDep,
                phone: Annotated[str, Form(max_length=40)] = "", code: Annotated[str, Form(max_length=12)] = ""):
    code = code.strip()
    try:
        history = ledger.own_history(connection, phone, code, client=client_address(request))
    except (InvalidInput, RateLimited, Unavailable) as error:
        stage = "phone" if getattr(error, "field", None) == "phone" else "code"
        return _refusal(request, error, stage, phone=phone, masked="", minutes=0)
    if isinstance(history, Refused):  # answered, not raised: the spent try is committed
        return _page(request, "phone", status=403, problem="me.refused", phone=phone)
    return _page(request, "history", history=history, checks=[_check(item) for item in history["items"]])


def _check(item: dict[str, Any]) -> dict[str, int] | None:
    """A delivery's home safety check counted: how many items passed and failed (n/a left out)."""
    check = item.get("safety_check")
    results = check.get("items") if isinstance(check, dict) else None
    if not isinstance(results, dict):
        return None
    values = list(results.values())
    return {"ok": values.count("ok"), "fail": values.count("fail")}
