"""Photos kept beside the chain: a case's handling (``ledger.cases``) and a delivery's safety check
(``ledger.safety``). Each is checked and made safe to keep the same way here; the chain or the case's
history names it only by the SHA-256 of the bytes stored.
"""

from __future__ import annotations

import hashlib
import io
from dataclasses import dataclass

from .errors import InvalidInput

__all__ = ["Photo", "photo", "MAX_PHOTO_BYTES", "MAX_PIXELS"]

MAX_PHOTO_BYTES = 5 * 1024 * 1024
MAX_PIXELS = 40_000_000  # a phone's photo is 12-50 Mpx; beyond this it is a decompression bomb, not evidence
_GPS_IFD = 0x8825  # EXIF tag GPSInfo (EXIF 2.32 §4.6.3)


@dataclass(frozen=True)
class Photo:
    media_type: str
    data: bytes
    sha256: str


_MAGIC = ((b"\xff\xd8\xff", "JPEG", "image/jpeg"), (b"\x89PNG\r\n\x1a\n", "PNG", "image/png"))


def photo(data: bytes, *, keep_gps: bool = False) -> Photo:
    """Check one photo and make what is stored: JPEG or PNG by its first bytes, at most
    ``MAX_PHOTO_BYTES``, a whole image; EXIF GPS removed unless ``keep_gps`` (a phone stamps where it
    stood, which may be someone's home)."""
    if len(data) > MAX_PHOTO_BYTES:
        raise InvalidInput(f"a photo may be at most {MAX_PHOTO_BYTES // (1024 * 1024)} MB", field="photos")
    kind = next(((fmt, media) for magic, fmt, media in _MAGIC if data.startswith(magic)), None)
    if kind is None:
        raise InvalidInput("a photo must be a JPEG or PNG image", field="photos")
    from PIL import Image  # only a photo needs it

    fmt, media = kind
    try:
        with Image.open(io.BytesIO(data)) as image:
            if image.format != fmt or image.width * image.height > MAX_PIXELS:
                raise InvalidInput("a photo must be a whole JPEG or PNG image of at most 40 Mpx", field="photos")
            image.load()
            if not keep_gps:
                exif = image.getexif()
                exif.pop(_GPS_IFD, None)
                out = io.BytesIO()
                # re-encoded: only the EXIF kept is written, so no GPS rides along in XMP or text chunks either
                options = {"quality": 95} if fmt == "JPEG" else {}
                image.save(out, format=fmt, exif=exif.tobytes(), **options)
                data = out.getvalue()
    except InvalidInput:
        raise
    except Exception as error:  # noqa: BLE001 - Pillow's many ways of saying "not an image"
        raise InvalidInput(f"a photo could not be read as {fmt}: {type(error).__name__}", field="photos") from None
    return Photo(media, data, hashlib.sha256(data).hexdigest())
