"""Citizens' reports over HTTP (docs/citizens.md): sent and tracked without signing in; read by those handling the case.

``POST /v1/reports`` takes JSON (``{cylinder?, category, text, contact?}``) or, to bring up to three
photos, ``multipart/form-data`` with the same fields and ``photos`` files; it is neither a
``JSONRoute`` nor behind the API's JSON-only check, and reads its body itself (``report_body``).
"""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Request
from pydantic import Field
from starlette.datastructures import UploadFile

from ledger import cases, citizen
from ledger.errors import InvalidInput

from ..body import BodyRefused, JSONRoute, strict_json
from ..deps import Allowed, LedgerDep, ReadConn, WriteConn, request_checks
from ..errors import problem_responses
from ..schemas import Answer

__all__ = ["router", "submissions"]

_FIELDS = frozenset({"cylinder", "category", "text", "contact"})


class TrackingCode(Answer):
    tracking_code: str = Field(description="16 letters and digits, the last a check symbol; keep it to follow the "
                                           "report at GET /v1/reports/{tracking_code} or on /track")


class TrackingStep(Answer):
    status: str = Field(description="received, dispatched, handled, supervised, reopened or closed")
    at: str
    note: str | None = Field(description="what the step means; for `closed`, the regulator's reply (反馈)")


class Tracking(Answer):
    status: str = Field(description="received, dispatched, handled or closed")
    category: str
    received_at: str
    history: list[TrackingStep]
    outcome: str | None = Field(description="the regulator's reply once the case is closed (反馈); else null")


class CategoryOut(Answer):
    code: str
    name: str = Field(description="the category's name in Chinese, as the report form shows it")
    name_en: str
    severity: str


class CaseReport(Answer):
    id: str = Field(description="`CR<n>`; `ledger erase CR<n>` erases its text, contact and photos")
    category: str
    cylinder: str | None
    text: str | None = Field(description="null once erased")
    contact: str | None = Field(description="null when none was given, or once erased")
    photos: list[str] = Field(description="SHA-256 of each photo: GET /v1/findings/{id}/photos/{sha256}")
    text_sha256: str = Field(description="the salted commitment the case's evidence holds (ledger.notes)")
    folded: bool
    created_at: str
    erased_at: str | None


async def _photo(upload: UploadFile) -> bytes:
    data = await upload.read(cases.MAX_PHOTO_BYTES + 1)  # one byte more than allowed tells "too large"
    if len(data) > cases.MAX_PHOTO_BYTES:
        raise InvalidInput(f"a photo may be at most {cases.MAX_PHOTO_BYTES // (1024 * 1024)} MB", field="photos")
    return data


async def report_body(request: Request) -> dict[str, Any]:
    """The report's fields from JSON or from a form; photos (form only) as bytes."""
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind == "application/json":
        try:
            body = strict_json(await request.body(), request.headers.get("content-type"))
        except json.JSONDecodeError:
            raise BodyRefused(400, "malformed-json", "the request body is not valid JSON") from None
        if not isinstance(body, dict):
            raise InvalidInput("send the report as a JSON object", field="body")
        unknown = sorted(set(body) - _FIELDS)
        if unknown:
            raise InvalidInput(f"a report has no field {unknown[0]!r}; it takes {', '.join(sorted(_FIELDS))}",
                               field=unknown[0])
        return {**body, "photos": []}
    if kind in ("multipart/form-data", "application/x-www-form-urlencoded"):
        form = await request.form(max_files=cases.MAX_PHOTOS + 1, max_fields=len(_FIELDS) + 1)
        fields: dict[str, Any] = {}
        for name, value in form.multi_items():
            if name == "photos":
                continue
            if name not in _FIELDS or isinstance(value, UploadFile) or name in fields:
                raise InvalidInput(f"a report takes each of {', '.join(sorted(_FIELDS))} once, and photos",
                                   field=name)
            fields[name] = value.replace("\r\n", "\n")
        uploads = [item for item in form.getlist("photos") if isinstance(item, UploadFile) and (item.filename or item.size)]
        if len(uploads) > cases.MAX_PHOTOS:
            raise InvalidInput(f"at most {cases.MAX_PHOTOS} photos a report", field="photos")
        return {**fields, "photos": [await _photo(item) for item in uploads]}
    raise BodyRefused(415, "unsupported-media-type", "send the report as application/json, or as "
                                                     "multipart/form-data with up to 3 JPEG/PNG photos")


def client_address(request: Request) -> str:
    """The address the rate limits count: the peer's, as uvicorn gives it (behind a proxy, ``--proxy-headers``
    with ``--forwarded-allow-ips`` naming the proxy makes it the citizen's; docs/citizens.md)."""
    return request.client.host if request.client else "unknown"


submissions = APIRouter(responses=problem_responses(400, 413, 415, 422, 429))
router = APIRouter(route_class=JSONRoute, responses=problem_responses(404, 422))
FindingId = Annotated[int, Path(ge=1, le=2**31 - 1)]


@submissions.post("/v1/reports", status_code=201, response_model=TrackingCode, tags=["citizens"],
                  openapi_extra={"requestBody": {"content": {
                      "application/json": {"schema": {"type": "object", "required": ["category", "text"],
                                                      "properties": {"cylinder": {"type": "string"},
                                                                     "category": {"type": "string"},
                                                                     "text": {"type": "string", "maxLength": 2000},
                                                                     "contact": {"type": "string",
                                                                                 "maxLength": 200}}}},
                      "multipart/form-data": {"schema": {"type": "object", "properties": {
                          "photos": {"type": "array", "maxItems": 3,
                                     "items": {"type": "string", "format": "binary"}}}}}}}})
def submit(request: Request, body: Annotated[dict[str, Any], Depends(report_body)], connection: WriteConn,
           ledger: LedgerDep):
    """A citizen's report, without signing in: it becomes a `citizen_report` case (or is folded into an open one
    about the same cylinder and category). 429 past the rate limits, with `Retry-After`."""
    code = ledger.submit_report(connection, category=body.get("category"), text=body.get("text"),
                                cylinder=body.get("cylinder"), contact=body.get("contact"),
                                photos=body["photos"], address=client_address(request),
                                now=request.app.state.clock())
    return {"tracking_code": code}


@router.get("/v1/reports/categories", response_model=list[CategoryOut], tags=["citizens"])
def categories():
    """What a citizen may report, with the severity each case gets."""
    return [{"code": c.code, "name": c.zh, "name_en": c.en, "severity": c.severity}
            for c in citizen.CATEGORIES.values()]


@router.get("/v1/reports/{tracking_code}", response_model=Tracking, tags=["citizens"])
def track(tracking_code: Annotated[str, Path(max_length=40)], connection: ReadConn, ledger: LedgerDep):
    """A report's progress and outcome (反馈), without signing in; never anyone's name or contact."""
    return ledger.report_tracking(connection, tracking_code)


@router.get("/v1/findings/{finding_id}/reports", response_model=list[CaseReport], tags=["findings"],
            responses=problem_responses(401, 403))
def case_reports(finding_id: FindingId, actor: Allowed("findings.act"), connection: ReadConn, ledger: LedgerDep):
    """The citizens' reports of a case, with text and contact: regulators, and the inspector it is dispatched to."""
    return ledger.case_reports(connection, actor, finding_id)


def include(app) -> None:
    app.include_router(router, dependencies=[Depends(request_checks)])
    app.include_router(submissions)
