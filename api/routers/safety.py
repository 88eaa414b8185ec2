"""The home safety check at delivery over HTTP (docs/api.md "Home safety check"): the city's items,
photos beside the chain, and the rectification notice of an unsafe installation."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, File, Path, Query, UploadFile
from fastapi.responses import PlainTextResponse, Response
from pydantic import BaseModel

from ledger.errors import InvalidInput, PermissionDenied

from .. import permissions
from ..body import JSONRoute
from ..deps import Allowed, LedgerDep, ReadConn, WriteConn
from ..errors import problem_responses
from .cases import FindingId, _read, form_body

__all__ = ["router", "uploads"]

router = APIRouter(route_class=JSONRoute, responses=problem_responses(401, 403, 404, 422))
# multipart: not a JSONRoute, and not behind the API's JSON-only check (``api.routers.include``)
uploads = APIRouter(responses=problem_responses(400, 401, 403, 413, 415, 422), dependencies=[Depends(form_body)])
Sha256 = Annotated[str, Path(pattern=r"^[0-9a-f]{64}$")]


class SafetyItemOut(BaseModel):
    code: str
    name_zh: str
    name_en: str
    severity: Literal["critical", "high", "medium", "low"]
    source: str


class PhotoOut(BaseModel):
    sha256: str
    media_type: str
    bytes: int


@router.get("/v1/safety-check/items", response_model=list[SafetyItemOut], tags=["safety check"])
def safety_items(actor: Allowed("safety.read"), ledger: LedgerDep):
    """The city's home safety check (入户安检) items: what a deliver event's `data.safety_check.items` may name."""
    return ledger.safety_items()


@uploads.post("/v1/photos", response_model=PhotoOut, status_code=201, tags=["safety check"])
async def upload_photo(actor: Allowed("photos.upload"), connection: WriteConn, ledger: LedgerDep,
                       photo: Annotated[UploadFile, File()]):
    """One photo of a safety check (multipart/form-data field `photo`, JPEG or PNG, at most 5 MB), kept beside
    the chain with its EXIF GPS removed; name the answered `sha256` in the deliver event's
    `data.safety_check.photos`. Uploading the same photo again answers the same digest."""
    data = await _read(photo)
    if not data:
        raise InvalidInput("send the photo in the multipart field `photo`", field="photo")
    return ledger.upload_photo(connection, actor, data)


@router.get("/v1/photos/{sha256}", tags=["safety check"],
            responses={200: {"content": {"image/jpeg": {}, "image/png": {}}}})
def photo(sha256: Sha256, actor: Allowed("photos.read"), connection: ReadConn, ledger: LedgerDep):
    """A safety check's photo: the uploading party's accounts, regulators, inspectors and admins."""
    found = ledger.delivery_photo(connection, actor, sha256)
    return Response(found.data, media_type=found.media_type,
                    headers={"Cache-Control": "private, max-age=3600", "X-Content-Type-Options": "nosniff"})


@router.get("/v1/findings/{finding_id}/notice", response_class=PlainTextResponse, tags=["safety check"],
            responses={200: {"content": {"text/plain": {}}}})
def notice(finding_id: FindingId, actor: Allowed("findings.read"), connection: ReadConn, ledger: LedgerDep,
           lang: Annotated[Literal["zh", "en"], Query()] = "zh"):
    """The printable rectification notice (整改通知书) of an `unsafe_installation` finding, for the end user:
    the failed items, what to do, that the next delivery re-checks them. No personal data."""
    finding = ledger.finding(connection, finding_id)
    if permissions.findings_of(actor, None) not in (None, finding["party"]):
        raise PermissionDenied("this finding is about another party")
    return PlainTextResponse(ledger.rectification_notice(connection, finding, lang),
                             headers={"Cache-Control": "private, no-store"})
