"""The line chart's forecast overlay: the time axis extends over the forecast, and the
band, the dashed line, the threshold and the crossing land where their values say."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

from triops.ui.charts import Forecast, Threshold, line_chart

SVG = "{http://www.w3.org/2000/svg}"
H = 3_600_000


def coords(points: str) -> list[tuple[float, float]]:
    return [tuple(map(float, p.split(","))) for p in points.split()]  # type: ignore[misc]


def chart(**kwargs) -> ET.Element:
    history = [(float(h * H), 100.0 + 10 * h) for h in range(24)]  # 100 → 330
    ahead = [(float(h * H), 100.0 + 10 * h, 90.0 + 9 * h, 110.0 + 11 * h) for h in range(24, 49)]
    svg = line_chart(history, forecast=Forecast(ahead, [Threshold(
        500.0, label="disk-full: 500", crossing_x=40.0 * H, caption="disk / full in ~17 h",
        **kwargs)]), width=560, height=300)
    return ET.fromstring(str(svg))


def by_class(root: ET.Element, tag: str, cls: str) -> list[ET.Element]:
    return [e for e in root.iter(SVG + tag) if cls in e.get("class", "").split()]


def test_forecast_extends_the_axis_and_draws_band_line_threshold_and_crossing():
    root = chart()
    [series] = by_class(root, "polyline", "series")
    [line] = by_class(root, "polyline", "forecast-line")
    [band] = by_class(root, "polygon", "interval")
    assert line.get("stroke-dasharray") and float(band.get("fill-opacity")) < 1
    history, ahead = coords(series.get("points")), coords(line.get("points"))
    # The forecast continues from the last point to the plot's right edge (560 - 16).
    assert ahead[0] == history[-1]
    assert ahead[-1][0] == 544.0 and history[-1][0] < 544 * 0.6
    # The band is the hi edge out and the lo edge back, around the forecast line.
    edge = coords(band.get("points"))
    hi, lo = edge[:len(ahead)], edge[len(ahead):][::-1]
    assert all(h[1] <= m[1] <= low[1] for h, m, low in zip(hi, ahead, lo, strict=True))

    [threshold] = by_class(root, "g", "threshold")
    tline = threshold.find(SVG + "line")
    assert tline.get("y1") == tline.get("y2")
    assert threshold.find(SVG + "text").text == "disk-full: 500"
    # Ticks reach the threshold; the ring sits on its line at the crossing's time.
    ticks = [t.text for t in root.iter(SVG + "text") if t.get("text-anchor") == "end"
             and re.fullmatch(r"\d+", t.text or "")]
    assert max(map(int, ticks)) >= 500
    [crossing] = by_class(root, "g", "crossing")
    ring, caption = crossing.find(SVG + "circle"), crossing.find(SVG + "text")
    assert ring.get("cy") == tline.get("y1")
    x_at = 64 + 40 / 48 * (544 - 64)
    assert float(ring.get("cx")) == round(x_at, 1)
    assert caption.text == "disk / full in ~17 h"
    # A rising path is below the line before the crossing: the caption, left of the
    # ring, goes above it.
    assert caption.get("text-anchor") == "end"
    assert float(caption.get("y")) < float(ring.get("cy"))


def test_a_falling_path_puts_the_caption_below_the_line():
    [crossing] = by_class(chart(rising=False), "g", "crossing")
    ring, caption = crossing.find(SVG + "circle"), crossing.find(SVG + "text")
    assert float(caption.get("y")) > float(ring.get("cy"))


def test_without_a_forecast_the_axis_ends_at_the_last_point():
    root = ET.fromstring(str(line_chart([(0.0, 1.0), (float(H), 2.0)], width=560)))
    [series] = by_class(root, "polyline", "series")
    assert coords(series.get("points"))[-1][0] == 544.0
    assert not by_class(root, "g", "forecast") and not by_class(root, "g", "threshold")
