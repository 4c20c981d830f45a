"""The chart options the server writes: the forecast continues the series with its band,
thresholds and crossings; markers sit on the line; long series are reduced; a lone point
is drawn; nothing in a value can close the script element that carries the option."""

from __future__ import annotations

import json
import re

from triops.ui.charts import Forecast, Marker, Threshold, bar_chart, grouped_bars, line_chart
from triops.ui.ml_charts import Series, overlay_chart

H = 3_600_000


def option_of(markup) -> dict:
    text = str(markup)
    assert text.startswith('<div class="chart" data-echarts')
    [data] = re.findall(r'<script type="application/json">(.*)</script>', text)
    return json.loads(data)


def by_name(option: dict) -> dict[str, dict]:
    return {s["name"]: s for s in option["series"]}


def chart(**kwargs) -> dict:
    history = [(float(h * H), 100.0 + 10 * h) for h in range(24)]  # 100 → 330
    ahead = [(float(h * H), 100.0 + 10 * h, 90.0 + 9 * h, 110.0 + 11 * h) for h in range(24, 49)]
    return option_of(line_chart(history, forecast=Forecast(ahead, [Threshold(
        500.0, label="disk-full: 500", crossing_x=40.0 * H, caption="disk / full in ~17 h",
        **kwargs)]), width=560, height=300, title="disk used"))


def test_forecast_continues_the_series_with_band_threshold_and_crossing():
    option = chart()
    series = by_name(option)
    main, line = series["disk used"], series["forecast"]
    assert line["lineStyle"]["type"] == "dashed"
    assert line["data"][0] == main["data"][-1] and line["data"][-1][0] == 48 * H
    # The band is the low edge with the interval's width stacked on it.
    low, width = series["_interval low"], series["90 % interval"]
    assert low["stack"] == width["stack"] and width["areaStyle"]["opacity"] < 1
    assert [p[1] for p in low["data"]][-1] == 90 + 9 * 48
    assert width["data"][-1]["value"][1] == (110 + 11 * 48) - (90 + 9 * 48)
    assert width["data"][-1]["tip"] == "522 – 638"
    # The threshold is a horizontal line the y axis reaches; the ring sits on it.
    [threshold] = main["markLine"]["data"]
    assert threshold["yAxis"] == 500 and threshold["name"] == "disk-full: 500"
    assert option["yAxis"]["max"] >= 500
    [ring] = series["expected crossing"]["data"]
    assert ring["value"] == [40 * H, 500] and ring["tip"] == "disk / full in ~17 h"
    assert ring["label"]["position"] == "left"  # a rising path is below, left of the ring
    assert option["legend"]["data"] == ["disk used", "forecast", "90 % interval",
                                        "expected crossing"]


def test_a_falling_path_puts_the_caption_below_the_line():
    [ring] = by_name(chart(rising=False))["expected crossing"]["data"]
    assert ring["label"]["position"] == "bottom"


def test_markers_sit_on_the_line_and_keep_their_links():
    points = [(float(t), float(t // 100 % 5)) for t in range(0, 10_000, 100)]
    option = option_of(line_chart(points, [Marker(x=1234.0, label="anomaly score 0.9",
                                                  href="/ui/incidents/i1"),
                                           Marker(x=99_999.0, label="outside")],
                                  changes=[Marker(x=5000.0, label="deploy v2", href="/x")]))
    [dot] = by_name(option)["anomalies"]["data"]
    assert dot == {"value": [1234.0, 3.0], "tip": "anomaly score 0.9",
                   "href": "/ui/incidents/i1"}
    [flag] = option["series"][0]["markLine"]["data"]
    assert flag["xAxis"] == 5000.0 and flag["href"] == "/x"
    assert {"inside"} == {z["type"] for z in option["dataZoom"]}


def test_long_series_are_reduced_to_the_pixel_columns_and_keep_spikes():
    points = [(float(t), 1.0) for t in range(100_000)]
    points[77_777] = (77_777.0, 50.0)
    data = option_of(line_chart(points, width=500))["series"][0]["data"]
    assert len(data) <= 4 * 500 and [77_777.0, 50.0] in data


def test_a_lone_point_is_drawn_as_a_dot_and_gaps_stay_gaps():
    [main] = option_of(line_chart([(0.0, 3.0)]))["series"]
    assert main["showSymbol"] is True and main["data"] == [[0.0, 3.0]]
    series = option_of(overlay_chart([Series("a", [(0.0, 1.0)]),
                                      Series("b", [(0.0, 1.0), (1.0, float("nan"))])]))
    assert [s["data"] for s in series["series"]] == [[[0.0, 1.0]], [[0.0, 1.0], [1.0, None]]]
    assert "no points" in str(line_chart([]))


def test_bars_keep_their_order_and_grouped_bars_their_series():
    option = option_of(bar_chart([("b", 2.0), ("a", 5.0)], title="per model"))
    assert option["yAxis"]["data"] == ["b", "a"] and option["series"][0]["data"] == [2.0, 5.0]
    grouped = option_of(grouped_bars(["0–1", "1–2"], [("reference", [0.5, 0.5]),
                                                      ("current", [0.1, 0.9])]))
    assert [s["name"] for s in grouped["series"]] == ["reference", "current"]
    assert grouped["legend"]["data"] == ["reference", "current"]


def test_no_value_can_close_the_script_element():
    text = str(bar_chart([("</script><script>alert(1)</script>", 1.0)], title='"><b>'))
    assert text.count("</script>") == 1 and "<b>" not in text
    assert "\\u003c/script>" in text
