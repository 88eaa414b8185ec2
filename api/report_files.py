"""A periodic report (``ledger.reports``) as a workbook with Excel charts and as a PDF with a bar chart.

Both in Chinese, built from the same tables: the title, cases new / closed / overdue by
finding kind and by district, enterprise colours at the period's start and end with the enterprises
whose colour changed, each enterprise's cases opened and closed in the period, and the size of each
risk list (docs/reports.md).
"""

from __future__ import annotations

import io
from datetime import timedelta
from typing import Any

import xlsxwriter
from reportlab.lib.pagesizes import A4
from reportlab.lib.units import mm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.cidfonts import UnicodeCIDFont
from reportlab.pdfgen.canvas import Canvas

from ledger.reports import Report, worsened
from scanners.fonts import pdf_font_name

from .districts import district_label
from .pages.i18n import Translator

__all__ = ["tables", "title", "to_xlsx", "to_pdf", "PERIOD_NAMES"]

PERIOD_NAMES = {"day": "日报", "week": "周报", "month": "月报"}
COUNTS = ("新增", "关闭", "超期")
COLOUR_COUNTS = ("期初企业数", "期末企业数")  # enterprises of each colour when the period began and ended
CHANGES = "风险等级变化"
T = Translator("zh")


def title(report: Report) -> str:
    p = report.period
    span = p.first.isoformat() if p.first == p.last else f"{p.first.isoformat()} 至 {p.last.isoformat()}"
    where = f"{district_label(report.region)}（{report.region}）" if report.region else "全市"
    return f"气瓶安全监管{PERIOD_NAMES[p.kind]} · {where} · {span}"


def tables(report: Report) -> list[tuple[str, list[str], list[list[Any]]]]:
    """(sheet name, headers, rows) for each table, the same in both files."""
    def counts(**which: str) -> list[int]:
        return [report.by(c, **which) for c in (report.new, report.closed, report.overdue)]
    kinds = [[T.term("finding", k), *counts(kind=k)] for k in report.kinds()]
    kinds.append(["合计", *counts()])
    districts = [[district_label(r) if r else "未标区县", r or "—", *counts(region=r)] for r in report.regions()]
    districts.append(["合计", "", *counts()])
    colours = [[T.term("colour", c), report.colours_before.get(c, 0), report.colours.get(c, 0)]
               for c in ("red", "yellow", "green")]

    def named(e: dict[str, Any]) -> list[Any]:
        return [e["party"]["name"], e["party"]["id"], district_label(e["party"]["region"])]

    def before(e: dict[str, Any]) -> str:
        return T.term("colour", e["colour_before"]) if e["colour_before"] else "本期新登记"

    firms = [[*named(e), before(e), T.term("colour", e["colour"]), e["score"], e["cylinders"], e["opened"],
              e["closed"]] for e in report.enterprises]
    changes = [[*named(e), before(e), T.term("colour", e["colour"]), "上升" if worsened(e) else "下降"]
               for e in report.changes]
    risk = [[T.term("reason", reason), n] for reason, n in report.risk.items()]
    return [
        ("按问题类型", ["问题类型", *COUNTS], kinds),
        ("按区县", ["区县", "行政区划代码", *COUNTS], districts),
        ("企业风险等级", ["风险等级", *COLOUR_COUNTS], colours),
        (CHANGES, ["企业名称", "企业编号", "区县", "期初风险等级", "期末风险等级", "风险变化"], changes),
        ("企业明细", ["企业名称", "企业编号", "区县", "期初风险等级", "期末风险等级", "期末风险得分", "在管气瓶",
                  "本期新增问题", "本期关闭问题"], firms),
        ("风险清单", ["风险类别", "气瓶数"], risk),
    ]


def _made(report: Report) -> str:
    return (report.made_at + timedelta(hours=8)).strftime("生成于 %Y-%m-%d %H:%M（北京时间）")


def to_xlsx(report: Report) -> bytes:
    """One sheet per table: title row, frozen bold header, set widths; native column charts beside the counts."""
    out = io.BytesIO()
    book = xlsxwriter.Workbook(out, {"in_memory": True, "strings_to_formulas": False, "strings_to_urls": False})
    heading = book.add_format({"bold": True, "font_size": 12})
    header = book.add_format({"bold": True, "bg_color": "#E8EEF4", "border": 1, "text_wrap": True, "valign": "vcenter"})
    for name, headers, rows in tables(report):
        sheet = book.add_worksheet(name)
        sheet.write(0, 0, f"{title(report)} · {name} · {_made(report)}", heading)
        sheet.write_row(1, 0, headers, header)
        for number, row in enumerate(rows, start=2):
            sheet.write_row(number, 0, row)
        for column, text in enumerate(headers):
            sheet.set_column(column, column, 26 if column == 0 else max(10, 2 * len(text) + 2))
        sheet.set_row(1, 30)
        sheet.freeze_panes(2, 0)
        numbers = [i for i, h in enumerate(headers) if h in COUNTS or h in COLOUR_COUNTS or h == "气瓶数"]
        data = [r for r in rows if r[0] != "合计"]
        if numbers and data:
            chart = book.add_chart({"type": "column"})
            for column in numbers:
                chart.add_series({"name": [name, 1, column], "categories": [name, 2, 0, 1 + len(data), 0],
                                  "values": [name, 2, column, 1 + len(data), column]})
            chart.set_title({"name": name})
            chart.set_legend({"position": "bottom"})
            sheet.insert_chart(1, len(headers) + 1, chart)
    book.close()
    return out.getvalue()


def _font() -> str:
    """The name of a registered CJK font: the TrueType one ``scanners.fonts`` finds, embedded as a subset,
    as on the label sheets; else Adobe's CID font every PDF reader ships with."""
    embedded = pdf_font_name()
    if embedded is not None:
        return embedded
    if "STSong-Light" not in pdfmetrics.getRegisteredFontNames():
        pdfmetrics.registerFont(UnicodeCIDFont("STSong-Light"))
    return "STSong-Light"


def _fit(text: str, width: float, size: float) -> str:
    """``text`` cut to what fits ``width`` points, counting a Chinese character as a full em."""
    room = width / size
    for end in range(len(text), 0, -1):
        if sum(1 if ord(ch) > 0x2E80 else 0.55 for ch in text[:end]) <= room:
            return text[:end]
    return ""


class _Page:
    def __init__(self, canvas: Canvas, font: str) -> None:
        self.canvas, self.font, self.y = canvas, font, A4[1] - 18 * mm

    def need(self, height: float) -> None:
        if self.y - height < 15 * mm:
            self.canvas.showPage()
            self.y = A4[1] - 18 * mm

    def text(self, line: str, size: float = 9, x: float = 15 * mm) -> None:
        self.need(size * 1.6)
        self.canvas.setFont(self.font, size)
        self.canvas.drawString(x, self.y, line)
        self.y -= size * 1.6

    def table(self, headers: list[str], rows: list[list[Any]]) -> None:
        widths = [55 * mm] + [(A4[0] - 85 * mm) / max(1, len(headers) - 1)] * (len(headers) - 1)
        size = 8 if len(headers) <= 5 else 6.5  # the enterprises' eight columns in a narrower hand
        for row in [headers, *rows]:
            self.need(12)
            self.canvas.setFont(self.font, size)
            x = 15 * mm
            for column, (width, cell) in enumerate(zip(widths, row)):
                self.canvas.drawString(x, self.y, _fit(str(cell), width - 2, size) if column else str(cell)[:18])
                x += width
            self.y -= 12

    def bars(self, labels: list[str], series: list[list[int]], names: list[str]) -> None:
        """Grouped horizontal bars, one group per label, drawn with the canvas."""
        colours = ((0.36, 0.44, 0.84), (0.5, 0.69, 0.56), (0.7, 0.15, 0.12))
        top = max([1, *(v for s in series for v in s)])
        bar, gap, left, span = 4, 5, 60 * mm, A4[0] - 90 * mm
        self.need(len(labels) * (bar * len(series) + gap) + 20)
        c = self.canvas
        for i, name in enumerate(names):
            c.setFillColorRGB(*colours[i])
            c.rect(left + i * 30 * mm, self.y, 6, 6, stroke=0, fill=1)
            c.setFillGray(0)
            c.setFont(self.font, 8)
            c.drawString(left + i * 30 * mm + 9, self.y, name)
        self.y -= 12
        for label, values in zip(labels, zip(*series)):
            c.setFillGray(0)
            c.setFont(self.font, 8)
            c.drawRightString(left - 4, self.y - bar * len(series) / 2 - 2, label[:16])
            for i, value in enumerate(values):
                self.y -= bar
                c.setFillColorRGB(*colours[i])
                c.rect(left, self.y, span * value / top, bar - 0.5, stroke=0, fill=1)
                c.setFillGray(0)
                c.setFont("Helvetica", 6)
                c.drawString(left + span * value / top + 2, self.y + 0.5, str(value))
            self.y -= gap
        self.y -= 6


def to_pdf(report: Report) -> bytes:
    out = io.BytesIO()
    canvas = Canvas(out, pagesize=A4, pageCompression=1)
    canvas.setTitle(title(report))
    canvas.setCreator("cylinder-ledger")
    page = _Page(canvas, _font())
    page.text(title(report), 14)
    page.text(_made(report), 8)
    for name, headers, rows in tables(report):
        page.y -= 6
        page.text(name, 11)
        if name in ("按问题类型", "按区县"):
            data = [r for r in rows if r[0] != "合计"]
            first = len(headers) - 3
            if data:
                page.bars([r[0] for r in data], [[r[first + i] for r in data] for i in range(3)], list(COUNTS))
        if name == CHANGES and not rows:
            page.text("本期没有企业的风险等级发生变化。", 8)
            continue
        page.table(headers, rows)
    canvas.showPage()
    canvas.save()
    return out.getvalue()
