"""Labels carry their Chinese in a TrueType CJK font found on the machine: embedded (a subset) in the
A4 sheet, drawn into PNG captions; without one, the sheet falls back to the readers' STSong-Light,
PNG captions are left out, and one warning says how to install a font (scanners/fonts.py)."""

from __future__ import annotations

import io
import logging
import os
import shutil

import pytest
from PIL import Image
from pypdf import PdfReader

from scanners.labels import _CAPTION_FONTS, label_png, label_sheet_pdf

from .conftest import WQY_ZENHEI
from .test_labels import CODES, decoded, url_of

needs_wqy = pytest.mark.skipif(not os.path.exists(WQY_ZENHEI), reason="fonts-wqy-zenhei is not installed")
CAPTION = "杭州燃气有限公司"  # eight different characters
OTHER = "上城区市场监管局"


def _fonts_of(pdf: bytes) -> list:
    reader = PdfReader(io.BytesIO(pdf))
    return [font.get_object() for page in reader.pages for font in page["/Resources"]["/Font"].values()]


def _sheet(caption: str = CAPTION) -> bytes:
    out = io.BytesIO()
    label_sheet_pdf([(url_of(CODES[0]), CODES[0], caption, "钢印号 ZJ15-1 · YSP-15")], out, hotline="0571-12345")
    return out.getvalue()


def _caption_band(png: bytes) -> Image.Image:
    """The strip of a 300-dpi label below the printed code, where the caption is drawn."""
    image = Image.open(io.BytesIO(png)).convert("L")
    width, height = image.size
    return image.crop((0, width + round(4.2 * 300 / 25.4), width, height))


def _ink(band: Image.Image) -> int:
    return sum(band.point(lambda v: 255 if v < 128 else 0).histogram()[255:])


@needs_wqy
def test_the_known_debian_font_is_found_and_embedded(fresh_fonts):
    found = fresh_fonts.cjk_font()
    assert found is not None and found.path == WQY_ZENHEI and found.index == 0
    pdf = _sheet()
    fonts = _fonts_of(pdf)
    embedded = [f for f in fonts if "/FontDescriptor" in f and "/FontFile2" in f["/FontDescriptor"].get_object()]
    assert embedded, "a TrueType font program (FontFile2) travels inside the PDF"
    assert any("WenQuanYi" in str(f["/BaseFont"]) for f in embedded)
    assert not any("STSong" in str(f["/BaseFont"]) for f in fonts)
    text = "".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages)
    assert CAPTION in text and "气瓶一码通" in text


@needs_wqy
@pytest.mark.skipif(shutil.which("fc-list") is None, reason="fontconfig is not installed")
def test_fontconfig_finds_a_font_in_a_place_not_listed(fresh_fonts, monkeypatch):
    monkeypatch.setattr(fresh_fonts, "KNOWN_FILES", ())
    found = fresh_fonts.cjk_font()
    assert found is not None and found.path == WQY_ZENHEI  # fc-match answers DejaVu Sans: no Chinese, passed over


@needs_wqy
def test_ledger_label_font_comes_first(fresh_fonts, monkeypatch, tmp_path):
    copy = tmp_path / "city-font.ttc"
    copy.symlink_to(WQY_ZENHEI)
    monkeypatch.setenv("LEDGER_LABEL_FONT", str(copy))
    assert fresh_fonts.cjk_font().path == str(copy)


@needs_wqy
def test_a_named_font_that_cannot_serve_is_passed_over_with_a_warning(fresh_fonts, monkeypatch, tmp_path, caplog):
    bogus = tmp_path / "not-a-font.ttf"
    bogus.write_bytes(b"OTTO" + bytes(64))  # what an OpenType/CFF file starts with
    monkeypatch.setenv("LEDGER_LABEL_FONT", str(bogus))
    with caplog.at_level(logging.WARNING, logger="ledger.fonts"):
        assert fresh_fonts.cjk_font().path == WQY_ZENHEI
    assert f"LEDGER_LABEL_FONT={bogus}" in caplog.text
    latin = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"
    if os.path.exists(latin):  # a real TrueType font, but without Chinese
        monkeypatch.setenv("LEDGER_LABEL_FONT", latin)
        assert fresh_fonts.cjk_font().path == WQY_ZENHEI


def test_without_a_cjk_font_the_sheet_falls_back_and_says_how_to_install_one_once(no_cjk_font, caplog):
    with caplog.at_level(logging.WARNING, logger="ledger.fonts"):
        first, second = _sheet(), _sheet()
        label_png(url_of(CODES[0]), CODES[0], CAPTION)
    for pdf in (first, second):
        names = [str(f["/BaseFont"]) for f in _fonts_of(pdf)]
        assert any("STSong-Light" in n for n in names) and b"/FontFile2" not in pdf
    warnings = [r for r in caplog.records if r.name == "ledger.fonts"]
    assert len(warnings) == 1 and "apt install fonts-wqy-zenhei" in warnings[0].getMessage()


@needs_wqy
def test_a_png_label_draws_its_chinese_caption_in_real_glyphs(fresh_fonts, monkeypatch):
    url = url_of(CODES[0])
    png = label_png(url, CODES[0], CAPTION)
    assert decoded(Image.open(io.BytesIO(png))) == [url]
    band = _caption_band(png)
    box = band.point(lambda v: 255 if v < 128 else 0).getbbox()
    assert box is not None and _ink(band) > 300, "the caption is drawn"
    # Eight different characters carry different amounts of ink (杭 more than 司); a font without them
    # draws eight identical boxes (tofu), each with the same ink. Cut the inked width into eight cells.
    left, top, right, bottom = box
    step = (right - left) / len(CAPTION)
    inks = [_ink(band.crop((round(left + i * step), top, round(left + (i + 1) * step), bottom)))
            for i in range(len(CAPTION))]
    assert len(set(inks)) > len(CAPTION) // 2 and max(inks) > 1.3 * min(inks), inks
    assert _caption_band(label_png(url, CODES[0], OTHER)).tobytes() != band.tobytes()

    # The same label on a machine without any CJK font: the caption is left out, not boxed.
    monkeypatch.setattr(fresh_fonts, "KNOWN_FILES", ())
    monkeypatch.setattr(fresh_fonts, "_fontconfig", lambda: [])
    monkeypatch.setattr("scanners.labels._CAPTION_FONTS", tuple(f for f in _CAPTION_FONTS if "DejaVu" in f))
    fresh_fonts._find.cache_clear()
    assert _ink(_caption_band(label_png(url, CODES[0], CAPTION))) == 0
