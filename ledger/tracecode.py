"""Trace codes: the identity the platform issues to each cylinder (一瓶一码).

A trace code is 10 random body characters from ``0-9A-Z`` followed by one
check character from the same alphabet, 11 characters in all. Its canonical
form is upper case without separators (``7K3Q9XZ2ABM``); labels print it in
groups as ``7K3Q-9XZ2-ABM`` so a driver can type it when the QR is torn.

The check character catches every single wrong character and every swap of
two neighbouring characters (the two commonest typing errors). It is computed
with a totally anti-symmetric quasigroup of order 36 in the manner of Damm's
check-digit scheme; docs/labels.md gives the construction and its sources, and
tests/unit/test_tracecode.py proves both properties exhaustively.

Errors are ``InvalidInput`` subclasses whose message a driver can read as is:

    InvalidInput
    └── TraceCodeError          not a well-formed trace code
        ├── WrongLength          not 11 characters after removing separators
        ├── IllegalCharacter     a character outside 0-9 A-Z (names it)
        └── CheckCharacterMismatch  well-formed but the check fails: a typo
"""

from __future__ import annotations

import functools
import secrets

from .errors import InvalidInput

__all__ = [
    "ALPHABET",
    "BODY_LENGTH",
    "LENGTH",
    "TraceCodeError",
    "WrongLength",
    "IllegalCharacter",
    "CheckCharacterMismatch",
    "generate",
    "check_character",
    "normalize",
    "is_valid",
    "printed",
    "combine",
]

ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
BODY_LENGTH = 10
LENGTH = BODY_LENGTH + 1
_VALUE = {symbol: value for value, symbol in enumerate(ALPHABET)}
_CANONICAL_CHARACTERS = frozenset(ALPHABET)
# Separators people type or that labels print between groups.
_SEPARATORS = " -\u00a0\t"
# Longer input cannot be a mistyped code; refusing it keeps messages short.
_MAX_INPUT = 64


class TraceCodeError(InvalidInput):
    """The text is not a valid trace code; the message says why."""

    code = "invalid-trace-code"

    def __init__(self, message: str) -> None:
        super().__init__(message, field="code")


class WrongLength(TraceCodeError):
    code = "trace-code-length"


class IllegalCharacter(TraceCodeError):
    code = "trace-code-character"


class CheckCharacterMismatch(TraceCodeError):
    code = "trace-code-check"


def _times_w(x: int) -> int:
    """Multiply by the generator w in GF(4) = GF(2)[w]/(w^2 + w + 1), elements as 2-bit ints."""
    high, low = x >> 1, x & 1
    return ((high ^ low) << 1) | high


def combine(state: int, symbol: int) -> int:
    """The quasigroup operation ``state * symbol`` on 0..35.

    A value v stands for the pair (v // 9, v % 9) in GF(4) x Z9, and
    (a, b) * (c, d) = (w*a + c, 2*b + d mod 9). Each component is of the form
    k*x + y with k and k-1 invertible, which makes it a totally anti-symmetric
    quasigroup; so is their direct product.
    """
    a, b = divmod(state, 9)
    c, d = divmod(symbol, 9)
    return (_times_w(a) ^ c) * 9 + (2 * b + d) % 9


# ``combine`` as a table, row by state: checking a code is eleven lookups.
_COMBINED = tuple(tuple(combine(state, symbol) for symbol in range(36)) for state in range(36))


def _final_state(values: list[int]) -> int:
    state = 0
    for value in values:
        state = _COMBINED[state][value]
    return state


def check_character(body: str) -> str:
    """The check character for a 10-character canonical body (upper case, no separators)."""
    if len(body) != BODY_LENGTH:
        raise WrongLength(f"a trace code body has {BODY_LENGTH} characters; this has {len(body)}")
    values = _values(body)
    state = _final_state(values)
    a, b = divmod(state, 9)
    # The unique symbol s with state * s == 0: w*a XOR s_hi == 0 and 2*b + s_lo == 0 mod 9.
    return ALPHABET[_times_w(a) * 9 + (-2 * b) % 9]


def generate() -> str:
    """A fresh random trace code in canonical form (10 random symbols from ``secrets``)."""
    body = "".join(secrets.choice(ALPHABET) for _ in range(BODY_LENGTH))
    return body + check_character(body)


def normalize(text: str) -> str:
    """The canonical form of a typed or printed code, or a ``TraceCodeError``.

    Accepts lower case, spaces and hyphens anywhere (``7k3q 9xz2-abm``). The
    result is 11 upper-case characters whose check character is right.
    """
    if not isinstance(text, str):
        raise TraceCodeError("a trace code must be text")
    return _normalized(text)


# Every event names a code, and the same codes come back all day: remember the good ones
# (an exception is never cached, so a bad code is judged afresh each time).
@functools.lru_cache(maxsize=1 << 16)
def _normalized(text: str) -> str:
    if len(text) > _MAX_INPUT:
        raise WrongLength(f"a trace code has {LENGTH} characters; this text has {len(text)}")
    if len(text) == LENGTH and _CANONICAL_CHARACTERS.issuperset(text):
        compact = text  # already canonical, as apps send it: only the check remains
    else:
        compact = _compacted(text)
    if _final_state([_VALUE[symbol] for symbol in compact]) != 0:
        raise CheckCharacterMismatch(
            f"{_grouped(compact)} fails its check character: probably a mistyped character"
            " (or two swapped); compare it with the label"
        )
    return compact


def _compacted(text: str) -> str:
    """``text`` upper-cased without separators, 11 characters of the alphabet, or why not."""
    symbols = []
    for position, symbol in enumerate(text, start=1):
        if symbol in _SEPARATORS:
            continue
        # Only ASCII letters are folded: str.upper() would turn 'ß' into two letters.
        symbol = symbol.upper() if "a" <= symbol <= "z" else symbol
        if symbol not in _VALUE:
            raise _illegal(symbol, position)
        symbols.append(symbol)
    compact = "".join(symbols)
    if len(compact) != LENGTH:
        raise WrongLength(
            f"a trace code has {LENGTH} characters; {_quote(text)} has {len(compact)}"
        )
    return compact


def is_valid(text: str) -> bool:
    """True when ``normalize(text)`` would succeed."""
    try:
        normalize(text)
    except TraceCodeError:
        return False
    return True


def printed(code: str) -> str:
    """The grouped form printed on labels: ``XXXX-XXXX-XXX`` (the code is validated first)."""
    return _grouped(normalize(code))


def _grouped(compact: str) -> str:
    return f"{compact[:4]}-{compact[4:8]}-{compact[8:]}"


def _values(compact: str) -> list[int]:
    values = []
    for position, symbol in enumerate(compact, start=1):
        value = _VALUE.get(symbol)
        if value is None:
            raise _illegal(symbol, position)
        values.append(value)
    return values


def _illegal(symbol: str, position: int) -> IllegalCharacter:
    shown = repr(symbol) if symbol.isprintable() else f"U+{ord(symbol):04X}"
    return IllegalCharacter(
        f"character {position} ({shown}) is not allowed in a trace code:"
        " use only digits 0-9 and letters A-Z"
    )


def _quote(text: str) -> str:
    return repr(text) if len(text) <= 24 else repr(text[:21] + "...")
