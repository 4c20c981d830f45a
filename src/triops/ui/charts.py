"""Small server-rendered SVG charts: a time-series line chart with markers and an
optional forecast (line, interval band, thresholds and their expected crossings), a bar
chart.

No JavaScript and no third-party front-end code: the server draws the SVG, the page
embeds it. Long series are reduced to the minimum and maximum of each pixel column,
so spikes survive however many points there are.
"""

from __future__ import annotations

import bisect
import datetime as dt
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from markupsafe import Markup, escape

_PAD_LEFT, _PAD_RIGHT, _PAD_TOP, _PAD_BOTTOM = 64, 16, 14, 30


@dataclass(frozen=True)
class Marker:
    """A point of interest on the x axis: drawn as a dot on the line, optionally linked."""

    x: float
    label: str = ""
    href: str = ""


@dataclass(frozen=True)
class Threshold:
    """A horizontal line at ``value`` that the forecast reaches from below (``rising``) or
    from above; ``crossing_x`` is where it is expected to, drawn as a ring captioned
    ``caption``."""

    value: float
    label: str = ""
    crossing_x: float | None = None
    caption: str = ""
    rising: bool = True


@dataclass(frozen=True)
class Forecast:
    """The path after the series' last point: ``(x, mean, lo, hi)`` sorted by x."""

    points: Sequence[tuple[float, float, float, float]]
    thresholds: Sequence[Threshold] = ()


def nice_ticks(low: float, high: float, count: int = 5) -> list[float]:
    """Round tick values covering ``[low, high]``.

    >>> nice_ticks(0, 97)
    [0.0, 20.0, 40.0, 60.0, 80.0, 100.0]
    """
    if not (math.isfinite(low) and math.isfinite(high)):
        return []
    if high <= low:
        high = low + 1.0
    raw = (high - low) / max(count, 1)
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw)
    start = math.floor(low / step) * step
    ticks = []
    value = start
    while value < high + step * 0.999:
        ticks.append(float(round(value, 10)))
        value += step
    return ticks


def reduce_points(points: Sequence[tuple[float, float]], columns: int) -> list[tuple[float, float]]:
    """Keep first, min, max and last of each of ``columns`` x buckets, in x order."""
    if len(points) <= columns * 2:
        return list(points)
    x0, x1 = points[0][0], points[-1][0]
    span = (x1 - x0) or 1.0
    out: list[tuple[float, float]] = []
    bucket: list[tuple[float, float]] = []
    current = 0
    for p in points:
        col = min(int((p[0] - x0) / span * columns), columns - 1)
        if col != current and bucket:
            out.extend(_extremes(bucket))
            bucket = []
        current = col
        bucket.append(p)
    out.extend(_extremes(bucket))
    return out


def _extremes(bucket: list[tuple[float, float]]) -> list[tuple[float, float]]:
    keep = {0, len(bucket) - 1}
    keep.add(min(range(len(bucket)), key=lambda i: bucket[i][1]))
    keep.add(max(range(len(bucket)), key=lambda i: bucket[i][1]))
    return [bucket[i] for i in sorted(keep)]


def _time_label(ms: float, span_ms: float) -> str:
    moment = dt.datetime.fromtimestamp(ms / 1000, tz=dt.UTC)
    # Six labels a week or more apart each fall on a different day.
    if span_ms > 7 * 86_400_000:
        return moment.strftime("%m-%d")
    if span_ms > 86_400_000:
        return moment.strftime("%m-%d %H:%M")
    return moment.strftime("%H:%M:%S" if span_ms < 600_000 else "%H:%M")


def _fmt(value: float) -> str:
    return f"{value:.4g}"


def line_chart(
    points: Sequence[tuple[float, float]],
    markers: Sequence[Marker] = (),
    *,
    width: int = 960,
    height: int = 300,
    title: str = "",
    changes: Sequence[Marker] = (),
    forecast: Forecast | None = None,
) -> Markup:
    """An SVG line chart of ``(time_ms, value)`` points sorted by time, with markers,
    ``changes`` (deploys, promotions...) as dashed vertical lines with a flag, and a
    ``forecast`` drawn on past the last point (the time axis extends over it)."""
    label = escape(title or "line chart")
    if not points:
        return Markup(
            f'<svg class="chart" role="img" aria-label="{label}" width="{width}" height="60" '
            f'viewBox="0 0 {width} 60"><text x="16" y="34" fill="#667085">no points</text></svg>'
        )
    plot_w = width - _PAD_LEFT - _PAD_RIGHT
    plot_h = height - _PAD_TOP - _PAD_BOTTOM
    shown = reduce_points(points, plot_w)
    xs = [p[0] for p in points]
    ahead = _thin(forecast.points, plot_w) if forecast and forecast.points else []
    thresholds = forecast.thresholds if forecast else ()
    x0, x1 = xs[0], max(xs[-1], ahead[-1][0] if ahead else xs[-1])
    if x1 <= x0:
        x1 = x0 + 1.0
    ys = [p[1] for p in shown] + [y for p in ahead for y in p[1:]]
    ys += [t.value for t in thresholds]
    ticks = nice_ticks(min(ys), max(ys))
    y0, y1 = ticks[0], ticks[-1]

    def sx(x: float) -> float:
        return _PAD_LEFT + (x - x0) / (x1 - x0) * plot_w

    def sy(y: float) -> float:
        return _PAD_TOP + plot_h - (y - y0) / ((y1 - y0) or 1.0) * plot_h

    parts = [(
        f'<svg class="chart" role="img" aria-label="{label}" width="{width}" '
        f'height="{height}" viewBox="0 0 {width} {height}" xmlns="http://www.w3.org/2000/svg">'
    )]
    for t in ticks:
        y = sy(t)
        parts.append(f'<line x1="{_PAD_LEFT}" x2="{width - _PAD_RIGHT}" y1="{y:.1f}" '
                     f'y2="{y:.1f}" stroke="#eaecf0"/>')
        parts.append(f'<text x="{_PAD_LEFT - 6}" y="{y + 4:.1f}" text-anchor="end" '
                     f'font-size="11" fill="#667085">{_fmt(t)}</text>')
    for i in range(6):
        xv = x0 + (x1 - x0) * i / 5
        # The last label ends at the plot's edge rather than running off the image.
        anchor = "end" if i == 5 else "middle"
        parts.append(f'<text x="{sx(xv):.1f}" y="{height - 10}" text-anchor="{anchor}" '
                     f'font-size="11" fill="#667085">{_time_label(xv, x1 - x0)}</text>')
    if ahead:
        parts.append(_forecast_svg(points[-1], ahead, sx, sy, _PAD_TOP + plot_h))
    path = " ".join(f"{sx(x):.1f},{sy(y):.1f}" for x, y in shown)
    parts.append(f'<polyline class="series" fill="none" stroke="#0f6b5c" stroke-width="1.2" '
                 f'points="{path}"/>')
    for t in thresholds:
        parts.append(_threshold_svg(t, sx, sy, _PAD_LEFT, width - _PAD_RIGHT))
    for c in changes:
        if not x0 <= c.x <= x1:
            continue
        x = sx(c.x)
        flag = (f'<g class="change"><title>{escape(c.label)}</title>'
                f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{_PAD_TOP}" y2="{_PAD_TOP + plot_h}" '
                f'stroke="#6938ef" stroke-width="1.5" stroke-dasharray="4 3"/>'
                f'<path d="M{x:.1f},{_PAD_TOP} l9,4 l-9,4 z" fill="#6938ef"/></g>')
        parts.append(f'<a href="{escape(c.href)}">{flag}</a>' if c.href else flag)
    for m in markers:
        if not x0 <= m.x <= x1:
            continue
        i = min(bisect.bisect_left(xs, m.x), len(xs) - 1)
        x, y = sx(m.x), sy(points[i][1])
        dot = (f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{_PAD_TOP}" y2="{_PAD_TOP + plot_h}" '
               f'stroke="#b42318" stroke-opacity="0.25"/>'
               f'<circle class="anomaly" cx="{x:.1f}" cy="{y:.1f}" r="4.5" fill="#b42318">'
               f'<title>{escape(m.label)}</title></circle>')
        parts.append(f'<a href="{escape(m.href)}">{dot}</a>' if m.href else dot)
    parts.append("</svg>")
    return Markup("".join(parts))


def _thin(points: Sequence[tuple[float, ...]], columns: int) -> list[tuple[float, ...]]:
    """Every k-th point, about ``columns`` in all, keeping the last (a forecast is smooth,
    so this loses nothing visible)."""
    k = max(1, len(points) // max(columns, 1))
    kept = list(points[::k])
    if kept[-1] != points[-1]:
        kept.append(points[-1])
    return kept


def _forecast_svg(last: tuple[float, float], ahead: Sequence[tuple[float, ...]],
                  sx: Callable[[float], float], sy: Callable[[float], float],
                  bottom: float) -> str:
    """The interval band and the dashed forecast line, both starting at the last point so
    that the path continues the series."""
    start = (last[0], last[1], last[1], last[1])
    path = [start, *ahead]
    mean = " ".join(f"{sx(p[0]):.1f},{sy(p[1]):.1f}" for p in path)
    band = " ".join([f"{sx(p[0]):.1f},{sy(p[3]):.1f}" for p in path]
                    + [f"{sx(p[0]):.1f},{sy(p[2]):.1f}" for p in reversed(path)])
    origin = sx(last[0])
    return (f'<g class="forecast"><title>forecast with its 90 % interval</title>'
            f'<line class="forecast-origin" x1="{origin:.1f}" x2="{origin:.1f}" '
            f'y1="{_PAD_TOP}" y2="{bottom:.1f}" stroke="#98a2b3" stroke-dasharray="2 3"/>'
            f'<text x="{origin + 5:.1f}" y="{_PAD_TOP + 10}" font-size="11" '
            f'fill="#667085">forecast →</text>'
            f'<polygon class="interval" points="{band}" fill="#0f6b5c" fill-opacity="0.15" '
            f'stroke="none"/>'
            f'<polyline class="forecast-line" fill="none" stroke="#0f6b5c" stroke-width="1.5" '
            f'stroke-dasharray="6 4" points="{mean}"/></g>')


def _threshold_svg(t: Threshold, sx: Callable[[float], float], sy: Callable[[float], float],
                   left: float, right: float) -> str:
    """The threshold line with its label, and the expected crossing with its caption.

    Texts go where the path is not: before the crossing the path is on the near side of
    the line (below it when rising), after it on the far side.
    """
    y = sy(t.value)
    far, near = (y - 5, y + 15) if t.rising else (y + 15, y - 5)
    name = escape(t.label or _fmt(t.value))
    out = [(f'<g class="threshold"><title>{name}</title>'
            f'<line x1="{left}" x2="{right}" y1="{y:.1f}" y2="{y:.1f}" stroke="#dc6803" '
            f'stroke-width="1.2"/>'
            f'<text x="{left + 6}" y="{far:.1f}" font-size="11" fill="#b54708">{name}</text>'
            f'</g>')]
    if t.crossing_x is not None:
        x = sx(t.crossing_x)
        # Left of the ring (on the far side) when there is room, else right (near side).
        anchor, dx, ty = ("end", -9, far) if x > (left + right) / 2 else ("start", 9, near)
        out.append(f'<g class="crossing"><title>{escape(t.caption)}</title>'
                   f'<circle cx="{x:.1f}" cy="{y:.1f}" r="5" fill="#fff" stroke="#dc6803" '
                   f'stroke-width="2"/>'
                   f'<text x="{x + dx:.1f}" y="{ty:.1f}" text-anchor="{anchor}" '
                   f'font-size="12" font-weight="600" fill="#b54708">{escape(t.caption)}</text>'
                   f'</g>')
    return "".join(out)


def bar_chart(
    bars: Sequence[tuple[str, float]], *, width: int = 480, bar_height: int = 18, title: str = ""
) -> Markup:
    """Horizontal bars, one per ``(label, value)``, longest value spanning the width."""
    label = escape(title or "bar chart")
    height = max(len(bars), 1) * (bar_height + 6) + 6
    top = max((v for _, v in bars), default=0.0) or 1.0
    label_w = 160
    parts = [(f'<svg class="chart" role="img" aria-label="{label}" width="{width}" '
              f'height="{height}" viewBox="0 0 {width} {height}" '
              'xmlns="http://www.w3.org/2000/svg">')]
    for i, (name, value) in enumerate(bars):
        y = 6 + i * (bar_height + 6)
        w = max((width - label_w - 70) * value / top, 1.0)
        parts.append(f'<text x="{label_w - 6}" y="{y + bar_height - 5}" text-anchor="end" '
                     f'font-size="11" fill="#475467">{escape(name[:28])}</text>'
                     f'<rect x="{label_w}" y="{y}" width="{w:.1f}" height="{bar_height}" '
                     f'fill="#0f6b5c" rx="2"/>'
                     f'<text x="{label_w + w + 6:.1f}" y="{y + bar_height - 5}" font-size="11" '
                     f'fill="#475467">{_fmt(value)}</text>')
    parts.append("</svg>")
    return Markup("".join(parts))
