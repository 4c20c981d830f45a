"""Charts people can explore: the server builds an Apache ECharts option, the page draws it.

Every chart is a ``<div class="chart">`` holding its option as JSON; the static
``triops-charts.js`` loads the vendored ECharts (``static/vendor/``, no CDN) once a page
has a chart and draws each with hover values, zoom (wheel, drag, box zoom, restore) and a
legend whose entries toggle their series. Long series are reduced on the server to the
first, minimum, maximum and last point of each pixel column, so spikes survive and a
page never carries more than a few points per pixel.

Three builders cover the pages: ``line_chart`` (a time series with markers, change flags
and an optional forecast with thresholds), ``bar_chart`` (one bar per label) and
``grouped_bars`` (several series over the same categories, e.g. a reference and a
current histogram). ``overlay_chart`` of ``triops.ui.ml_charts`` draws curves by step.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import orjson
from markupsafe import Markup, escape

#: Series colours, distinguishable on white and for the common colour-vision deficiencies
#: (Okabe-Ito); the first is triops' accent so single-series charts keep the house colour.
PALETTE = ("#0f6b5c", "#d55e00", "#0072b2", "#cc79a7", "#e69f00", "#56b4e9", "#000000",
           "#009e73")
ANOMALY, CHANGE, THRESHOLD = "#b42318", "#6938ef", "#dc6803"
#: How much time either side of a series' only point the axis shows.
LONE_POINT_MS = 30 * 60_000


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
    """Keep first, min, max and last of each of ``columns`` x buckets, in x order.

    >>> reduce_points([(float(x), float(x % 7)) for x in range(100)], 5)[:4]
    [(0.0, 0.0), (6.0, 6.0), (19.0, 5.0), (20.0, 6.0)]
    """
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


def _finite(value: float) -> float | None:
    """JSON has no NaN: a missing or infinite value is a gap in the line."""
    return value if value is not None and math.isfinite(value) else None


def render(option: dict[str, Any], *, height: int, title: str, width: int | None = None) -> Markup:
    """The chart's element: a sized ``div`` carrying ``option`` for ``triops-charts.js``.

    The width is a maximum (charts shrink with a phone's screen); ``<`` is escaped in the
    JSON so that no value can close the script element.
    """
    if "legend" in option and "data" not in option["legend"]:
        # Series named with a leading "_" are drawing aids (a band's lower edge).
        option["legend"]["data"] = [s["name"] for s in option["series"]
                                    if not s["name"].startswith("_")]
    data = orjson.dumps(option).decode().replace("<", "\\u003c")
    style = f"height:{height}px" + (f";max-width:{width}px" if width else "")
    return Markup(
        f'<div class="chart" data-echarts role="img" aria-label="{escape(title or "chart")}" '
        f'style="{style}"><script type="application/json">{data}</script></div>'
    )


def _empty(title: str, text: str) -> Markup:
    return Markup(f'<p class="chart-empty empty" aria-label="{escape(title or "chart")}">'
                  f'{escape(text)}</p>')


def base_option(*, x_type: str, title: str, legend: bool, zoom: bool = True) -> dict[str, Any]:
    """What every explorable chart shares: axis tooltip, legend, zoom and its restore."""
    option: dict[str, Any] = {
        "aria": {"enabled": True, "label": {"description": title}},
        "animation": False,
        "useUTC": True,
        "grid": {"left": 56, "right": 24, "top": 36 if legend else 16, "bottom": 32,
                 "containLabel": True},
        "tooltip": {"trigger": "axis", "confine": True},
        "xAxis": {"type": x_type, "scale": x_type == "value", "axisLabel": {"hideOverlap": True}},
        "yAxis": {"type": "value", "scale": True},
        "series": [],
    }
    if legend:
        option["legend"] = {"type": "scroll", "top": 0, "left": 0, "right": 80}
    if zoom:
        option["dataZoom"] = [{"type": "inside", "xAxisIndex": 0, "filterMode": "none"}]
        option["toolbox"] = {"right": 8, "top": 0, "feature": {
            "dataZoom": {"yAxisIndex": "none", "title": {"zoom": "box zoom", "back": "undo zoom"}},
            "restore": {"title": "reset"}}}
    return option


def line_series(name: str, points: Sequence[tuple[float, float]], *, color: str,
                columns: int, **extra: Any) -> dict[str, Any]:
    """A line of ``(x, y)`` points, reduced to ``columns``; a lone point shows as a dot."""
    shown = reduce_points(points, columns)
    return {"type": "line", "name": name, "color": color, "showSymbol": len(shown) < 3,
            "symbolSize": 7, "sampling": "none", "lineStyle": {"width": 1.6},
            "data": [[x, _finite(y)] for x, y in shown], **extra}


def line_chart(
    points: Sequence[tuple[float, float]],
    markers: Sequence[Marker] = (),
    *,
    width: int = 960,
    height: int = 300,
    title: str = "",
    changes: Sequence[Marker] = (),
    forecast: Forecast | None = None,
    thresholds: Sequence[Threshold] = (),
    name: str = "",
    markers_name: str = "anomalies",
) -> Markup:
    """A time chart of ``(time_ms, value)`` points sorted by time, with ``markers`` as red
    dots on the line, ``changes`` (deploys, promotions...) as dashed vertical lines, a
    ``forecast`` drawn on past the last point with its interval band, and horizontal
    ``thresholds`` (a forecast's own thresholds are drawn too). Linked markers and
    changes open their page when clicked."""
    if not points:
        return _empty(title, "no points")
    label = name or title or "value"
    ahead = list(forecast.points) if forecast and forecast.points else []
    lines = [*thresholds, *(forecast.thresholds if forecast else ())]
    option = base_option(x_type="time", title=title, legend=bool(ahead or markers or lines))
    main = line_series(label, points, color=PALETTE[0], columns=width)
    marks = [_change_mark(c) for c in changes if points[0][0] <= c.x <= _last_x(points, ahead)]
    marks += [_threshold_mark(t) for t in lines]
    if marks:
        main["markLine"] = {"symbol": "none", "silent": False, "data": marks}
    option["series"].append(main)
    if len(points) == 1 and not ahead:  # a lone point mid-chart, not on the axis
        option["xAxis"].update(min=points[0][0] - LONE_POINT_MS, max=points[0][0] + LONE_POINT_MS)
    if ahead:
        option["series"].extend(_forecast_series(points[-1], ahead, width))
    if markers:
        option["series"].append(_marker_series(points, markers, markers_name))
    crossings = [t for t in lines if t.crossing_x is not None]
    if crossings:
        option["series"].append(_crossing_series(crossings))
    if lines:
        # Thresholds are drawn lines, not data: the axis must reach them all the same.
        ys = [y for _, y in points if math.isfinite(y)] + [v for p in ahead for v in p[1:]]
        ticks = nice_ticks(min(ys + [t.value for t in lines]), max(ys + [t.value for t in lines]))
        option["yAxis"].update(min=ticks[0], max=ticks[-1])
    return render(option, height=height, title=title, width=width)


def _last_x(points: Sequence[tuple[float, float]], ahead: Sequence[tuple[float, ...]]) -> float:
    return max(points[-1][0], ahead[-1][0] if ahead else points[-1][0])


def _change_mark(c: Marker) -> dict[str, Any]:
    return {"xAxis": c.x, "name": c.label, "href": c.href,
            "lineStyle": {"color": CHANGE, "type": "dashed", "width": 1.5},
            "label": {"formatter": c.label[:40], "position": "insideEndTop", "color": CHANGE}}


def _threshold_mark(t: Threshold) -> dict[str, Any]:
    text = t.label or f"{t.value:.4g}"
    return {"yAxis": t.value, "name": text,
            "lineStyle": {"color": THRESHOLD, "type": "solid", "width": 1.4},
            "label": {"formatter": text, "position": "insideStartTop", "color": "#b54708"}}


def _forecast_series(last: tuple[float, float], ahead: Sequence[tuple[float, ...]],
                     columns: int) -> list[dict[str, Any]]:
    """The dashed forecast line and its interval band, both starting at the last point so
    that the path continues the series. The band is the low edge (invisible) with the
    width of the interval stacked on it; its tooltip says ``lo – hi``."""
    k = max(1, len(ahead) // max(columns, 1))  # a forecast is smooth: every k-th point
    kept = list(ahead[::k]) + ([ahead[-1]] if (len(ahead) - 1) % k else [])
    path = [(last[0], last[1], last[1], last[1]), *kept]
    return [
        {"type": "line", "name": "forecast", "color": PALETTE[0], "showSymbol": False,
         "lineStyle": {"type": "dashed", "width": 1.5}, "data": [[p[0], p[1]] for p in path]},
        {"type": "line", "name": "_interval low", "stack": "interval", "showSymbol": False,
         "lineStyle": {"opacity": 0}, "tooltip": {"show": False},
         "data": [[p[0], p[2]] for p in path]},
        {"type": "line", "name": "90 % interval", "stack": "interval", "showSymbol": False,
         "color": PALETTE[0], "lineStyle": {"opacity": 0}, "areaStyle": {"opacity": 0.15},
         "data": [{"value": [p[0], p[3] - p[2]], "tip": f"{p[2]:.4g} – {p[3]:.4g}"}
                  for p in path]},
    ]


def _marker_series(points: Sequence[tuple[float, float]], markers: Sequence[Marker],
                   name: str) -> dict[str, Any]:
    """Red dots on the line at each marker's time (the value of the nearest point)."""
    xs = [p[0] for p in points]
    data = []
    for m in markers:
        if not xs[0] <= m.x <= xs[-1]:
            continue
        i = min(bisect.bisect_left(xs, m.x), len(xs) - 1)
        data.append({"value": [m.x, _finite(points[i][1])], "tip": m.label, "href": m.href})
    return {"type": "scatter", "name": name, "color": ANOMALY, "symbolSize": 9,
            "z": 5, "data": data}


def _crossing_series(crossings: Sequence[Threshold]) -> dict[str, Any]:
    """A ring where the forecast is expected to cross each threshold, captioned on the
    side the path is not (left of the ring and above the line for a rising path)."""
    data = [{"value": [t.crossing_x, t.value], "tip": t.caption,
             "label": {"show": True, "formatter": t.caption, "fontWeight": 600,
                       "color": "#b54708", "position": "left" if t.rising else "bottom"}}
            for t in crossings]
    return {"type": "scatter", "name": "expected crossing", "symbol": "emptyCircle",
            "symbolSize": 11, "color": THRESHOLD, "z": 6, "data": data}


def bar_chart(
    bars: Sequence[tuple[str, float]], *, width: int = 480, bar_height: int = 18, title: str = ""
) -> Markup:
    """Horizontal bars, one per ``(label, value)``, in the order given (top first)."""
    if not bars:
        return _empty(title, "nothing to show")
    option = base_option(x_type="value", title=title, legend=False, zoom=False)
    option["tooltip"]["axisPointer"] = {"type": "shadow"}
    option["grid"].update(left=8, right=48, top=8, bottom=8)
    option["xAxis"] = {"type": "value", "show": False}
    option["yAxis"] = {"type": "category", "inverse": True,
                       "data": [name for name, _ in bars],
                       "axisLabel": {"width": 150, "overflow": "truncate"}}
    option["series"] = [{"type": "bar", "name": title or "value", "color": PALETTE[0],
                         "barMaxWidth": bar_height, "label": {"show": True, "position": "right"},
                         "data": [_finite(v) for _, v in bars]}]
    return render(option, height=len(bars) * (bar_height + 8) + 24, title=title, width=width)


def grouped_bars(categories: Sequence[str], series: Sequence[tuple[str, Sequence[float]]], *,
                 width: int = 560, height: int = 220, title: str = "",
                 y_name: str = "") -> Markup:
    """Vertical bars of several named series over the same ``categories`` (histogram bins
    or category values), side by side; the legend toggles each series."""
    if not categories:
        return _empty(title, "nothing to show")
    option = base_option(x_type="category", title=title, legend=True, zoom=len(categories) > 12)
    option["tooltip"]["axisPointer"] = {"type": "shadow"}
    option["xAxis"] = {"type": "category", "data": list(categories),
                       "axisLabel": {"hideOverlap": True}}
    option["yAxis"] = {"type": "value", "name": y_name}
    option["series"] = [{"type": "bar", "name": name, "color": PALETTE[(i * 2) % len(PALETTE)],
                         "data": [_finite(v) for v in values]}
                        for i, (name, values) in enumerate(series)]
    return render(option, height=height, title=title, width=width)
