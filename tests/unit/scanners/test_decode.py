"""Reading QR codes from photos: real labels in noisy frames, and every unusable input refused."""

from __future__ import annotations

import io
import random
import struct
import zlib

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from PIL import Image, ImageFilter

from ledger import tracecode
from ledger.errors import InvalidInput
from scanners.decode import MAX_PIXELS, decode_qr
from scanners.errors import EmptyImage, ImageTooLarge, NotAnImage
from scanners.labels import label_png
from scanners.payload import label_url, parse_scan

KEY = Ed25519PrivateKey.from_private_bytes(bytes(32))
CODES = ["CYL000000" + str(n) for n in range(2)]
CODES = [body + tracecode.check_character(body) for body in CODES]
URLS = [label_url("https://gas.example.cn", code, KEY) for code in CODES]


def label(index: int) -> Image.Image:
    return Image.open(io.BytesIO(label_png(URLS[index], CODES[index], "Hangzhou Gas"))).convert("RGB")


def camera_frame(*labels: Image.Image, angle: float = 7.0) -> bytes:
    """A 1280x960 JPEG of labels on a grey, noisy background, slightly turned and blurred."""
    rng = random.Random(3)
    frame = Image.effect_noise((1280, 960), 30).convert("RGB")
    frame = Image.blend(frame, Image.new("RGB", frame.size, (150, 140, 130)), 0.6)
    for slot, picture in enumerate(labels):
        turned = picture.resize((picture.width * 8 // 5, picture.height * 8 // 5)).rotate(
            angle, expand=True, fillcolor=(255, 255, 255)
        )
        frame.paste(turned, (80 + slot * 620 + rng.randrange(20), 120 + rng.randrange(20)))
    frame = frame.filter(ImageFilter.GaussianBlur(1.2))
    out = io.BytesIO()
    frame.save(out, format="JPEG", quality=70)
    return out.getvalue()


def test_a_png_label_decodes():
    out = io.BytesIO()
    label(0).save(out, format="PNG")
    assert decode_qr(out.getvalue()) == [URLS[0]]


def test_a_camera_frame_with_two_labels_gives_both_and_they_parse():
    texts = decode_qr(camera_frame(label(0), label(1)))
    assert sorted(texts) == sorted(URLS)
    assert sorted(parse_scan(text, KEY.public_key()).code for text in texts) == sorted(CODES)


def test_a_pillow_image_is_accepted_and_repeats_are_dropped():
    frame = Image.new("RGB", (800, 400), "white")
    frame.paste(label(0), (20, 10))
    frame.paste(label(0), (420, 10))
    assert decode_qr(frame) == [URLS[0]]


def test_a_frame_without_a_code_gives_nothing():
    blank = io.BytesIO()
    Image.new("L", (640, 480), 200).save(blank, format="JPEG")
    assert decode_qr(blank.getvalue()) == []


def test_bytes_that_are_no_image_are_refused():
    with pytest.raises(NotAnImage, match="not a photo"):
        decode_qr(b"%PDF-1.4 this is a document")
    with pytest.raises(NotAnImage):
        decode_qr("a string")  # type: ignore[arg-type]


def test_a_damaged_photo_is_refused():
    out = io.BytesIO()
    label(0).save(out, format="PNG")
    with pytest.raises(NotAnImage, match="damaged"):
        decode_qr(out.getvalue()[: len(out.getvalue()) // 2])


def test_empty_input_is_refused():
    with pytest.raises(EmptyImage, match="0 bytes"):
        decode_qr(b"")
    with pytest.raises(EmptyImage, match="0 pixels"):
        decode_qr(Image.new("L", (0, 0)))


def _png_header_only(width: int, height: int) -> bytes:
    """A PNG that claims a size but holds almost no data: a cheap decompression bomb."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b"")


@pytest.mark.parametrize("size", [(8000, 6000), (100_000, 100_000)])
def test_a_huge_image_is_refused_before_decoding(size):
    assert size[0] * size[1] > MAX_PIXELS
    with pytest.raises(ImageTooLarge, match="megapixels"):
        decode_qr(_png_header_only(*size))


def test_every_refusal_is_invalid_input():
    for error in (NotAnImage, EmptyImage, ImageTooLarge):
        assert issubclass(error, InvalidInput)
