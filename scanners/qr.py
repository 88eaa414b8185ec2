"""The QR symbol of a label as a grid of modules, shared by every renderer."""

from __future__ import annotations

from typing import Iterable

import qrcode
from qrcode.constants import ERROR_CORRECT_H, ERROR_CORRECT_L, ERROR_CORRECT_M, ERROR_CORRECT_Q

from ledger.errors import InvalidInput

__all__ = ["ERROR_CORRECTION", "QUIET_ZONE", "qr_modules", "dark_runs"]

# Level H restores up to ~30 % of codewords; docs/labels.md shows Q fails on a scratch H survives.
ERROR_CORRECTION = "H"
QUIET_ZONE = 4  # modules of white around the symbol, as ISO/IEC 18004 requires
_LEVELS = {"L": ERROR_CORRECT_L, "M": ERROR_CORRECT_M, "Q": ERROR_CORRECT_Q, "H": ERROR_CORRECT_H}


def qr_modules(url: str, error_correction: str = ERROR_CORRECTION) -> list[list[bool]]:
    """The QR symbol for ``url`` as rows of dark (True) modules, without quiet zone."""
    if error_correction not in _LEVELS:
        raise InvalidInput("error correction must be one of L, M, Q, H", field="error_correction")
    symbol = qrcode.QRCode(error_correction=_LEVELS[error_correction], border=0, box_size=1)
    symbol.add_data(url.encode("utf-8"))
    symbol.make(fit=True)
    return [list(row) for row in symbol.get_matrix()]


def dark_runs(modules: list[list[bool]]) -> Iterable[tuple[int, int, int]]:
    """(row, column, length) of each horizontal run of dark modules."""
    for y, row in enumerate(modules):
        x = 0
        while x < len(row):
            if row[x]:
                start = x
                while x < len(row) and row[x]:
                    x += 1
                yield y, start, x - start
            else:
                x += 1
