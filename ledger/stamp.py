"""A cylinder's identity: its manufacturer and the serial stamped on its steel.

One physical cylinder gets one trace code (DOMAIN.md 1: the code is unique and
never reused, and neither is the cylinder). Two registrations name the same
cylinder when their ``stamp_key`` is equal; the database holds it unique.
What the key forgives, and why:

- Unicode compatibility forms (NFKC, UAX #15): full-width digits and letters
  (``１７３１５``), ligatures and circled or squared forms read as what they
  stand for;
- format and control characters (categories ``Cf`` and ``Cc``): zero-width
  spaces and joiners, the BOM, bidi controls, which no reader sees;
- case (``str.casefold``, Unicode's full case folding): a stamp's Latin letters
  have no case, and a name typed in capitals is the same name;
- white space, all of it: how a stamp or a name is spaced carries no identity;
- dash look-alikes (category ``Pd`` and U+2212 MINUS SIGN) read as ``-``.

Letters of other scripts that merely look Latin (Cyrillic ``А``) are not
folded: no Unicode normalisation equates them.
"""

from __future__ import annotations

import hashlib
import unicodedata

from .errors import InvalidInput
from .text import readable

__all__ = ["shown", "stamp_key", "SERIAL_LENGTH", "MANUFACTURER_LENGTH"]

SERIAL_LENGTH = 64
MANUFACTURER_LENGTH = 200

_INVISIBLE = frozenset({"Cf", "Cc"})
_MINUS_SIGN = "\u2212"
# Joins the two folded parts; a control character, so neither part can hold it.
_SEPARATOR = "\x1f"


def shown(value: object, name: str, max_length: int) -> str:
    """``value`` as the ledger stores and shows it: readable text (``ledger.text.readable``, so an
    invisible or control character is refused with ``InvalidInput``), in NFKC, white space runs
    made one space. Raises ``InvalidInput`` naming ``name`` if that is longer than ``max_length``."""
    text = readable(value, name, max_length=max_length)
    text = " ".join(unicodedata.normalize("NFKC", text).split())
    if len(text) > max_length:  # a compatibility form can expand (U+FDFA is 18 letters)
        raise InvalidInput(f"{name} is longer than {max_length} characters once normalised", field=name)
    return text


def _folded(text: str) -> str:
    kept = "".join(char for char in text if unicodedata.category(char) not in _INVISIBLE)
    folded = unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", kept).casefold())
    return "".join(
        "-" if char == _MINUS_SIGN or unicodedata.category(char) == "Pd" else char
        for char in folded
        if not char.isspace() and unicodedata.category(char) not in _INVISIBLE
    )


def stamp_key(manufacturer: str, serial: str) -> str:
    """The identity of the cylinder ``serial`` of ``manufacturer``: lowercase hex SHA-256 of the two
    folded as the module says. Equal for every spelling of the same stamp; takes any text, the
    stored rows of any age included, and never raises."""
    folded = f"{_folded(manufacturer)}{_SEPARATOR}{_folded(serial)}"
    return hashlib.sha256(folded.encode("utf-8", "surrogatepass")).hexdigest()
