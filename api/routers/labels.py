"""Printable labels: the signed QR URL with the printed trace code under it, and the key that checks them."""

from typing import Annotated

from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from fastapi import APIRouter, Path, Query, Response
from fastapi.responses import PlainTextResponse
from starlette.requests import Request

from ledger.baseurl import mismatch
from ledger.errors import Conflict
from ledger.service import Actor, Ledger
from ledger.storage import Connection
from scanners.labels import label_png, label_svg

from ..body import JSONRoute
from .. import permissions
from ..deps import Allowed, LedgerDep, ReadConn
from ..errors import problem_responses
from ..views import cylinder_code, label_links

router = APIRouter(route_class=JSONRoute, tags=["labels"])
CylinderId = Annotated[str, Path(min_length=1, max_length=64, description="the trace code, in any spelling")]
PRIVATE = problem_responses(401, 403, 404, 409, 422)


def _label(request: Request, connection: Connection, ledger: Ledger, actor: Actor, cylinder_id: str,
           ) -> tuple[str, str, str]:
    wrong = mismatch(ledger.settings.base_url, request.url.hostname, request.url.port, request.url.scheme)
    if wrong:  # a label printed now would send phones to a loopback address (ledger.baseurl)
        raise Conflict(wrong)
    cylinder = ledger.cylinder(connection, cylinder_code(cylinder_id))
    parent = ledger.party(connection, actor.party).parent if actor.party else None
    permissions.check_owner(actor, "labels.render", cylinder.owner, parent)
    code = cylinder.id
    return label_links(ledger, code)["qr_payload"], code, ledger.party(connection, cylinder.owner).name


@router.get("/v1/cylinders/{cylinder_id}/label.svg", response_class=Response, responses={
    200: {"content": {"image/svg+xml": {"schema": {"type": "string"}}}}, **PRIVATE})
def get_label_svg(request: Request, cylinder_id: CylinderId, actor: Allowed("labels.render"), connection: ReadConn,
                  ledger: LedgerDep):
    """The label as SVG, 25 mm wide, captioned with the owner's name (admin, or the owning company).

    409 while LEDGER_BASE_URL is left at its default and the server is reached at another address."""
    svg = label_svg(*_label(request, connection, ledger, actor, cylinder_id))
    return Response(svg, media_type="image/svg+xml")


@router.get("/v1/cylinders/{cylinder_id}/label.png", response_class=Response, responses={
    200: {"content": {"image/png": {"schema": {"type": "string", "format": "binary"}}}}, **PRIVATE})
def get_label_png(
    request: Request, cylinder_id: CylinderId, actor: Allowed("labels.render"), connection: ReadConn,
    ledger: LedgerDep, dpi: Annotated[int, Query(ge=150, le=1200)] = 300,
):
    """The label as PNG at `dpi` (admin, or the owning company)."""
    png = label_png(*_label(request, connection, ledger, actor, cylinder_id), dpi=dpi)
    return Response(png, media_type="image/png")


@router.get("/v1/labels/public-key", response_class=PlainTextResponse, responses={
    200: {"content": {"text/plain": {"schema": {"type": "string"}}}}})
def get_label_public_key(ledger: LedgerDep):
    """The Ed25519 key that checks label signatures, as PEM (SubjectPublicKeyInfo). Public."""
    pem = ledger.label_key.public_key().public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo)
    return PlainTextResponse(pem.decode("ascii"))
