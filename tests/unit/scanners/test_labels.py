"""Labels render at print size, decode back, and survive a scratch that defeats lower levels."""

from __future__ import annotations

import io
import random
import re
import shutil
import subprocess
import xml.etree.ElementTree as ET

import pytest
import zxingcpp
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from PIL import Image, ImageDraw
from pypdf import PdfReader

from ledger import tracecode
from ledger.errors import InvalidInput
from scanners.labels import ERROR_CORRECTION, label_png, label_sheet_pdf, label_svg
from scanners.payload import label_url
from scanners.qr import QUIET_ZONE, qr_modules
from scanners.sheet import LABELS_PER_PAGE

BASE = "https://gas.hz.example.gov.cn"
# A fixed key: Ed25519 signatures are deterministic, so every run draws the same symbols.
LABEL_KEY = Ed25519PrivateKey.from_private_bytes(bytes(range(32)))
BODIES = ["CYL0000001", "HZGAS20260", "7K3Q9XZ2AB", "LPG15KG001", "ZJ33011000"]
CODES = [body + tracecode.check_character(body) for body in BODIES]
PRINT_WIDTH_PX = 295  # 25 mm at 300 dpi


def url_of(code: str) -> str:
    return label_url(BASE, code, LABEL_KEY)


def decoded(image: Image.Image) -> list[str]:
    return [barcode.text for barcode in zxingcpp.read_barcodes(image)]


def symbol_box(url: str, level: str) -> tuple[int, int]:
    """Offset and side in pixels of the symbol (without quiet zone) on a 300-dpi label."""
    count = len(qr_modules(url, level))
    pixel = PRINT_WIDTH_PX // (count + 2 * QUIET_ZONE)
    return (PRINT_WIDTH_PX - pixel * count) // 2, pixel * count


def scratch(image: Image.Image, url: str, level: str, colour: int) -> float:
    """Draws the scripted scratch; returns the share of the symbol's area it covers.

    A straight stroke 15 % of the symbol wide, from the left edge at 30 % height to
    the right edge at 95 % height: it crosses the data region and no finder pattern.
    """
    offset, side = symbol_box(url, level)
    ends = [(offset, offset + 0.30 * side), (offset + side, offset + 0.95 * side)]
    mask = Image.new("1", image.size, 0)
    for canvas, fill in ((ImageDraw.Draw(image), colour), (ImageDraw.Draw(mask), 1)):
        canvas.line(ends, fill=fill, width=int(0.15 * side))
    inside = mask.crop((offset, offset, offset + side, offset + side))
    finder = round(side * 8 / len(qr_modules(url, level)))
    for left, top in ((0, 0), (side - finder, 0), (0, side - finder)):
        assert inside.crop((left, top, left + finder, top + finder)).getbbox() is None, "scratch hits a finder"
    return sum(inside.histogram()[1:]) / side**2


@pytest.mark.parametrize("code", CODES)
def test_a_print_size_label_decodes_to_its_url(code):
    png = label_png(url_of(code), code, caption="Hangzhou Gas")
    image = Image.open(io.BytesIO(png))
    assert image.size[0] == PRINT_WIDTH_PX and round(image.info["dpi"][0]) == 300
    assert decoded(image) == [url_of(code)]


@pytest.mark.parametrize("colour", [0, 255], ids=["black-stroke", "white-scratch"])
def test_level_h_survives_a_scratch_that_defeats_q_m_and_l(colour):
    assert ERROR_CORRECTION == "H"
    for code in CODES:
        url = url_of(code)
        outcome = {}
        for level in "LMQH":
            image = Image.open(io.BytesIO(label_png(url, code, error_correction=level))).convert("L")
            covered = scratch(image, url, level, colour)
            assert 0.15 <= covered <= 0.20
            outcome[level] = decoded(image) == [url]
        assert outcome == {"L": False, "M": False, "Q": False, "H": True}, code


@pytest.mark.slow
def test_level_h_wins_over_random_scratches():
    """The scripted scratch is no lucky pick: over many slanted scratches H decodes far more often."""
    rng = random.Random(4)
    wins = {"Q": 0, "H": 0}
    trials = 30
    for _ in range(trials):
        body = "".join(rng.choice(tracecode.ALPHABET) for _ in range(10))
        code = body + tracecode.check_character(body)
        url = url_of(code)
        # Slanted strokes across the data region, 16 % wide: 16-19 % of the symbol's area.
        start, end = rng.uniform(0.2, 0.45), rng.uniform(0.55, 0.85)
        if rng.random() < 0.5:
            start, end = end, start
        colour = rng.choice((0, 255))
        for level in wins:
            image = Image.open(io.BytesIO(label_png(url, code, error_correction=level))).convert("L")
            offset, side = symbol_box(url, level)
            ImageDraw.Draw(image).line(
                [(offset, offset + start * side), (offset + side, offset + end * side)],
                fill=colour,
                width=int(0.16 * side),
            )
            wins[level] += decoded(image) == [url]
    assert wins["H"] >= 0.8 * trials and wins["H"] - wins["Q"] >= 0.25 * trials, wins


def test_the_svg_draws_the_same_symbol_and_the_printed_code():
    code = CODES[0]
    url = url_of(code)
    svg = label_svg(url, code, caption="Owner <A&B> 杭州燃气")
    root = ET.fromstring(svg)
    ns = {"s": "http://www.w3.org/2000/svg"}
    assert root.get("width") == "25mm"
    texts = [element.text for element in root.findall("s:text", ns)]
    assert texts == [tracecode.printed(code), "Owner <A&B> 杭州燃气"]
    # Rebuild the module grid from the path and decode it: the SVG's QR is the URL.
    modules = qr_modules(url)
    size = len(modules) + 2 * QUIET_ZONE
    grid = Image.new("L", (size, size), 255)
    for x, y, length in re.findall(r"M(\d+),(\d+)h(\d+)v1h-\d+z", root.find("s:path", ns).get("d")):
        for dx in range(int(length)):
            grid.putpixel((int(x) + dx, int(y)), 0)
    assert decoded(grid.resize((size * 4, size * 4), Image.NEAREST)) == [url]


def test_a_label_refuses_a_url_for_another_code():
    with pytest.raises(InvalidInput, match="another code"):
        label_png(url_of(CODES[0]), CODES[1])
    with pytest.raises(InvalidInput):
        label_svg(url_of(CODES[0]), "not a code")


def test_dpi_is_bounded():
    with pytest.raises(InvalidInput, match="dpi"):
        label_png(url_of(CODES[0]), CODES[0], dpi=72)
    large = Image.open(io.BytesIO(label_png(url_of(CODES[0]), CODES[0], dpi=600)))
    assert large.size[0] == 591 and decoded(large) == [url_of(CODES[0])]


def _page_text(pdf: bytes) -> list[str]:
    """Each page's text, as a PDF reader extracts it (pypdf)."""
    return [page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages]


def test_a_sheet_has_one_page_per_labels_per_page():
    items = [(url_of(code), code, "Hangzhou Gas") for code in CODES] * 12  # 60 labels
    out = io.BytesIO()
    pages = label_sheet_pdf(items, out)
    pdf = out.getvalue()
    assert pages == -(-60 // LABELS_PER_PAGE) == 3
    assert pdf.startswith(b"%PDF-") and pdf.rstrip().endswith(b"%%EOF")
    assert len(re.findall(rb"/Type /Page\b(?!s)", pdf)) == pages
    pages_text = _page_text(pdf)
    for code in CODES:
        assert sum(text.splitlines().count(tracecode.printed(code)) for text in pages_text) == 12
    assert [f"第 {n} / 3 页" in text for n, text in enumerate(pages_text, start=1)] == [True] * 3


def test_a_sheet_prints_chinese_captions_with_a_reader_font(tmp_path, no_cjk_font):
    path = tmp_path / "labels.pdf"
    assert label_sheet_pdf([(url_of(CODES[0]), CODES[0], "杭州燃气有限公司")], path) == 1
    assert b"STSong-Light" in path.read_bytes()


def test_an_empty_sheet_is_refused():
    with pytest.raises(InvalidInput, match="no labels"):
        label_sheet_pdf([], io.BytesIO())


@pytest.mark.skipif(shutil.which("pdftoppm") is None, reason="pdftoppm is not installed")
def test_a_printed_sheet_decodes_when_rasterised(tmp_path):
    path = tmp_path / "labels.pdf"
    label_sheet_pdf([(url_of(code), code, None) for code in CODES], path)
    subprocess.run(["pdftoppm", "-r", "300", "-png", "-singlefile", str(path), str(tmp_path / "page")], check=True)
    found = decoded(Image.open(tmp_path / "page.png"))
    assert sorted(found) == sorted(url_of(code) for code in CODES)
