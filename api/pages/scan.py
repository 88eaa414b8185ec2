"""Camera frames read on the server, for browsers without a QR reader of their own.

``POST /scan/decode`` takes one camera frame (the JPEG or PNG bytes as the
body) and answers ``{"texts": [...]}``, the QR codes zxing-cpp finds in it
(``scanners.decode``), possibly none. It works on every phone, since all the
browser does is capture a frame; it needs a network, so offline drivers type
the printed code (docs/pages.md). Signed in, with the session's CSRF token in
``X-CSRF-Token``, so the endpoint serves the pages and nobody else.
"""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from starlette.requests import Request

from scanners.errors import UnreadableImage

from .render import PageRoute
from .session import AnyAccount, check_form

router = APIRouter(route_class=PageRoute)

# A phone frame scaled to 1280 pixels is ~100-300 kB as JPEG; the app refuses bodies over 2 MB anyway.
MAX_FRAME_BYTES = 2 * 1024 * 1024
IMAGES = ("image/jpeg", "image/png", "image/webp")


def _problem(status: int, detail: str) -> JSONResponse:
    return JSONResponse({"status": status, "detail": detail}, status_code=status)


@router.post("/scan/decode")
async def decode_frame(request: Request, session: AnyAccount):
    check_form(request, session, request.headers.get("x-csrf-token"))
    media = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if media not in IMAGES:
        return _problem(415, "send one camera frame as image/jpeg, image/png or image/webp")
    frame = await request.body()
    if len(frame) > MAX_FRAME_BYTES:
        return _problem(413, "the frame is larger than 2 MB")
    from scanners.decode import decode_qr  # imaging libraries load only when a frame comes

    try:
        texts = await run_in_threadpool(decode_qr, frame)
    except UnreadableImage as error:
        return _problem(422, error.message)
    return JSONResponse({"texts": texts}, headers={"Cache-Control": "no-store"})
