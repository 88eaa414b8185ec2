"""What goes into the regulator's spreadsheets: risk lists and findings as people read them.

Parties by name with their ids in a column of their own, districts by name beside
their codes, states, kinds and statuses in the language, times in China Standard
Time to the second, each finding's sentence from its evidence (docs/regulator.md).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime, timezone
from typing import Any

from fastapi import Response

from .districts import district_label, district_name
from .export import CSV, XLSX, Column, to_csv, to_xlsx
from .pages.evidence import describe
from .pages.gather import directory
from .pages.i18n import LOCAL, Translator

__all__ = ["RISK", "RISK_FOUND", "UNREGISTERED", "FINDINGS", "risk_rows", "finding_rows", "every_finding", "findings_file", "title", "local", "sheet_file",
           "party_names"]

OPEN = ("open", "dispatched", "handled")
EXPORT_LIMIT = 100_000  # rows in one spreadsheet, as for risk lists
C = Column
RISK = (
    C("cylinder", "气瓶编码", "Cylinder", 15), C("reason", "风险类别", "Risk", 16),
    C("owner_name", "产权单位", "Owner", 26), C("owner", "产权单位编号", "Owner id", 13),
    C("district", "区县", "District", 12), C("region", "行政区划代码", "Region code", 13),
    C("model", "型号", "Model", 9), C("serial", "出厂编号", "Serial", 16), C("state", "状态", "State", 14),
    C("holder_name", "当前持有方", "Holder", 26), C("holder", "持有方编号", "Holder id", 13),
    C("next_inspection_due", "下次检验日期", "Inspection due", 13, "day"),
    C("life_ends_on", "使用年限截止日", "Service life ends", 14, "day"),
    C("last_event_at", "最近记录时间", "Last event", 20, "time"),
)
# The lists made of findings add which findings, of what kind, in which status.
RISK_FOUND = RISK + (
    C("finding", "问题编号", "Findings", 12), C("finding_kind", "问题类型", "Finding kinds", 22),
    C("status", "处置状态", "Status", 12),
)
UNREGISTERED = (
    C("cylinder", "扫描到的编码", "Code scanned", 15), C("reason", "风险类别", "Risk", 18),
    C("scanned_by_name", "扫描单位", "Scanned by", 26), C("scanned_by", "扫描单位编号", "Scanner id", 13),
    C("district", "区县", "District", 12), C("region", "行政区划代码", "Region code", 13),
    C("detected_at", "发现时间", "Detected", 20, "time"), C("finding", "问题编号", "Finding", 10),
    C("status", "处置状态", "Status", 12),
)
FINDINGS = (
    C("id", "问题编号", "Finding", 10), C("kind", "问题类型", "Kind", 18), C("severity", "严重程度", "Severity", 10),
    C("status", "处置状态", "Status", 12), C("cylinder", "气瓶编码", "Cylinder", 15),
    C("party_name", "责任单位", "Responsible party", 26), C("party", "责任单位编号", "Party id", 13),
    C("district", "区县", "District", 12), C("region", "行政区划代码", "Region code", 13),
    C("detected_at", "发现时间", "Detected", 20, "time"), C("note", "情况说明", "What was found", 60),
    C("last_step", "最近一步", "Last step", 12), C("last_step_at", "最近一步时间", "Last step at", 20, "time"),
)
FOUND_KINDS = {"open_findings": None, "broken_chain": ("chain_tampered", "sequence_gap"),
               "vanished": ("vanished",), "short_weight": ("short_weight",)}


def local(value: Any) -> datetime | None:
    """A ledger time (UTC text) as China Standard Time, to the second, without a zone (as Excel keeps it)."""
    if not value:
        return None
    moment = value if isinstance(value, datetime) else datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(LOCAL).replace(tzinfo=None, microsecond=0)


def _day(value: Any) -> date | None:
    return date.fromisoformat(value) if isinstance(value, str) and value else value or None


def title(t: Translator, what: str, filters: dict[str, Any], names: dict[str, str]) -> str:
    """``风险清单：超期未检 · 导出于 2026-12-07 02:34:56（北京时间） · 区县：西湖区（330106）``."""
    parts = [what, t("sheet.exported", at=local(datetime.now(timezone.utc)).strftime("%Y-%m-%d %H:%M:%S"))]
    shown = {
        "region": lambda v: f"{district_label(v)}（{v}）" if t.lang == "zh" else f"{district_label(v)} ({v})",
        "owner": lambda v: names.get(v, v), "party": lambda v: names.get(v, v), "kind": lambda v: t.term("finding", v),
        "status": lambda v: t("status.active") if isinstance(v, tuple) else t.term("status", v), "cylinder": str,
    }
    for key, show in shown.items():
        if filters.get(key):
            colon = "：" if t.lang == "zh" else ": "
            parts.append(f"{t('sheet.filter.' + key)}{colon}{show(filters[key])}")
    if len(parts) == 2:
        parts.append(t("sheet.no_filter"))
    return " · ".join(parts)


def party_names(ledger, connection) -> dict[str, str]:
    return {pid: party.name for pid, party in directory(ledger, connection).items()}


def risk_rows(ledger, connection, items: list[dict[str, Any]], reason: str, t: Translator) -> list[dict[str, Any]]:
    names = party_names(ledger, connection)
    found = _open_by_cylinder(ledger, connection, FOUND_KINDS[reason]) if reason in FOUND_KINDS else {}
    rows = []
    for item in items:
        row = {**item, "reason": t.term("reason", reason), "district": district_name(item.get("region")),
               "owner_name": names.get(item.get("owner")), "holder_name": names.get(item.get("holder")),
               "scanned_by_name": names.get(item.get("scanned_by")),
               "state": t.term("state", item["state"]) if item.get("state") else None,
               "next_inspection_due": _day(item.get("next_inspection_due")),
               "life_ends_on": _day(item.get("life_ends_on")),
               "last_event_at": local(item.get("last_event_at")), "detected_at": local(item.get("detected_at"))}
        if reason == "unregistered":
            row["status"] = t.term("status", item["status"])
        elif reason in FOUND_KINDS:
            mine, joined = found.get(item["cylinder"], []), "、" if t.lang == "zh" else ", "
            row["finding"] = " ".join(f"#{f['id']}" for f in mine)
            row["finding_kind"] = joined.join(dict.fromkeys(t.term("finding", f["kind"]) for f in mine))
            row["status"] = joined.join(dict.fromkeys(t.term("status", f["status"]) for f in mine))
        rows.append(row)
    return rows


def _open_by_cylinder(ledger, connection, kinds) -> dict[str, list[dict[str, Any]]]:
    """Open findings (not yet closed by people nor explained) by cylinder, oldest first."""
    found: dict[str, list[dict[str, Any]]] = {}
    for status in OPEN:
        cursor = None
        while True:
            page = ledger.findings(connection, status=status, cursor=cursor, limit=1000)
            for f in page["items"]:
                if f["cylinder"] and (kinds is None or f["kind"] in kinds):
                    found.setdefault(f["cylinder"], []).append(f)
            if (cursor := page["next_cursor"]) is None:
                break
    for mine in found.values():
        mine.sort(key=lambda f: f["id"])
    return found


def finding_rows(ledger, connection, items: list[dict[str, Any]], t: Translator) -> list[dict[str, Any]]:
    names = party_names(ledger, connection)
    rows = []
    for f in items:
        last = f["history"][-1] if f["history"] else None
        rows.append({
            "id": f["id"], "kind": t.term("finding", f["kind"]), "severity": t.term("severity", f["severity"]),
            "status": t.term("status", f["status"]), "cylinder": f["cylinder"], "party": f["party"],
            "party_name": names.get(f["party"]), "district": district_name(f["region"]), "region": f["region"],
            "detected_at": local(f["detected_at"]), "note": describe(f.get("evidence"), t, names) or t.note(f["note"], names),
            "last_step": t.term("action", last["action"]) if last else None, "last_step_at": local(last["at"]) if last else None,
        })
    return rows


def every_finding(ledger, connection, **filters: Any) -> list[dict[str, Any]]:
    """Every finding the filters select, newest first (``gather.all_findings`` pages the same way)."""
    items: list[dict[str, Any]] = []
    cursor = None
    while len(items) < EXPORT_LIMIT:
        page = ledger.findings(connection, **filters, cursor=cursor, limit=1000)
        items += page["items"]
        if (cursor := page["next_cursor"]) is None:
            break
    return items


def sheet_file(rows: list[dict[str, Any]], columns: Sequence[Column], *, file_format: str, name: str, sheet: str,
               heading: str, lang: str) -> Response:
    """The rows as a CSV or XLSX download named ``<name>-<local time>.<format>``."""
    if file_format == "csv":
        content, media = to_csv(rows, columns, lang), CSV
    else:
        content, media = to_xlsx(rows, columns, sheet=sheet, title=heading, lang=lang), XLSX
    stamp = local(datetime.now(timezone.utc)).strftime("%Y%m%d-%H%M")
    return Response(content, media_type=media,
                    headers={"Content-Disposition": f'attachment; filename="{name}-{stamp}.{file_format}"'})


def findings_file(ledger, connection, filters: dict[str, Any], file_format: str, lang: str) -> Response:
    """Every finding ``filters`` select as a spreadsheet, newest first."""
    t = Translator(lang)
    items = every_finding(ledger, connection, **filters)
    names = party_names(ledger, connection)
    return sheet_file(finding_rows(ledger, connection, items, t), FINDINGS, file_format=file_format, name="findings",
                      sheet=t("sheet.findings"), heading=title(t, t("sheet.findings"), filters, names), lang=lang)
