"""What a label's QR code says, and the one parser for everything a scanner reads.

A label's QR payload is the URL ``<base>/c/<code>?s=<signature>``: ``code`` is
the canonical 11-character trace code and ``signature`` is the platform's
Ed25519 label signature over the code's ASCII bytes, base64url without padding
(always 86 characters). Any phone camera opens the URL; a driver's scanner
holding the label public key tells a forged label offline.

``parse_scan`` accepts a scanned URL, a code typed by hand (any case, with or
without spaces and hyphens) and nothing else; it never guesses.
"""

from __future__ import annotations

import base64
import binascii
import enum
import re
import unicodedata
from dataclasses import dataclass
from urllib.parse import parse_qs, urlsplit

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from ledger import tracecode
from ledger.errors import InvalidInput

from .errors import ControlCharacters, ForgedLabel, ScanTooLong, TruncatedLabel, UnknownFormat, UnreadableScan

__all__ = [
    "MAX_SCAN_LENGTH",
    "SIGNATURE_LENGTH",
    "ScanSource",
    "Scan",
    "sign_label",
    "verify_label",
    "label_url",
    "parse_scan",
]

# Our URLs are ~140 characters; a cap far above that keeps hostile input cheap to refuse.
MAX_SCAN_LENGTH = 512
SIGNATURE_LENGTH = 86  # 64 bytes in base64url without padding
_LABEL_PATH = re.compile(r"(?P<prefix>.*)/c/(?P<code>[^/]*)")
_SIGNATURE_ALPHABET = re.compile(r"[A-Za-z0-9_-]*")
# A typed code is 11 symbols; a few more or fewer is a typo worth a precise message.
_TYPED_LENGTHS = range(8, 15)


class ScanSource(str, enum.Enum):
    LABEL = "label"  # the QR URL, read by a camera or scanner
    TYPED = "typed"  # the printed code, typed by hand


@dataclass(frozen=True, slots=True)
class Scan:
    """A cylinder identified by a scan: ``code`` is canonical and its check character is right.

    ``verified`` is True only when a label's signature was checked against the
    label public key. ``base`` is the platform the label points to (None when typed).
    """

    code: str
    source: ScanSource
    verified: bool
    base: str | None = None

    @property
    def printed(self) -> str:
        return tracecode.printed(self.code)


def _encode(signature: bytes) -> str:
    return base64.urlsafe_b64encode(signature).rstrip(b"=").decode("ascii")


def sign_label(code: str, private_key: Ed25519PrivateKey) -> str:
    """The label signature of ``code`` (any accepted form; the canonical form is signed)."""
    canonical = tracecode.normalize(code)
    return _encode(private_key.sign(canonical.encode("ascii")))


def verify_label(code: str, signature: str, public_key: Ed25519PublicKey) -> None:
    """Returns when ``signature`` is the platform's over canonical ``code``; raises ``ForgedLabel`` otherwise."""
    if len(signature) != SIGNATURE_LENGTH or not _SIGNATURE_ALPHABET.fullmatch(signature):
        raise ForgedLabel("the label's signature is malformed: do not trust this label")
    try:
        raw = base64.urlsafe_b64decode(signature + "==")
    except binascii.Error:
        raise ForgedLabel("the label's signature is malformed: do not trust this label") from None
    # Only the one canonical spelling is accepted, so a label has exactly one valid URL.
    if _encode(raw) != signature:
        raise ForgedLabel("the label's signature is malformed: do not trust this label")
    try:
        public_key.verify(raw, code.encode("ascii"))
    except InvalidSignature:
        raise ForgedLabel(
            f"label {tracecode.printed(code)} is forged or altered: its signature does not match."
            " Do not trust this label"
        ) from None


def label_url(base: str, code: str, private_key: Ed25519PrivateKey) -> str:
    """The QR payload for ``code``: ``<base>/c/<code>?s=<signature>``.

    ``base`` is the platform's public http(s) base URL, optionally with a path;
    a trailing slash is ignored.
    """
    parts = urlsplit(base)
    if parts.scheme not in ("http", "https") or not parts.netloc or parts.query or parts.fragment:
        raise InvalidInput(f"label base must be an http(s) URL without query, got {base!r}", field="base")
    canonical = tracecode.normalize(code)
    url = f"{base.rstrip('/')}/c/{canonical}?s={sign_label(canonical, private_key)}"
    if len(url) > MAX_SCAN_LENGTH:
        raise InvalidInput("label base URL is too long for a label", field="base")
    return url


def parse_scan(text: str, public_key: Ed25519PublicKey | None = None) -> Scan:
    """The cylinder a scanner read, or a precise error.

    ``text`` is a label URL (any base; its signature is verified when
    ``public_key`` is given) or a code typed by hand. Raises ``ScanTooLong``,
    ``ControlCharacters``, ``UnknownFormat``, ``TruncatedLabel``, ``ForgedLabel``
    or a ``tracecode.TraceCodeError`` (typed code with a typo).
    """
    if not isinstance(text, str):
        raise UnreadableScan("a scan must be text")
    if len(text) > MAX_SCAN_LENGTH:
        raise ScanTooLong(f"the scan is {len(text)} characters long; no cylinder label is longer than {MAX_SCAN_LENGTH}")
    # Keyboard-wedge scanners end each read with CR, LF or TAB.
    text = text.strip()
    for position, char in enumerate(text, start=1):
        if unicodedata.category(char)[0] == "C" or unicodedata.category(char) in ("Zl", "Zp"):
            raise ControlCharacters(
                f"the scan contains an invisible control character (U+{ord(char):04X} at position {position});"
                " scan again or type the printed code"
            )
    if not text:
        raise UnknownFormat("nothing was scanned")
    if "://" in text:
        return _parse_url(text, public_key)
    compact = "".join(ch for ch in text if ch not in " -")
    if ":" in text or len(compact) not in _TYPED_LENGTHS:
        raise UnknownFormat(f"not a cylinder label: {_describe(text)}")
    return Scan(tracecode.normalize(text), ScanSource.TYPED, verified=False)


def _parse_url(text: str, public_key: Ed25519PublicKey | None) -> Scan:
    parts = urlsplit(text)
    match = _LABEL_PATH.fullmatch(parts.path)
    if parts.scheme.lower() not in ("http", "https") or not parts.netloc or not match:
        raise UnknownFormat(f"not a cylinder label: {_describe(text)}")
    code_text = match["code"]
    if len(code_text) < tracecode.LENGTH and not parts.query:
        raise TruncatedLabel("the label was read only in part (the code is cut short): scan it again")
    signatures = parse_qs(parts.query, keep_blank_values=True).get("s", [])
    if not signatures:
        raise TruncatedLabel("the label was read only in part (its signature is missing): scan it again")
    if len(signatures) > 1:
        raise ForgedLabel("the label carries two signatures: do not trust this label")
    signature = signatures[0]
    if len(signature) < SIGNATURE_LENGTH and _SIGNATURE_ALPHABET.fullmatch(signature):
        raise TruncatedLabel("the label was read only in part (its signature is cut short): scan it again")
    try:
        code = tracecode.normalize(code_text)
    except tracecode.TraceCodeError as error:
        raise ForgedLabel(f"the code in this label is not valid ({error.message}): altered or misprinted") from None
    if code != code_text:
        raise ForgedLabel("the code in this label is not in the form the platform prints: do not trust it")
    if public_key is not None:
        verify_label(code, signature, public_key)
    elif len(signature) != SIGNATURE_LENGTH or not _SIGNATURE_ALPHABET.fullmatch(signature):
        raise ForgedLabel("the label's signature is malformed: do not trust this label")
    base = f"{parts.scheme}://{parts.netloc}{match['prefix']}"
    return Scan(code, ScanSource.LABEL, verified=public_key is not None, base=base)


def _describe(text: str) -> str:
    """A plain name for another system's code, so the driver knows what was scanned."""
    lowered = text.lower()
    if lowered.startswith(("wxp://", "weixin://")) or "wx.tenpay.com" in lowered:
        return "this is a WeChat payment code"
    if "alipay.com" in lowered or lowered.startswith("alipays://"):
        return "this is an Alipay code"
    if re.search(r"/01/\d{14}", text) or re.match(r"(\]d2|\]Q3)?(\(01\)|01)\d{14}", text):
        return "this is a GS1 product code"
    if "://" in text:
        host = urlsplit(text).netloc or text.split("://", 1)[0]
        return f"this is a link to {host[:60]}"
    return "this is plain text, not a trace code (11 characters like 7K3Q-9XZ2-ABM)"
