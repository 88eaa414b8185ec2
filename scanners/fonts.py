"""The Chinese font printed matter is set in: a TrueType CJK font found on this machine.

Label sheets (``scanners.sheet``) and the bureau's reports (``api.report_files``) embed a subset of
it in their PDFs, so a print shop's computer needs no font of its own; PNG labels
(``scanners.labels``) draw their Chinese caption with it. The PDF writer, reportlab, embeds
TrueType outlines only, not OpenType/CFF (Noto Sans CJK is CFF), and no well-kept PyPI
distribution ships a TrueType CJK font, so the font comes from the operating system:

1. ``LEDGER_LABEL_FONT``, a ``.ttf``/``.ttc`` file named by the operator;
2. the files Debian's packages install (``fonts-wqy-zenhei``, ``fonts-wqy-microhei``,
   ``fonts-arphic-uming``, ``fonts-droid-fallback``);
3. what fontconfig lists for ``:lang=zh`` (``fc-match`` first, then ``fc-list``).

A candidate is taken only if reportlab can embed it and it has the glyphs of "气瓶扫码查验".
When none is, callers fall back (the PDFs to Adobe's STSong-Light, which readers supply; PNG
captions are left out) and one warning says how to install a font (docs/operations.md).
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import subprocess
from dataclasses import dataclass
from functools import lru_cache

from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFError, TTFont

__all__ = ["CJKFont", "INSTALL_HINT", "KNOWN_FILES", "cjk_font", "pdf_font_name"]

log = logging.getLogger("ledger.fonts")

KNOWN_FILES = (
    "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc",
    "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc",
    "/usr/share/fonts/truetype/arphic/uming.ttc",
    "/usr/share/fonts/truetype/droid/DroidSansFallbackFull.ttf",
)
INSTALL_HINT = ("install a TrueType CJK font (Debian/Ubuntu: apt install fonts-wqy-zenhei) "
                "or set LEDGER_LABEL_FONT to a .ttf/.ttc file with TrueType outlines")
SAMPLE = "气瓶扫码查验"  # what every label prints: a font without these glyphs is no use
_warned: set[str] = set()


@dataclass(frozen=True)
class CJKFont:
    path: str
    index: int  # the face within a .ttc collection

    @property
    def name(self) -> str:
        """The font's name in reportlab's registry (and in the PDF): one per file and face."""
        digest = hashlib.sha256(f"{self.path}#{self.index}".encode()).hexdigest()[:10]
        return f"CJK-{digest}"


def cjk_font() -> CJKFont | None:
    """The first usable TrueType CJK font: ``LEDGER_LABEL_FONT``, the known files, then fontconfig's."""
    return _find(os.environ.get("LEDGER_LABEL_FONT", "").strip())


def pdf_font_name() -> str | None:
    """The name under which :func:`cjk_font` is registered with reportlab, or None without one."""
    font = cjk_font()
    return None if font is None else _register(font)


@lru_cache(maxsize=8)
def _find(named: str) -> CJKFont | None:
    if named:
        font = _usable(named, 0)
        if font is not None:
            return font
        _warn_once(f"LEDGER_LABEL_FONT={named} is not a TrueType font with Chinese glyphs that PDFs can "
                   f"embed; looking for another")
    for path, index in (*((p, 0) for p in KNOWN_FILES), *_fontconfig()):
        font = _usable(path, index)
        if font is not None:
            return font
    _warn_once("no TrueType CJK font found: label sheets and reports use the PDF reader's STSong-Light "
               f"and PNG labels draw Chinese captions only with another installed CJK font; {INSTALL_HINT}")
    return None


def _usable(path: str, index: int) -> CJKFont | None:
    if not path.lower().endswith((".ttf", ".ttc")) or not os.path.isfile(path):
        return None
    font = CJKFont(path, index)
    try:
        face = _load(font).face
    except (TTFError, OSError, ValueError, KeyError, IndexError):  # CFF outlines, a broken or odd file
        return None
    return font if all(ord(char) in face.charToGlyph for char in SAMPLE) else None


@lru_cache(maxsize=16)
def _load(font: CJKFont) -> TTFont:
    return TTFont(font.name, font.path, subfontIndex=font.index)


def _register(font: CJKFont) -> str:
    if font.name not in pdfmetrics.getRegisteredFontNames():
        pdfmetrics.registerFont(_load(font))
    return font.name


def _fontconfig() -> list[tuple[str, int]]:
    """Files and faces fontconfig offers for Chinese, its best match first (it may well be no CJK font)."""
    if shutil.which("fc-match") is None:
        return []
    found: list[tuple[str, int]] = []
    for command in (["fc-match", "--format", "%{file}|%{index}\n", ":lang=zh"],
                    ["fc-list", "--format", "%{file}|%{index}\n", ":lang=zh:fontformat=TrueType"]):
        try:
            lines = subprocess.run(command, capture_output=True, text=True, timeout=10, check=False).stdout
        except (OSError, subprocess.SubprocessError):
            continue
        for line in sorted(lines.splitlines()) if command[0] == "fc-list" else lines.splitlines():
            path, _, index = line.rpartition("|")
            if path and index.isdigit() and (path, int(index)) not in found:
                found.append((path, int(index)))
    return found


def _warn_once(message: str) -> None:
    if message not in _warned:
        _warned.add(message)
        log.warning(message)
