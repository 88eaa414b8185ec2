"""Cylinder labels: the signed QR URL with the printed trace code under it.

A label is 25 mm wide: the QR symbol with its 4-module quiet zone fills the
width, the grouped code (``XXXX-XXXX-XXX``) is printed under it in bold
monospace so a driver can type it when the QR is damaged, and an optional
caption (e.g. the owner's name) follows. Symbols use error-correction level H;
docs/labels.md gives the evidence for that choice.

Every function checks that the URL encodes the same code that is printed, so a
label can never say one thing in its QR and another in its text.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import BinaryIO, Iterable
from xml.sax.saxutils import escape

from PIL import Image, ImageDraw, ImageFont

from ledger import tracecode
from ledger.errors import InvalidInput

from . import sheet
from .fonts import cjk_font
from .payload import parse_scan
from .qr import ERROR_CORRECTION, QUIET_ZONE, dark_runs, qr_modules

__all__ = ["ERROR_CORRECTION", "LABEL_WIDTH_MM", "label_svg", "label_png", "label_sheet_pdf"]

LABEL_WIDTH_MM = 25.0
_CODE_FONTS = ("DejaVuSansMono-Bold.ttf", "LiberationMono-Bold.ttf", "Courier_New_Bold.ttf")
# After the CJK font ``scanners.fonts`` finds, the first of these that has every glyph of the caption.
_CAPTION_FONTS = (
    "NotoSansCJK-Regular.ttc",
    "NotoSansSC-Regular.otf",
    "wqy-microhei.ttc",
    "wqy-zenhei.ttc",
    "DejaVuSans.ttf",
    "LiberationSans-Regular.ttf",
)
_MAX_CAPTION = 40


def _checked_text(url: str, code: str, caption: str | None) -> tuple[str, str]:
    """The printed code and a single-line caption, once the URL is known to encode ``code``."""
    canonical = tracecode.normalize(code)
    if parse_scan(url).code != canonical:
        raise InvalidInput("the label URL encodes another code than the one to be printed", field="url")
    line = " ".join((caption or "").split())
    if len(line) > _MAX_CAPTION:
        line = line[: _MAX_CAPTION - 1] + "…"
    return tracecode.printed(canonical), line


def label_svg(url: str, code: str, caption: str | None = None, *, error_correction: str = ERROR_CORRECTION) -> str:
    """A standalone SVG label, sized in millimetres (25 mm wide)."""
    printed, line = _checked_text(url, code, caption)
    modules = qr_modules(url, error_correction)
    size = len(modules) + 2 * QUIET_ZONE
    unit = LABEL_WIDTH_MM / size
    height = LABEL_WIDTH_MM + (7.5 if line else 4.5)
    path = "".join(
        f"M{x + QUIET_ZONE},{y + QUIET_ZONE}h{length}v1h-{length}z" for y, x, length in dark_runs(modules)
    )
    caption_svg = (
        f'<text x="{LABEL_WIDTH_MM / 2:g}" y="{LABEL_WIDTH_MM + 6.6:g}" font-family="sans-serif" '
        f'font-size="2.2" text-anchor="middle">{escape(line)}</text>'
        if line
        else ""
    )
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{LABEL_WIDTH_MM:g}mm" height="{height:g}mm" '
        f'viewBox="0 0 {LABEL_WIDTH_MM:g} {height:g}">'
        f'<rect width="100%" height="100%" fill="#fff"/>'
        f'<path transform="scale({unit:.6f})" fill="#000" shape-rendering="crispEdges" d="{path}"/>'
        f'<text x="{LABEL_WIDTH_MM / 2:g}" y="{LABEL_WIDTH_MM + 3.4:g}" font-family="DejaVu Sans Mono, monospace" '
        f'font-weight="bold" font-size="2.8" text-anchor="middle">{printed}</text>'
        f"{caption_svg}</svg>"
    )


def label_png(
    url: str, code: str, caption: str | None = None, dpi: int = 300, *, error_correction: str = ERROR_CORRECTION
) -> bytes:
    """A PNG label 25 mm wide at ``dpi`` (150-1200), whole pixels per module for a sharp print."""
    if not 150 <= dpi <= 1200:
        raise InvalidInput("dpi must be between 150 and 1200", field="dpi")
    printed, line = _checked_text(url, code, caption)
    modules = qr_modules(url, error_correction)
    width = round(LABEL_WIDTH_MM / 25.4 * dpi)
    pixel = width // (len(modules) + 2 * QUIET_ZONE)
    if pixel < 2:
        raise InvalidInput(f"{dpi} dpi is too coarse for this label's QR code", field="dpi")
    offset = (width - pixel * len(modules)) // 2
    mm = dpi / 25.4
    height = width + round((7.5 if line else 4.5) * mm)
    image = Image.new("L", (width, height), 255)
    draw = ImageDraw.Draw(image)
    for y, x, length in dark_runs(modules):
        left, top = offset + x * pixel, offset + y * pixel
        draw.rectangle((left, top, left + length * pixel - 1, top + pixel - 1), fill=0)
    code_font = _font(_CODE_FONTS, printed, round(2.8 * mm))
    draw.text((width / 2, width + 3.4 * mm), printed, font=code_font, fill=0, anchor="ms")
    caption_font = None
    if line:
        found = cjk_font()
        caption_font = _font(_CAPTION_FONTS, line, round(2.2 * mm), (found.path, found.index) if found else None)
    # Without a font that has every glyph the caption is left out rather than printed as boxes.
    if caption_font is not None:
        draw.text((width / 2, width + 6.6 * mm), line, font=caption_font, fill=0, anchor="ms")
    out = io.BytesIO()
    image.save(out, format="PNG", dpi=(dpi, dpi), optimize=True)
    return out.getvalue()


def label_sheet_pdf(items: Iterable[tuple[str, ...]], path_or_file: str | Path | BinaryIO, *,
                    hotline: str = "") -> int:
    """Writes an A4 PDF sheet of labels for ``(url, code, caption[, details])`` items; returns the page count.

    Labels fill a grid of ``sheet.COLUMNS`` x ``sheet.ROWS`` per page in the
    order given; every QR is vector-drawn at 25 mm with the code under it, then the caption
    (the owner), ``details`` (the stamp serial and model) and "扫码查验" with ``hotline``.
    """
    labels = []
    for url, code, caption, *rest in items:
        printed, line = _checked_text(url, code, caption)
        details = " ".join((rest[0] if rest and rest[0] else "").split())[:_MAX_CAPTION]
        labels.append((qr_modules(url), printed, line, details))
    if not labels:
        raise InvalidInput("there are no labels to print")
    return sheet.write(labels, path_or_file, " ".join(hotline.split())[:32])


def _font(names: tuple[str, ...], text: str, size: int,
          first: tuple[str, int] | None = None) -> ImageFont.FreeTypeFont | None:
    """The first installed font that draws every character of ``text``: ``first`` (file, face), then ``names``."""
    for name, index in (*((first,) if first else ()), *((n, 0) for n in names)):
        try:
            font = ImageFont.truetype(name, size, index=index)
        except OSError:
            continue
        if _draws_all(font, text):
            return font
    fallback = ImageFont.load_default(size)
    return fallback if isinstance(fallback, ImageFont.FreeTypeFont) and _draws_all(fallback, text) else None


def _draws_all(font: ImageFont.FreeTypeFont, text: str) -> bool:
    # A missing glyph renders as the font's "notdef" box, the same as a surely-unassigned code point.
    missing = _glyph(font, "\U0010fffd")
    return all(char == " " or _glyph(font, char) != missing for char in set(text))


def _glyph(font: ImageFont.FreeTypeFont, char: str) -> bytes:
    box = Image.new("L", (int(font.size) * 2, int(font.size) * 2), 0)
    ImageDraw.Draw(box).text((0, 0), char, font=font, fill=255)
    return box.tobytes()
