"""The capacity forecast on the series page in headless Chromium: a filling disk sent over
OTLP with a "full" rule shows the forecast, its interval band, the threshold and the
expected crossing captioned as the signal is titled."""

from __future__ import annotations

import re
from urllib.parse import quote

import pytest

from tests.e2e.browser import browser_page, charts, login, shot
from tests.e2e.test_capacity import FULL_AT_H, T0, USED, H, send_hours

pytestmark = [pytest.mark.e2e, pytest.mark.browser]

# The page does not depend on the store backend; test_capacity covers both.
BACKENDS_UNDER_TEST = ("sqlite",)


def test_series_page_draws_forecast_band_threshold_and_crossing(server):
    with server.http() as http:
        r = http.put("/api/v1/capacity/rules/disk-full", json={
            "metric": "system.filesystem.usage", "labels": {"state": "used"},
            "percent": 100, "limit_series": "system.filesystem.limit", "horizon": "3d",
            "min_history": "6h", "subject": "disk {mountpoint} on {host_name}"})
        assert r.status_code == 200, r.text
        # 200 GB used, 5 GB more an hour with a small wobble, of 500 GB.
        send_hours(http, 0, 24, lambda ts: 200 + 5 * (ts - T0) / H + 3 * ((ts // 600_000) % 3))

    with browser_page(server.url) as page:
        login(page, server.admin_key)
        page.goto(f"/ui/ops/series?key={quote(USED)}")
        [chart] = charts(page)
        main, series = chart["series"][0], {s["name"]: s for s in chart["series"]}
        assert {"forecast", "90 % interval", "expected crossing"} <= set(series)
        [threshold] = main["markLine"]
        assert threshold["name"] == "disk-full: 500" and threshold["yAxis"] == 500
        assert chart["yAxis"]["max"] >= 500  # the axis reaches the threshold line
        [crossing] = series["expected crossing"]["data"]
        caption = crossing["tip"]
        match = re.fullmatch(r"disk /var on host-3 full in ~(\d+) h", caption)
        assert match, caption
        assert int(match.group(1)) == pytest.approx(FULL_AT_H - 24, abs=2)

        # The forecast runs right of the history, the crossing on the threshold line.
        series_end = main["data"][-1][0]
        assert series["forecast"]["data"][0] == main["data"][-1]
        assert crossing["value"][0] > series_end and crossing["value"][1] == 500
        band = series["90 % interval"]["data"]
        assert band[-1]["value"][1] > 0 and " – " in band[-1]["tip"]
        facts = page.inner_text("dl.facts")
        assert "disk-full" in facts and "full at 500" in facts
        assert "capacity forecast" in page.inner_text("main")
        shot(page, "ops-series-capacity")
