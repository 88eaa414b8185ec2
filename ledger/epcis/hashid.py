"""The EPCIS Event Hash ID (CBV 2.0 §8.9): ``ni:///sha-256;<hex>?ver=CBV2.0`` of an event's pre-hash string.

The pre-hash string follows the algorithm GS1 publishes with its reference implementation
(github.com/RalphTro/epcis-event-hash-generator, README "Algorithm" and "Canonical property order"):
fields in the canonical order, ``key=value`` with no separators, list members sorted, CBV values as
their ``https://ref.gs1.org/cbv/`` Web URIs, EPC URNs as canonical GS1 Digital Link URIs, times in UTC
with milliseconds, numbers without trailing zeros, extension members as ``{namespace}name=value`` sorted.

Two points follow the reference implementation (1.9.3) where its README's table reads otherwise, so that
an ID computed here equals the one any partner computes with it: in a source, destination or business
transaction the ``type`` comes before the identifier (GS1's resolution of the reference's issue #80), and
``sourceList`` comes after ``ilmd``, sorted with the extension members (docs/epcis.md).

Not covered (``ValueError``): sensor data, error declarations and extension members nested inside
``readPoint`` or ``bizLocation``; the ledger's own events never carry them.
"""

from __future__ import annotations

import functools
import hashlib
import math
import re
from datetime import datetime, timedelta, timezone
from typing import Any

from .ids import check_digit

__all__ = ["event_hash_id", "pre_hash", "digital_link", "CBV_VERSION"]

CBV_VERSION = "CBV2.0"
_CBV = "https://ref.gs1.org/cbv/"
_DL = "https://id.gs1.org/"
# CURIE prefixes every EPCIS 2.0 document may use (the README's rule on compact URIs).
_STANDARD_PREFIXES = {"gs1": "https://gs1.org/voc/", "epcis": "https://ref.gs1.org/epcis/", "cbv": _CBV}
_URN_VOCAB = {"bizstep": "BizStep-", "disp": "Disp-", "sdt": "SDT-", "btt": "BTT-", "er": "ER-"}
_UNSUPPORTED = ("sensorElementList", "errorDeclaration")
# Members that are not part of the event's content: its ID, when it was stored, the JSON-LD context.
_IGNORED = {"eventID", "recordTime", "@context", "type"}
_ORDERED = ("epcList", "parentID", "inputEPCList", "childEPCs", "quantityList", "childQuantityList",
            "inputQuantityList", "outputEPCList", "outputQuantityList", "action", "transformationID", "bizStep",
            "disposition", "persistentDisposition", "readPoint", "bizLocation", "bizTransactionList",
            "destinationList", "ilmd")
_KNOWN = set(_ORDERED) | {"eventTime", "eventTimeZoneOffset", "certificationInfo", "sourceList"} | _IGNORED


_EPC_URN = re.compile(r"urn:epc:(id|class):([a-z]+):([0-9]+)\.([^.]*)(?:\.(.*))?")
_CBV_URN = re.compile(r"urn:epcglobal:cbv:([a-z]+):(.+)")
_BARE_WORD = re.compile(r"[a-z_]+")


def digital_link(uri: str) -> str:
    """An EPC or EPC class URN (EPC Tag Data Standard) as its canonical GS1 Digital Link URI; others unchanged."""
    match = _EPC_URN.fullmatch(uri)
    if not match:
        return uri
    _, scheme, prefix, middle, last = match.groups()
    if scheme == "sgtin" and last is not None:
        gtin = middle[:1] + prefix + middle[1:]
        return f"{_DL}01/{gtin}{check_digit(gtin)}/21/{last}"
    if scheme == "lgtin" and last is not None:
        gtin = middle[:1] + prefix + middle[1:]
        return f"{_DL}01/{gtin}{check_digit(gtin)}/10/{last}"
    if scheme == "sscc" and last is None:
        body = middle[:1] + prefix + middle[1:]
        return f"{_DL}00/{body}{check_digit(body)}"
    if scheme == "sgln" and last is not None:
        gln = prefix + middle
        tail = "" if last == "0" else f"/254/{last}"
        return f"{_DL}414/{gln}{check_digit(gln)}{tail}"
    if scheme == "pgln" and last is None:
        gln = prefix + middle
        return f"{_DL}417/{gln}{check_digit(gln)}"
    if scheme == "grai" and last is not None:
        body = "0" + prefix + middle
        return f"{_DL}8003/{body}{check_digit(body)}{last}"
    if scheme == "giai" and last is None:
        return f"{_DL}8004/{prefix}{middle}"
    if scheme == "gdti" and last is not None:
        body = prefix + middle
        return f"{_DL}253/{body}{check_digit(body)}{last}"
    return uri


def _vocab(value: str, web_prefix: str) -> str:
    """A CBV value as its Web URI: bare words and ``urn:epcglobal:cbv:`` URNs are expanded."""
    match = _CBV_URN.fullmatch(value)
    if match and match.group(1) in _URN_VOCAB:
        return _CBV + _URN_VOCAB[match.group(1)] + match.group(2)
    if _BARE_WORD.fullmatch(value):
        return _CBV + web_prefix + value
    return value


def _time(value: Any) -> str:
    """UTC, ``Z``, milliseconds rounded half up from the fourth decimal."""
    if not isinstance(value, str):
        raise ValueError("a time must be text")
    moment = datetime.fromisoformat(value.replace("z", "Z"))
    if moment.tzinfo is None:
        raise ValueError(f"{value} carries no offset")
    moment = moment.astimezone(timezone.utc)
    millis, micros = divmod(moment.microsecond, 1000)
    moment = moment.replace(microsecond=millis * 1000) + (timedelta(milliseconds=1) if micros >= 500 else timedelta())
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


_NUMERIC_START = frozenset("0123456789+-.")


def _number(text: str) -> str:
    """A value that reads as a decimal number, written without trailing zeros (the algorithm's rule 6,
    which the reference applies to every value that parses as one, text included); others unchanged."""
    if not text or text[0] not in _NUMERIC_START:  # the common case, without an exception
        return text
    try:
        number = float(text)
    except ValueError:
        return text
    if not math.isfinite(number):
        return text
    return str(int(number)) if number.is_integer() else repr(number)


def _scalar(value: Any) -> str:
    """A value's text in the pre-hash string: trimmed, CBV URNs as Web URIs, numbers canonical, EPCs as
    Digital Link URIs."""
    text = str(value).strip()  # True / False as the reference spells them
    if "urn:epcglobal:cbv:" in text:
        for name, web in _URN_VOCAB.items():
            text = text.replace(f"urn:epcglobal:cbv:{name}:", _CBV + web)
    text = _number(text)
    return digital_link(text) if text.startswith("urn:epc:") else text


def _expand(key: str, prefixes: dict[str, str]) -> str:
    """An extension member's name as ``{namespace}local``."""
    if key.startswith("http://") or key.startswith("https://"):
        cut = max(key.rfind("/"), key.rfind("#")) + 1
        return "{" + key[:cut] + "}" + key[cut:]
    prefix, _, local = key.partition(":")
    namespace = prefixes.get(prefix) or _STANDARD_PREFIXES.get(prefix)
    if not local or namespace is None:
        raise ValueError(f"{key!r} is not a member of EPCIS nor of a declared namespace")
    return _braced(namespace, local)


@functools.lru_cache(maxsize=1024)
def _braced(namespace: str, local: str) -> str:
    return "{" + namespace + "}" + local


def _extension(key: str, value: Any, prefixes: dict[str, str]) -> list[str]:
    """The pre-hash substrings of one extension member (a list gives one substring per item)."""
    name = _expand(key, prefixes)
    if isinstance(value, list):
        return [text for item in value for text in _extension(key, item, prefixes)]
    if isinstance(value, dict):
        children = [text for k, v in value.items() if k not in ("@id", "@type") for text in _extension(k, v, prefixes)]
        return [name + "".join(sorted(children))]
    text = _scalar(value)
    return [f"{name}={text}" if text else name]


def _parties(entries: Any, member: str, web_prefix: str) -> str:
    texts = []
    for entry in entries if isinstance(entries, list) else []:
        kind = f"type={_vocab(_scalar(entry['type']), web_prefix)}" if "type" in entry else ""
        texts.append(kind + f"{member}={_scalar(entry[member])}")
    return "".join(sorted(texts))


def _quantities(entries: Any) -> str:
    texts = []
    for entry in entries:
        text = "quantityElement" + f"epcClass={_scalar(entry['epcClass'])}"
        if "quantity" in entry:
            text += f"quantity={_scalar(entry['quantity'])}"
        if "uom" in entry:
            text += f"uom={_scalar(entry['uom'])}"
        texts.append(text)
    return "".join(sorted(texts))


def pre_hash(event: dict[str, Any], prefixes: dict[str, str] | None = None) -> str:
    """The pre-hash string of ``event``; ``prefixes``: the CURIE prefixes its document's ``@context`` declares."""
    prefixes = {**_STANDARD_PREFIXES, **(prefixes or {})}
    for name in _UNSUPPORTED:
        if name in event:
            raise ValueError(f"{name} is not covered by this implementation")
    for place in ("readPoint", "bizLocation"):
        if isinstance(event.get(place), dict) and set(event[place]) - {"id"}:
            raise ValueError(f"extension members in {place} are not covered by this implementation")
    parts = [f"eventType={event['type']}", f"eventTime={_time(event['eventTime'])}",
             f"eventTimeZoneOffset={_scalar(event['eventTimeZoneOffset'])}"]
    if "certificationInfo" in event:
        parts.append(f"certificationInfo={_scalar(event['certificationInfo'])}")
    for name in _ORDERED:
        if name not in event:
            continue
        value = event[name]
        if name in ("epcList", "inputEPCList", "childEPCs", "outputEPCList"):
            parts.append(name + "".join(sorted(f"epc={_scalar(epc)}" for epc in value)))
        elif name.endswith("uantityList"):
            parts.append(name + _quantities(value))
        elif name == "bizStep":
            parts.append(f"bizStep={_vocab(_scalar(value), 'BizStep-')}")
        elif name == "disposition":
            parts.append(f"disposition={_vocab(_scalar(value), 'Disp-')}")
        elif name == "persistentDisposition":
            sets = [f"{key}={_vocab(_scalar(v), 'Disp-')}" for key in ("set", "unset") for v in value.get(key, [])]
            parts.append(name + "".join(sets))
        elif name in ("readPoint", "bizLocation"):
            parts.append(f"{name}id={_scalar(value['id'])}")
        elif name == "bizTransactionList":
            parts.append(name + _parties(value, "bizTransaction", "BTT-"))
        elif name == "destinationList":
            parts.append(name + _parties(value, "destination", "SDT-"))
        elif name == "ilmd":
            parts.append(name + "".join(sorted(t for k, v in value.items() for t in _extension(k, v, prefixes))))
        else:
            parts.append(f"{name}={_scalar(value)}")
    tail = []
    for key, value in event.items():
        if key in _KNOWN:
            continue
        if isinstance(value, (dict, list)):
            tail += _extension(key, value, prefixes)
        else:  # most extension members: one scalar, written here without the general walk
            text = _scalar(value)
            name = _expand(key, prefixes)
            tail.append(f"{name}={text}" if text else name)
    if "sourceList" in event:
        tail.append("sourceList" + _parties(event["sourceList"], "source", "SDT-"))
    parts.extend(sorted(tail))
    return "".join(parts)


def event_hash_id(event: dict[str, Any], prefixes: dict[str, str] | None = None) -> str:
    """``ni:///sha-256;<hex>?ver=CBV2.0`` (RFC 6920 named information) of ``event``'s pre-hash string."""
    digest = hashlib.sha256(pre_hash(event, prefixes).encode("utf-8")).hexdigest()
    return f"ni:///sha-256;{digest}?ver={CBV_VERSION}"
