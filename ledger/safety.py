"""The home safety check at delivery (入户安检): its items, a city's own list, and the check's shape.

A ``deliver`` event's data may carry ``safety_check``:
``{"items": {CODE: "ok" | "fail" | "n/a"}, "photos": [SHA-256, ...]}``. The chain keeps
only these codes and results and the photos' digests; the photos themselves are stored
beside it (``ledger.photos``). Which items there are, their names and how serious a
failure is come from a ``Checklist``: ``DEFAULT_ITEMS`` below, or a city's JSON file
named by ``LEDGER_SAFETY_ITEMS`` (docs/custody.md "The home safety check").
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any, Mapping

from .domain import Severity
from .errors import InvalidInput

__all__ = ["SafetyItem", "Checklist", "DEFAULT_ITEMS", "RESULTS", "MAX_PHOTOS", "check_shape", "load"]

RESULTS = ("ok", "fail", "n/a")
MAX_PHOTOS = 3
MAX_ITEMS = 40
_CODE = re.compile(r"[a-z][a-z0-9_]{0,39}")
_SHA256 = re.compile(r"[0-9a-f]{64}")

_REGULATIONS = "《城镇燃气管理条例》(国务院令第583号) 第十七条"
_GB50028 = "GB 50028-2006《城镇燃气设计规范》 (users' appliances and LPG cylinder supply)"
_GB55009 = "GB 55009-2021《燃气工程项目规范》"
_OURS = "our default (common practice of bottled-gas companies' 入户安检 forms)"


@dataclass(frozen=True, slots=True)
class SafetyItem:
    """One thing a delivery worker checks at the door; ``severity`` is a failure's finding severity."""

    code: str
    zh: str
    en: str
    severity: Severity
    source: str

    def as_dict(self) -> dict[str, str]:
        return {"code": self.code, "name_zh": self.zh, "name_en": self.en, "severity": self.severity.value,
                "source": self.source}


def _item(code: str, zh: str, en: str, severity: str, source: str) -> SafetyItem:
    return SafetyItem(code, zh, en, Severity(severity), source)


# The checklist when a city gives none; sources in docs/custody.md "The home safety check".
DEFAULT_ITEMS: tuple[SafetyItem, ...] = (
    _item("gas_leak", "无燃气泄漏（嗅闻、肥皂水检漏）", "no gas leak (smell, soap-water test)", "critical",
          f"{_REGULATIONS}; {_GB55009}"),
    _item("not_underground", "未在地下室、半地下室等禁用场所使用", "not used in a basement or semi-basement",
          "critical", f"{_GB50028}; {_GB55009}"),
    _item("hose_condition", "连接软管无老化、龟裂、鼓包", "hose not aged, cracked or bulging", "high", _GB50028),
    _item("hose_age", "连接软管在使用年限内", "hose within its service life", "medium", _OURS),
    _item("hose_routing", "软管长度不超过2米、无接头、不穿墙", "hose at most 2 m, no joints, not through walls",
          "medium", _GB50028),
    _item("regulator", "减压阀完好、与气瓶连接紧固", "pressure regulator sound and tight on the valve", "high",
          _GB50028),
    _item("gas_alarm", "燃气泄漏报警器已安装且工作正常", "gas alarm present and working", "high",
          "《全国城镇燃气安全专项整治工作方案》(2023) for catering premises; our default for households"),
    _item("ventilation", "使用场所通风良好", "room well ventilated", "high", _GB50028),
    _item("upright_away_from_heat", "气瓶直立放置、远离热源和明火", "cylinder upright, away from heat and flames",
          "high", _GB50028),
    _item("no_second_cylinder", "室内无第二只气瓶", "no second cylinder indoors", "medium", _GB50028),
    _item("flame_failure_device", "灶具有熄火保护装置", "stove has a flame-failure device", "medium",
          "GB 16410《家用燃气灶具》"),
)


class Checklist:
    """A city's checklist: its items by code, in the order a worker goes through them."""

    def __init__(self, items: tuple[SafetyItem, ...] = DEFAULT_ITEMS) -> None:
        if not items:
            raise ValueError("a safety checklist needs at least one item")
        self.items = tuple(items)
        self.by_code: Mapping[str, SafetyItem] = MappingProxyType({item.code: item for item in items})
        if len(self.by_code) != len(items):
            raise ValueError("a safety checklist names each item code once")

    def __iter__(self):
        return iter(self.items)

    def severity(self, code: str) -> Severity:
        """A failed item's severity; an item a city has since dropped counts as medium (the event stays)."""
        item = self.by_code.get(code)
        return item.severity if item else Severity.MEDIUM

    def in_order(self, codes) -> list[str]:
        """``codes`` in the checklist's order (a dropped item last), whatever order they were recorded in."""
        place = {item.code: index for index, item in enumerate(self.items)}
        return sorted(codes, key=lambda code: (place.get(code, len(place)), code))

    def critical(self, code: str) -> bool:
        return self.severity(code) is Severity.CRITICAL

    def check_known(self, check: Mapping[str, Any]) -> None:
        """Raise ``InvalidInput`` naming the first item code this checklist does not have."""
        for code in check["items"]:
            if code not in self.by_code:
                raise InvalidInput(f"data.safety_check.items.{code} is not an item of this city's checklist "
                                   "(the safety check's item list)", field=f"data.safety_check.items.{code}")


def check_shape(value: Any) -> dict[str, Any]:
    """``value`` if it is a safety check's shape (a closed object; codes, results and digests as documented),
    else raise ``InvalidInput`` naming the field. Which codes exist is the checklist's to say."""
    field = "data.safety_check"
    if not isinstance(value, dict):
        raise InvalidInput(f"{field} must be an object with items (and photos)", field=field)
    for key in value:
        if key not in ("items", "photos"):
            shown = key if isinstance(key, str) and key.isprintable() and len(key) <= 40 else "?"
            raise InvalidInput(f"{field}.{shown} is not part of a safety check (its keys: items, photos)",
                               field=f"{field}.{shown}")
    items = value.get("items")
    if not isinstance(items, dict) or not items:
        raise InvalidInput(f"{field}.items must name at least one item and its result", field=f"{field}.items")
    if len(items) > MAX_ITEMS:
        raise InvalidInput(f"{field}.items may name at most {MAX_ITEMS} items", field=f"{field}.items")
    for code, result in items.items():
        if not _CODE.fullmatch(code):
            raise InvalidInput(f"{field}.items: an item code is 1-40 lower-case letters, digits or _",
                               field=f"{field}.items")
        if result not in RESULTS:
            raise InvalidInput(f"{field}.items.{code} must be ok, fail or n/a", field=f"{field}.items.{code}")
    photos = value.get("photos", [])
    if not isinstance(photos, list) or len(photos) > MAX_PHOTOS or not all(
            isinstance(p, str) and _SHA256.fullmatch(p) for p in photos):
        raise InvalidInput(f"{field}.photos must list at most {MAX_PHOTOS} photos by their SHA-256 "
                           "(lower-case hex, as the photo upload answers)", field=f"{field}.photos")
    if len(set(photos)) != len(photos):
        raise InvalidInput(f"{field}.photos names a photo twice", field=f"{field}.photos")
    return value


def load(path: Path | None) -> Checklist:
    """The checklist in ``path`` (a JSON list of {code, name_zh, name_en, severity, source}), or the default."""
    if path is None:
        return Checklist()
    try:
        raw = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise ValueError(f"LEDGER_SAFETY_ITEMS: cannot read {path}: {error}") from None
    if not isinstance(raw, list):
        raise ValueError("LEDGER_SAFETY_ITEMS: the file must hold a JSON list of items")
    items = []
    for number, entry in enumerate(raw, 1):
        try:
            code, zh, en, severity, source = (entry[k] for k in ("code", "name_zh", "name_en", "severity", "source"))
            if not (isinstance(code, str) and _CODE.fullmatch(code)) or not all(
                    isinstance(text, str) and text.strip() for text in (zh, en, source)):
                raise ValueError
            items.append(SafetyItem(code, zh.strip(), en.strip(), Severity(severity), source.strip()))
        except (KeyError, TypeError, ValueError):
            raise ValueError(f"LEDGER_SAFETY_ITEMS: item {number} needs code (a-z, 0-9, _), name_zh, name_en, "
                             "severity (critical, high, medium, low) and source") from None
    return Checklist(tuple(items))


# The rectification notice (整改通知) an ``unsafe_installation`` finding gives the end user.
_NOTICE = {
    "zh": ("燃气安全隐患整改通知书", "用户编号：{to}", "检查单位：{party}", "检查时间：{at}（北京时间）",
           "入户安全检查发现以下问题：", "请在下次送气前整改完毕。下次送气时送气工将复查，复查合格后方可继续供气。",
           "发现燃气泄漏时：立即关闭气瓶阀门，开窗通风，不要开关电器、不要使用明火，到室外拨打燃气企业或119电话。",
           "本通知由燃气供应单位出具，不含用户个人信息。", "服务电话：{hotline}", "（{severity}）",
           "通知编号：{id}"),
    "en": ("Notice to put right a gas safety hazard", "User ref: {to}", "Checked by: {party}",
           "Checked at: {at} (China Standard Time)", "The home safety check found:",
           "Please put these right before your next delivery. The delivery worker re-checks them then; "
           "gas is supplied again once they pass.",
           "If you smell gas: close the cylinder valve, open the windows, do not touch electric switches or "
           "flames, and call the gas company or 119 from outside.",
           "Issued by the gas supplier; it carries no personal data of the user.", "Service phone: {hotline}",
           " ({severity})", "Notice no. {id}"),
}
_SEVERITY_WORDS = {"zh": {"critical": "严重", "high": "高", "medium": "中", "low": "低"},
                   "en": {"critical": "critical", "high": "high", "medium": "medium", "low": "low"}}


def rectification_notice(finding: Mapping[str, Any], checklist: Checklist, *, lang: str, party_name: str,
                         local_time: str, hotline: str = "") -> str:
    """The printable notice of an ``unsafe_installation`` finding, in ``lang`` (zh or en): which items failed,
    what to do, that the next delivery re-checks them. Names only the opaque user ref, never a person."""
    (title, user, by, when, found, put_right, leak, no_data, phone, level, number) = _NOTICE[lang]
    evidence = finding.get("evidence") or {}
    lines = [title, "", number.format(id=finding["id"]), user.format(to=evidence.get("to") or "—"),
             by.format(party=party_name), when.format(at=local_time), "", found]
    for index, item in enumerate(evidence.get("items") or (), 1):
        code = item[0]
        name = item[1] if lang == "zh" else item[2]
        severity = _SEVERITY_WORDS[lang][checklist.severity(code).value]
        lines.append(f"  {index}. {name}{level.format(severity=severity)}")
    lines += ["", put_right, leak, ""]
    if hotline:
        lines.append(phone.format(hotline=hotline))
    lines.append(no_data)
    return "\n".join(lines) + "\n"
