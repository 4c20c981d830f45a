"""Overlaid metric curves of several runs: one server-rendered SVG, x = step.

Reuses the axis ticks and per-column point reduction of ``triops.ui.charts``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from markupsafe import Markup, escape

from triops.ui.charts import nice_ticks, reduce_points

#: Distinguishable on white and for the common colour-vision deficiencies (Okabe-Ito).
PALETTE = ("#0072b2", "#d55e00", "#009e73", "#cc79a7", "#e69f00", "#56b4e9", "#000000",
           "#f0e442")
_LEFT, _RIGHT, _TOP, _BOTTOM = 64, 16, 14, 34


@dataclass(frozen=True)
class Series:
    label: str
    points: Sequence[tuple[float, float]]  # (step, value), sorted by step


def color_of(index: int) -> str:
    return PALETTE[index % len(PALETTE)]


def _fmt(value: float) -> str:
    return f"{value:.4g}"


def overlay_chart(series: Sequence[Series], *, width: int = 900, height: int = 260,
                  title: str = "") -> Markup:
    label = escape(title or "metric curves")
    finite = [(x, y) for s in series for x, y in s.points if math.isfinite(y)]
    if not finite:
        return Markup(f'<svg class="chart" role="img" aria-label="{label}" width="{width}" '
                      f'height="50" viewBox="0 0 {width} 50"><text x="16" y="30" '
                      'fill="#667085">no finite values</text></svg>')
    xs = [p[0] for p in finite]
    x0, x1 = min(xs), max(xs)
    if x1 <= x0:
        x1 = x0 + 1.0
    ticks = nice_ticks(min(p[1] for p in finite), max(p[1] for p in finite))
    y0, y1 = ticks[0], ticks[-1]
    plot_w, plot_h = width - _LEFT - _RIGHT, height - _TOP - _BOTTOM

    def sx(x: float) -> float:
        return _LEFT + (x - x0) / (x1 - x0) * plot_w

    def sy(y: float) -> float:
        return _TOP + plot_h - (y - y0) / ((y1 - y0) or 1.0) * plot_h

    parts = [f'<svg class="chart" role="img" aria-label="{label}" width="{width}" '
             f'height="{height}" viewBox="0 0 {width} {height}" '
             f'xmlns="http://www.w3.org/2000/svg">']
    for t in ticks:
        parts.append(f'<line x1="{_LEFT}" x2="{width - _RIGHT}" y1="{sy(t):.1f}" '
                     f'y2="{sy(t):.1f}" stroke="#eaecf0"/><text x="{_LEFT - 6}" '
                     f'y="{sy(t) + 4:.1f}" text-anchor="end" font-size="11" '
                     f'fill="#667085">{_fmt(t)}</text>')
    for t in nice_ticks(x0, x1, 6):
        if x0 <= t <= x1:
            parts.append(f'<text x="{sx(t):.1f}" y="{height - 16}" text-anchor="middle" '
                         f'font-size="11" fill="#667085">{_fmt(t)}</text>')
    parts.append(f'<text x="{_LEFT + plot_w / 2:.0f}" y="{height - 2}" text-anchor="middle" '
                 f'font-size="11" fill="#667085">step</text>')
    for i, s in enumerate(series):
        pts = [(x, y) for x, y in s.points if math.isfinite(y)]
        if not pts:
            continue
        shown = reduce_points(pts, plot_w)
        color = color_of(i)
        if len(shown) == 1:
            x, y = shown[0]
            parts.append(f'<circle cx="{sx(x):.1f}" cy="{sy(y):.1f}" r="3.5" fill="{color}">'
                         f'<title>{escape(s.label)}</title></circle>')
            continue
        path = " ".join(f"{sx(x):.1f},{sy(y):.1f}" for x, y in shown)
        parts.append(f'<polyline class="series" fill="none" stroke="{color}" '
                     f'stroke-width="1.6" points="{path}"><title>{escape(s.label)}</title>'
                     f'</polyline>')
    parts.append("</svg>")
    return Markup("".join(parts))
