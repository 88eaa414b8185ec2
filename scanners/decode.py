"""Reading label QR codes from a photo or a camera frame with zxing-cpp.

``decode_qr`` takes the encoded bytes of an image (PNG, JPEG, ... whatever
Pillow opens) or a Pillow image and returns the text of every QR code found,
in reading order and without repeats. A frame with no QR code gives an empty
list: a camera loop calls it on every frame. What cannot be used at all raises
an ``UnreadableImage`` subclass; the pixel cap is checked before decompressing,
so a hostile file is refused cheaply.
"""

from __future__ import annotations

import io
import warnings

import zxingcpp
from PIL import Image, ImageOps, UnidentifiedImageError

from .errors import EmptyImage, ImageTooLarge, NotAnImage

__all__ = ["MAX_PIXELS", "MAX_BYTES", "decode_qr"]

# 40 megapixels is above any phone camera's frame; more is a mistake or an attack.
MAX_PIXELS = 40_000_000
MAX_BYTES = 50 * 1024 * 1024


def decode_qr(image: bytes | bytearray | memoryview | Image.Image) -> list[str]:
    """The texts of the QR codes in ``image`` (possibly none)."""
    picture = _open(image) if not isinstance(image, Image.Image) else image
    width, height = picture.size
    if width == 0 or height == 0:
        raise EmptyImage("the photo is empty (0 pixels)")
    if width * height > MAX_PIXELS:
        raise ImageTooLarge(
            f"the photo has {width * height / 1e6:.0f} megapixels; at most {MAX_PIXELS // 1_000_000} are read."
            " Take it again at a lower resolution"
        )
    try:
        # Phones store the camera's rotation apart from the pixels; apply it first.
        gray = ImageOps.exif_transpose(picture).convert("L")
    except (OSError, ValueError, SyntaxError) as error:
        raise NotAnImage(f"the photo is damaged and cannot be read ({error})") from None
    found: list[str] = []
    for barcode in zxingcpp.read_barcodes(gray, formats=zxingcpp.BarcodeFormat.QRCode):
        if barcode.valid and barcode.text not in found:
            found.append(barcode.text)
    return found


def _open(data: bytes | bytearray | memoryview) -> Image.Image:
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise NotAnImage("expected the bytes of a photo or a Pillow image")
    if len(data) == 0:
        raise EmptyImage("the photo is empty (0 bytes)")
    if len(data) > MAX_BYTES:
        raise ImageTooLarge(f"the photo file is over {MAX_BYTES // (1024 * 1024)} MB")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            return Image.open(io.BytesIO(bytes(data)))
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise ImageTooLarge(f"the photo has more than {MAX_PIXELS // 1_000_000} megapixels") from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError):
        raise NotAnImage("this file is not a photo (PNG, JPEG, ...) or it is damaged") from None
