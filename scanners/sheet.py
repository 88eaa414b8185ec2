"""A4 label sheets as PDF: a grid of 25 mm labels with light cut lines.

Callers go through ``scanners.labels.label_sheet_pdf``, which checks every
label first; this module only lays out and draws. Under each QR: the printed code, the owner,
the stamp serial (钢印号) and model, and "扫码查验" with the operator's hotline; a Chinese
footer on every page. Chinese is set in the TrueType CJK font ``scanners.fonts`` finds
(``LEDGER_LABEL_FONT`` first), embedded as a subset; without one, in Adobe's STSong-Light, which every
PDF reader supplies but which is not embedded.
"""

from __future__ import annotations

from pathlib import Path
from typing import BinaryIO

from reportlab.lib.pagesizes import A4
from reportlab.lib.units import mm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.cidfonts import UnicodeCIDFont
from reportlab.pdfgen.canvas import Canvas

from .fonts import pdf_font_name
from .qr import QUIET_ZONE, dark_runs

__all__ = ["COLUMNS", "ROWS", "LABELS_PER_PAGE", "write"]

COLUMNS = 4
ROWS = 7
LABELS_PER_PAGE = COLUMNS * ROWS
MARGIN = 10 * mm
LABEL_WIDTH = 25 * mm
# Adobe's CID font for Simplified Chinese ships with every PDF reader: the fallback needs no font file.
_CHINESE_FONT = "STSong-Light"

Label = tuple[list[list[bool]], str, str, str]  # modules, printed code, caption, stamp serial and model


def write(labels: list[Label], path_or_file: str | Path | BinaryIO, hotline: str = "") -> int:
    """Draws ``labels`` in order, ``LABELS_PER_PAGE`` per page; returns the page count."""
    target = str(path_or_file) if isinstance(path_or_file, Path) else path_or_file
    canvas = Canvas(target, pagesize=A4, pageCompression=1)
    canvas.setTitle("Cylinder labels")
    canvas.setCreator("cylinder-ledger")
    pages = (len(labels) + LABELS_PER_PAGE - 1) // LABELS_PER_PAGE
    for page in range(pages):
        batch = labels[page * LABELS_PER_PAGE : (page + 1) * LABELS_PER_PAGE]
        for slot, label in enumerate(batch):
            _draw_label(canvas, slot, *label, hotline=hotline)
        canvas.setFillGray(0.4)
        footer = "气瓶一码通 · 手机扫码查验气瓶真伪、检验日期与流转记录" + (f" · 服务电话 {hotline}" if hotline else "")
        canvas.setFont(_chinese_font(), 7)
        canvas.drawString(MARGIN, MARGIN / 2, footer)
        canvas.drawRightString(A4[0] - MARGIN, MARGIN / 2, f"第 {page + 1} / {pages} 页")
        canvas.showPage()
    canvas.save()
    return pages


def _cell(slot: int) -> tuple[float, float, float, float]:
    """Left, top, width, height of grid slot ``slot`` (row-major from the top left)."""
    width = (A4[0] - 2 * MARGIN) / COLUMNS
    height = (A4[1] - 2 * MARGIN) / ROWS
    row, column = divmod(slot, COLUMNS)
    return MARGIN + column * width, A4[1] - MARGIN - row * height, width, height


def _draw_label(canvas: Canvas, slot: int, modules: list[list[bool]], printed: str, caption: str, details: str,
                *, hotline: str = "") -> None:
    left, top, width, height = _cell(slot)
    canvas.setStrokeGray(0.85)
    canvas.setLineWidth(0.3)
    canvas.rect(left, top - height, width, height, stroke=1, fill=0)
    unit = LABEL_WIDTH / (len(modules) + 2 * QUIET_ZONE)
    origin_x = left + (width - LABEL_WIDTH) / 2 + QUIET_ZONE * unit
    origin_y = top - 2 * mm - QUIET_ZONE * unit
    canvas.setFillGray(0)
    for y, x, length in dark_runs(modules):
        canvas.rect(origin_x + x * unit, origin_y - (y + 1) * unit, length * unit, unit, stroke=0, fill=1)
    centre = left + width / 2
    symbol_bottom = top - 2 * mm - LABEL_WIDTH
    canvas.setFont("Courier-Bold", 10)
    canvas.drawCentredString(centre, symbol_bottom - 3.2 * mm, printed)
    if caption:
        canvas.setFont(_caption_font(caption), 7)
        canvas.drawCentredString(centre, symbol_bottom - 5.9 * mm, caption)
    if details:
        canvas.setFont(_caption_font(details), 6)
        canvas.drawCentredString(centre, symbol_bottom - 8.4 * mm, details)
    canvas.setFont(_chinese_font(), 6)
    canvas.drawCentredString(centre, symbol_bottom - 10.8 * mm, "扫码查验" + (f" · 服务电话 {hotline}" if hotline else ""))


def _caption_font(caption: str) -> str:
    try:
        caption.encode("latin-1")
        return "Helvetica"
    except UnicodeEncodeError:
        return _chinese_font()


def _chinese_font() -> str:
    """The embedded TrueType CJK font if this machine has one, else the readers' STSong-Light."""
    embedded = pdf_font_name()
    if embedded is not None:
        return embedded
    if _CHINESE_FONT not in pdfmetrics.getRegisteredFontNames():
        pdfmetrics.registerFont(UnicodeCIDFont(_CHINESE_FONT))
    return _CHINESE_FONT
