"""The case loop's extras over HTTP (docs/cases.md): an inspector's inbox, handling with photos,
the photos themselves, and the webhooks' delivery log."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, File, Form, Path, Query, Request, UploadFile
from fastapi.responses import Response

from ledger import cases, webhooks
from ledger.domain import Role
from ledger.errors import InvalidInput, NotFound, PermissionDenied

from ..body import BodyRefused, JSONRoute
from ..deps import Allowed, LedgerDep, ReadConn, WriteConn
from ..errors import problem_responses
from ..schemas import Page
from ..schemas_oversight import DeliveryOut, FindingOut

__all__ = ["router", "uploads"]

router = APIRouter(route_class=JSONRoute, responses=problem_responses(401, 403, 404, 422))
# multipart: not a JSONRoute, and not behind the API's JSON-only check (``api.routers.include``)
def form_body(request: Request) -> None:
    """A handling comes as a form (``multipart/form-data``, or urlencoded without photos); anything else is 415."""
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind not in ("multipart/form-data", "application/x-www-form-urlencoded"):
        raise BodyRefused(415, "unsupported-media-type",
                          "send the handling as multipart/form-data: a note and up to 3 JPEG/PNG photos")


uploads = APIRouter(responses=problem_responses(400, 401, 403, 404, 409, 413, 415, 422),
                    dependencies=[Depends(form_body)])
FindingId = Annotated[int, Path(ge=1, le=2**31 - 1)]
PHOTO_VIEWERS = frozenset({Role.REGULATOR, Role.INSPECTOR})


@router.get("/v1/me/cases", response_model=list[FindingOut], tags=["findings"])
def my_cases(actor: Allowed("findings.act"), connection: ReadConn, ledger: LedgerDep):
    """An inspector's inbox: the cases dispatched to this account, dispatched or handled, nearest deadline first."""
    return ledger.my_cases(connection, actor)


async def _read(photo: UploadFile) -> bytes:
    data = await photo.read(cases.MAX_PHOTO_BYTES + 1)  # one byte more than allowed tells "too large"
    if len(data) > cases.MAX_PHOTO_BYTES:
        raise InvalidInput(f"a photo may be at most {cases.MAX_PHOTO_BYTES // (1024 * 1024)} MB", field="photos")
    return data


async def photo_bytes(photos: Annotated[list[UploadFile], File()] = []) -> list[bytes]:  # noqa: B006
    if len(photos) > cases.MAX_PHOTOS:
        raise InvalidInput(f"at most {cases.MAX_PHOTOS} photos a handling", field="photos")
    return [await _read(photo) for photo in photos if photo.filename or photo.size]


@uploads.post("/v1/findings/{finding_id}/handle", response_model=FindingOut, tags=["findings"])
def handle(finding_id: FindingId, actor: Allowed("findings.act"), connection: WriteConn, ledger: LedgerDep,
           note: Annotated[str, Form(max_length=2000)], photos: Annotated[list[bytes], Depends(photo_bytes)]):
    """The `handle` step with its result in `note` and up to 3 JPEG/PNG `photos` (multipart/form-data)."""
    return ledger.finding_action(connection, actor, finding_id, action="handle", note=note, photos=photos)


@router.get("/v1/findings/{finding_id}/photos/{sha256}", tags=["findings"],
            responses={200: {"content": {"image/jpeg": {}, "image/png": {}}}})
def photo(finding_id: FindingId, sha256: Annotated[str, Path(pattern=r"^[0-9a-f]{64}$")],
          actor: Allowed("findings.act"), connection: ReadConn, ledger: LedgerDep):
    """A photo of a case's handling, by the SHA-256 its history step names (regulator and inspector accounts)."""
    if actor.role not in PHOTO_VIEWERS:
        raise PermissionDenied("only regulators and inspectors see the photos of a case")
    found = ledger.case_photo(connection, finding_id, sha256)
    if found is None:
        raise NotFound(f"no photo {sha256} of finding {finding_id}")
    return Response(found.data, media_type=found.media_type,
                    headers={"Cache-Control": "private, max-age=3600", "X-Content-Type-Options": "nosniff"})


@router.get("/v1/webhooks/deliveries", response_model=Page[DeliveryOut], tags=["operations"])
def deliveries(actor: Allowed("parties.create"), connection: ReadConn, ledger: LedgerDep,
               limit: Annotated[int, Query(ge=1, le=1000)] = 100,
               cursor: Annotated[str | None, Query(max_length=200)] = None):
    """Every attempt to deliver a webhook, newest first (admin)."""
    if actor.role is not Role.ADMIN:
        raise PermissionDenied("the webhooks' delivery log is an admin's")
    return webhooks.deliveries(ledger, connection, cursor, limit)
