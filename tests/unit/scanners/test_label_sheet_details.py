"""The A4 sheet prints, under each QR, the stamp serial (钢印号) and model, "扫码查验" with the operator's
hotline, and a Chinese footer; `LEDGER_HOTLINE` reaches it from the settings."""

from __future__ import annotations

import io
import re

from ledger.config import Settings
from scanners.labels import label_sheet_pdf

from .test_labels import CODES, _page_text, url_of

_ESCAPE = re.compile(rb"\\([0-7]{1,3}|.)", re.S)
_SIMPLE = {b"n": b"\n", b"r": b"\r", b"t": b"\t", b"b": b"\b", b"f": b"\f"}


def _strings(pdf: bytes) -> list[str]:
    """Every shown string of the pages, decoded: UTF-16BE for the Chinese (CID) font, Latin-1 otherwise."""
    shown = []
    for literal in re.findall(rb"\(((?:\\.|[^\\)])*)\) Tj", _page_text(pdf).encode("latin-1"), re.S):
        raw = _ESCAPE.sub(lambda m: bytes([int(m[1], 8)]) if m[1][:1].isdigit() else _SIMPLE.get(m[1], m[1]), literal)
        utf16 = len(raw) % 2 == 0 and raw.decode("utf-16-be", "replace")
        shown.append(utf16 if utf16 and "\ufffd" not in utf16 and any(ord(c) > 0x2000 for c in utf16)
                     else raw.decode("latin-1"))
    return shown


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


WQY = "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc"  # Debian's fonts-wqy-microhei: TrueType outlines


def test_a_truetype_cjk_font_is_embedded_when_named(monkeypatch):
    import os

    import pytest

    if not os.path.exists(WQY):
        pytest.skip("fonts-wqy-microhei is not installed")
    monkeypatch.setenv("LEDGER_LABEL_FONT", WQY)
    out = io.BytesIO()
    label_sheet_pdf([(url_of(CODES[0]), CODES[0], "杭州燃气有限公司", "钢印号 ZJ15-1 · YSP-15")], out)
    pdf = out.getvalue()
    assert b"/FontFile2" in pdf and b"STSong-Light" not in pdf  # the glyphs travel inside the PDF


def test_a_font_reportlab_cannot_embed_falls_back_to_the_readers_font(monkeypatch, tmp_path):
    bogus = tmp_path / "not-a-font.ttf"
    bogus.write_bytes(b"OTTO" + bytes(64))  # what an OpenType/CFF file starts with
    monkeypatch.setenv("LEDGER_LABEL_FONT", str(bogus))
    out = io.BytesIO()
    label_sheet_pdf([(url_of(CODES[0]), CODES[0], "杭州燃气有限公司")], out)
    assert b"STSong-Light" in out.getvalue()
