"""Text that people read: the one check every free-text field passes.

Names, notes, licence and certificate numbers, vehicle plates, serials and the
string values inside event data are shown on screens and printed on paper. A
character a reader cannot see can make two different values look the same
(``17315\\u200b-0001364``), reverse what a line appears to say (bidi
overrides), or break storage (PostgreSQL refuses NUL in text). ``readable``
refuses them all, with the field's name and the offending code point:

- controls, C0 and C1 (Unicode category ``Cc``), NUL included; a multi-line
  field (a note) may hold line feeds and tabs, nothing else of them;
- format characters (``Cf``): zero-width spaces and joiners, the bidi embeddings,
  overrides and isolates (U+202A–202E, U+2066–2069), the BOM (U+FEFF), the soft
  hyphen;
- unpaired surrogates (``Cs``), unassigned code points (``Cn``) and private-use
  characters (``Co``), which no font shows the same way twice;
- the line and paragraph separators U+2028 and U+2029.

Categories are those of the Unicode Character Database as Python's
``unicodedata`` carries it.
"""

from __future__ import annotations

import unicodedata
from typing import Any

from .errors import InvalidInput

__all__ = ["readable", "unreadable_character"]

_REFUSED_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Cn", "Co", "Zl", "Zp"})
_MULTILINE_ALLOWED = frozenset("\n\t")


def unreadable_character(text: str, *, multiline: bool = False) -> str | None:
    """The first character of ``text`` a reader cannot see or trust, or ``None``."""
    if text.isascii() and text.isprintable():
        return None  # the common case, answered without looking at each character
    for char in text:
        if unicodedata.category(char) in _REFUSED_CATEGORIES and not (multiline and char in _MULTILINE_ALLOWED):
            return char
    return None


def readable(value: Any, name: str, *, max_length: int = 200, multiline: bool = False) -> str:
    """``value`` stripped of surrounding white space, if it is non-empty readable text.

    Raises ``InvalidInput`` naming ``name`` for anything else: not a string, empty,
    longer than ``max_length`` characters, or holding a character listed above.
    """
    if not isinstance(value, str):
        raise InvalidInput(f"{name} must be text", field=name)
    bad = unreadable_character(value, multiline=multiline)
    if bad is not None:
        raise InvalidInput(
            f"{name} holds an invisible or control character (U+{ord(bad):04X}); type it again without it",
            field=name,
        )
    text = value.strip()
    if not text:
        raise InvalidInput(f"{name} must not be empty", field=name)
    if len(text) > max_length:
        raise InvalidInput(f"{name} is longer than {max_length} characters", field=name)
    return text
