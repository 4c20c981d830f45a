"""The capacity forecast on the series page in headless Chromium: a filling disk sent over
OTLP with a "full" rule shows the forecast, its interval band, the threshold and the
expected crossing captioned as the signal is titled."""

from __future__ import annotations

import re
from urllib.parse import quote

import pytest

from tests.e2e.browser import browser_page, login, shot
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
        page.wait_for_selector("svg.chart polyline.series")
        chart = page.locator("svg.chart")
        assert chart.locator("polyline.forecast-line").count() == 1
        assert chart.locator("polygon.interval").count() == 1
        assert chart.locator("g.threshold").count() == 1
        assert "disk-full: 500" in chart.locator("g.threshold text").text_content()
        caption = chart.locator("g.crossing text").text_content()
        match = re.fullmatch(r"disk /var on host-3 full in ~(\d+) h", caption)
        assert match, caption
        assert int(match.group(1)) == pytest.approx(FULL_AT_H - 24, abs=2)

        # The forecast runs right of the history, the crossing on the threshold line.
        series_end = max(float(p.split(",")[0]) for p in
                         chart.locator("polyline.series").get_attribute("points").split())
        ring = chart.locator("g.crossing circle")
        assert float(ring.get_attribute("cx")) > series_end
        line_y = float(chart.locator("g.threshold line").get_attribute("y1"))
        assert float(ring.get_attribute("cy")) == pytest.approx(line_y)
        facts = page.inner_text("dl.facts")
        assert "disk-full" in facts and "full at 500" in facts
        assert "capacity forecast" in page.inner_text("main")
        shot(page, "ops-series-capacity")
