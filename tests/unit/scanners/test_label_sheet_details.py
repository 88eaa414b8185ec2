"""The A4 sheet prints, under each QR, the stamp serial (钢印号) and model, "扫码查验" with the operator's
hotline, and a Chinese footer; `LEDGER_HOTLINE` reaches it from the settings. The text is read back
with a PDF text extractor (pypdf), whichever font the sheet was set in."""

from __future__ import annotations

import io
import os

import pytest
from pypdf import PdfReader

from ledger.config import Settings
from scanners.labels import label_sheet_pdf

from .conftest import WQY_ZENHEI
from .test_labels import CODES, url_of


def _strings(pdf: bytes) -> list[str]:
    """Every line of text of the pages, as a PDF reader extracts it."""
    reader = PdfReader(io.BytesIO(pdf))
    return [line.strip() for page in reader.pages for line in page.extract_text().splitlines() if line.strip()]


def test_each_label_names_its_stamp_serial_model_and_hotline():
    out = io.BytesIO()
    items = [(url_of(code), code, "杭州燃气有限公司", f"钢印号 ZJ15-00012{i} · YSP-15") for i, code in enumerate(CODES)]
    label_sheet_pdf(items, out, hotline="0571-8888 1234")
    shown = _strings(out.getvalue())
    for i in range(len(CODES)):
        assert f"钢印号 ZJ15-00012{i} · YSP-15" in shown
    assert shown.count("扫码查验 · 服务电话 0571-8888 1234") == len(CODES)
    footer = next(s for s in shown if s.startswith("气瓶一码通"))
    assert "扫码查验" in footer and "0571-8888 1234" in footer
    assert "第 1 / 1 页" in shown


def test_without_a_hotline_the_label_still_says_scan_to_check():
    out = io.BytesIO()
    label_sheet_pdf([(url_of(CODES[0]), CODES[0], "Hangzhou Gas")], out)
    shown = _strings(out.getvalue())
    assert "扫码查验" in shown and not any("服务电话" in s for s in shown)


def test_the_hotline_is_a_setting(monkeypatch):
    monkeypatch.setenv("LEDGER_HOTLINE", " 0571-12345 ")
    assert Settings.from_env().hotline == "0571-12345"
    monkeypatch.delenv("LEDGER_HOTLINE")
    assert Settings.from_env().hotline == ""


@pytest.mark.parametrize("font", ["embedded", "reader"])
def test_the_text_reads_back_in_either_font(font, request):
    if font == "embedded" and not os.path.exists(WQY_ZENHEI):
        pytest.skip("fonts-wqy-zenhei is not installed")
    request.getfixturevalue("fresh_fonts" if font == "embedded" else "no_cjk_font")
    out = io.BytesIO()
    label_sheet_pdf([(url_of(CODES[0]), CODES[0], "杭州燃气有限公司", "钢印号 ZJ15-1 · YSP-15")], out, hotline="12345")
    assert (b"STSong-Light" in out.getvalue()) == (font == "reader")
    assert {"杭州燃气有限公司", "钢印号 ZJ15-1 · YSP-15", "扫码查验 · 服务电话 12345"} <= set(_strings(out.getvalue()))
