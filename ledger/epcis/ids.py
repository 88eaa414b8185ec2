"""Identifiers in EPCIS: cylinders, parties, their premises and end users as URIs (docs/epcis.md "Identifiers").

A cylinder is a GRAI (GS1 Global Returnable Asset Identifier, EPC Tag Data Standard §6.3.3: the GS1 key
for returnable assets such as gas cylinders) when its owner has a GS1 company prefix; the ledger keeps
none today, so by default every identifier is in the private scheme ``urn:x-cylinder-ledger:`` (CBV 2.0
allows private identifiers as URIs): ``cyl:<trace code>``, ``party:<id>``, ``site:<id>`` (a party's
premises, as readPoint and bizLocation), ``user:<ref>`` (the opaque end-user reference, never personal data).
"""

from __future__ import annotations

import re
from typing import Any

from .. import tracecode

__all__ = ["ID_SCHEME", "LPG_CLASS", "grai_for", "cylinder_uri", "party_uri", "site_uri", "user_uri",
           "cylinder_of", "party_of", "user_of", "check_digit"]

ID_SCHEME = "urn:x-cylinder-ledger:"
LPG_CLASS = ID_SCHEME + "class:lpg"  # the gas a fill puts in: the class of a quantityList element

_GRAI_URN = re.compile(r"urn:epc:id:grai:([0-9]{6,12})\.([0-9]{0,6})\.([!-~]{1,16})")
_PRIVATE = re.compile(re.escape(ID_SCHEME) + r"(cyl|party|site|user|person):([A-Za-z0-9][A-Za-z0-9._:\-]{0,63})")
_COMPANY_PREFIX = re.compile(r"[0-9]{6,12}")
# A GRAI as a GS1 Digital Link URI (GS1 Digital Link URI Syntax 1.2 §4): AI 8003, a 14-digit
# GRAI (a zero, the prefix and asset type, a check digit), then the serial; on any resolver's domain.
_GRAI_LINK = re.compile(r"https?://[A-Za-z0-9.\-]+(?::[0-9]+)?/8003/([0-9]{14})([!-~]{1,16})")


def grai_for(code: str, company_prefix: str | None = None, asset_type: str = "") -> str:
    """The cylinder's EPC: a GRAI (EPC Tag Data Standard §6.3.3) ``urn:epc:id:grai:<prefix>.<type>.<serial>``
    when its owner has a GS1 company prefix (the asset type is zero-padded to 12 digits with the prefix,
    the serial is the trace code), else the private ``urn:x-cylinder-ledger:cyl:<code>``."""
    if company_prefix is None:
        return f"{ID_SCHEME}cyl:{code}"
    if not _COMPANY_PREFIX.fullmatch(company_prefix):
        raise ValueError("a GS1 company prefix is 6 to 12 digits")
    width = 12 - len(company_prefix)
    if not asset_type.isdigit() and asset_type != "" or len(asset_type) > width:
        raise ValueError(f"the asset type must be at most {width} digits with this prefix")
    if len(code) > 16:
        raise ValueError("a GRAI serial is at most 16 characters")
    return f"urn:epc:id:grai:{company_prefix}.{asset_type.zfill(width) if width else ''}.{code}"


cylinder_uri = grai_for


def party_uri(party: str) -> str:
    return f"{ID_SCHEME}party:{party}"


def site_uri(party: str) -> str:
    """The premises of a party: a readPoint or bizLocation (the ledger keeps one site per party)."""
    return f"{ID_SCHEME}site:{party}"


def user_uri(ref: str) -> str:
    """An end user as the opaque reference the ledger already uses; no personal data."""
    return f"{ID_SCHEME}user:{ref}"


def _private(uri: Any, kinds: tuple[str, ...]) -> str | None:
    match = _PRIVATE.fullmatch(uri) if isinstance(uri, str) else None
    return match.group(2) if match and match.group(1) in kinds else None


def cylinder_of(epc: Any) -> str | None:
    """The trace code an EPC names (a GRAI's serial, as an EPC URN or a GS1 Digital Link URI, or the
    private scheme), in its canonical spelling when it is a well-formed trace code; ``None`` for any other EPC."""
    match = _GRAI_URN.fullmatch(epc) if isinstance(epc, str) else None
    link = _GRAI_LINK.fullmatch(epc) if isinstance(epc, str) and match is None else None
    if match and len(match.group(1)) + len(match.group(2)) == 12:
        code = match.group(3)
    elif link and link.group(1)[0] == "0" and check_digit(link.group(1)[:13]) == link.group(1)[13]:
        code = link.group(2)
    else:
        code = _private(epc, ("cyl",))
    if code is None:
        return None
    try:
        return tracecode.normalize(code)
    except tracecode.TraceCodeError:
        return code


def check_digit(digits: str) -> str:
    """GS1 General Specifications §7.9.1: weights 3 and 1 from the right, to the next multiple of ten."""
    return str(-sum(int(d) * (3 if i % 2 == 0 else 1) for i, d in enumerate(reversed(digits))) % 10)


def party_of(uri: Any) -> str | None:
    """The party a party or site URI names, or ``None``."""
    return _private(uri, ("party", "site"))


def user_of(uri: Any) -> str | None:
    return _private(uri, ("user",))
