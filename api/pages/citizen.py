"""The citizen's pages (docs/citizens.md): report a problem (举报/反映问题) and follow it (反馈), no sign-in.

Both work without JavaScript: the report is a plain form (``multipart/form-data`` for its photos)
answered by a page with the tracking code, and the tracking page is a GET form. Neither shows
anyone's personal data: the tracking page shows what ``Ledger.report_tracking`` answers.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, File, Form, Query, UploadFile
from starlette.requests import Request

from ledger import cases as case_rules
from ledger import citizen, tracecode
from ledger.errors import InvalidInput, LedgerError, NotFound, RateLimited

from ..deps import LedgerDep, ReadConn, WriteConn
from ..errors import status_of
from ..routers.citizen import client_address
from .render import PageRoute, render
from .session import _same_origin

router = APIRouter(route_class=PageRoute)
# The fields whose refusal the form explains in the reader's language (``report.problem.<field>``).
PROBLEMS = frozenset({"category", "text", "contact", "cylinder", "photos"})


def _form(request: Request, ledger, *, cylinder: str = "", status: int = 200, problem: str | None = None,
          sent: dict[str, str] | None = None):
    shown = ""
    if cylinder:
        try:
            shown = tracecode.printed(cylinder)
        except tracecode.TraceCodeError:
            shown = cylinder[:64]
    return render(request, "report.html", status=status, problem=problem, cylinder=shown,
                  categories=list(citizen.CATEGORIES), sent=sent or {}, hotline=ledger.settings.hotline,
                  max_photos=case_rules.MAX_PHOTOS)


@router.get("/report")
def report_form(request: Request, ledger: LedgerDep, cylinder: Annotated[str, Query(max_length=64)] = ""):
    """The form the label page's "report a problem" opens, with the cylinder filled in."""
    return _form(request, ledger, cylinder=cylinder.strip())


@router.post("/report")
def report(request: Request, connection: WriteConn, ledger: LedgerDep,
           category: Annotated[str, Form(max_length=40)] = "", text: Annotated[str, Form(max_length=4000)] = "",
           cylinder: Annotated[str, Form(max_length=64)] = "", contact: Annotated[str, Form(max_length=400)] = "",
           photos: Annotated[list[UploadFile | str], File()] = []):  # noqa: B006 - a part without a file is text
    sent = {"category": category, "text": text, "contact": contact}
    if not _same_origin(request):  # a form posted from another site is not a citizen on this one
        return _form(request, ledger, cylinder=cylinder, status=403, problem="elsewhere", sent=sent)
    try:
        # a browser sends an empty file part when no photo was chosen
        chosen = [p.file.read(case_rules.MAX_PHOTO_BYTES + 1) for p in photos
                  if not isinstance(p, str) and p.filename][:case_rules.MAX_PHOTOS + 1]
        if any(len(data) > case_rules.MAX_PHOTO_BYTES for data in chosen):
            raise InvalidInput(f"a photo may be at most {case_rules.MAX_PHOTO_BYTES // (1024 * 1024)} MB",
                               field="photos")
        code = ledger.submit_report(connection, category=category, text=text.replace("\r\n", "\n"),
                                    cylinder=cylinder or None, contact=contact or None, photos=chosen,
                                    address=client_address(request), now=request.app.state.clock())
    except RateLimited:
        return _form(request, ledger, cylinder=cylinder, status=429, problem="too_many", sent=sent)
    except LedgerError as error:  # refused before anything is written: the form again, filled in, with why
        problem = error.field if error.field in PROBLEMS else "other"
        return _form(request, ledger, cylinder=cylinder, status=status_of(error), problem=problem, sent=sent)
    return render(request, "report_done.html", status=201, code=citizen.printed(code), compact=code,
                  hotline=ledger.settings.hotline)


@router.get("/track")
def track(request: Request, connection: ReadConn, ledger: LedgerDep,
          code: Annotated[str, Query(max_length=64)] = ""):
    """Enter a tracking code; see the case's progress and, once closed, its outcome (反馈)."""
    found, problem, status = None, None, 200
    if code.strip():
        try:
            found = ledger.report_tracking(connection, code)
        except InvalidInput:
            problem, status = "bad_code", 422
        except NotFound:
            problem, status = "not_found", 404
    return render(request, "track.html", status=status, found=found, problem=problem, typed=code[:64],
                  hotline=ledger.settings.hotline)
