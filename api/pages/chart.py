"""The findings-over-time chart: geometry computed here, drawn as inline SVG by templates/_chart.html.

No chart library and no script: a stacked bar per day, one colour per
severity, a <title> on every bar for its numbers, so the page stays small and
reads the same with scripts off or through a screen reader.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass
from datetime import date

__all__ = ["Chart", "stacked_bars", "SEVERITIES"]

SEVERITIES = ("critical", "high", "medium", "low")  # bottom of each bar first
# Narrow enough that the labels stay legible when a phone shrinks it to its width.
WIDTH, HEIGHT = 400, 210
LEFT, RIGHT, TOP, BOTTOM = 28, 6, 8, 24
# Labels are drawn in the chart's own units, so they grow and shrink with it; site.css bounds the drawn
# width (.chart, 20-34rem), which keeps a 12-unit label between about 10 and 16 CSS pixels.
FONT = 12
MAX_WIDTH_REM = 34


@dataclass(frozen=True)
class Segment:
    x: float
    y: float
    width: float
    height: float
    severity: str


@dataclass(frozen=True)
class Bar:
    day: date
    total: int
    counts: dict[str, int]
    segments: list[Segment]


@dataclass(frozen=True)
class Chart:
    width: int
    height: int
    bars: list[Bar]
    ticks: list[tuple[float, int]]  # (y, value)
    labels: list[tuple[float, str, str]]  # (x, text, text-anchor)
    left: int
    right_edge: int
    baseline: float
    total: int
    first: date
    last: date
    font: int = FONT


def nice_ceiling(value: int) -> tuple[int, int]:
    """An axis top at least ``value`` and its tick step, from 1, 2, 5 x 10^k, with at most 5 steps."""
    if value <= 0:
        return 1, 1
    for exponent in range(0, 10):
        for base in (1, 2, 5):
            step = base * 10 ** exponent
            if math.ceil(value / step) <= 5:
                return math.ceil(value / step) * step, step
    return value, value


def stacked_bars(days: list[date], per_day: dict[date, Counter]) -> Chart:
    plot_width, plot_height = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    totals = [sum(per_day[day].values()) for day in days]
    top, step = nice_ceiling(max(totals, default=0))
    slot = plot_width / max(len(days), 1)
    bar_width = max(slot * 0.72, 1.0)
    baseline = TOP + plot_height
    bars = []
    for index, day in enumerate(days):
        x = LEFT + index * slot + (slot - bar_width) / 2
        y = baseline
        segments = []
        for severity in SEVERITIES:
            count = per_day[day].get(severity, 0)
            if count:
                height = count / top * plot_height
                y -= height
                segments.append(Segment(round(x, 2), round(y, 2), round(bar_width, 2), round(height, 2), severity))
        bars.append(Bar(day, totals[index], {s: per_day[day].get(s, 0) for s in SEVERITIES}, segments))
    ticks = [(round(baseline - value / top * plot_height, 2), value) for value in range(0, top + 1, step)]
    every = max(1, math.ceil(len(days) / 5))
    labels = []
    for i, day in enumerate(days):
        if (len(days) - 1 - i) % every == 0:
            x = LEFT + i * slot + slot / 2
            # the last day's label ends at its bar, so the right edge never cuts it
            labels.append((round(min(x + slot / 2, WIDTH - RIGHT), 2), day.strftime("%m-%d"), "end")
                          if i == len(days) - 1 else (round(x, 2), day.strftime("%m-%d"), "middle"))
    return Chart(WIDTH, HEIGHT, bars, ticks, labels, LEFT, WIDTH - RIGHT, baseline, sum(totals),
                 days[0] if days else date.today(), days[-1] if days else date.today())
