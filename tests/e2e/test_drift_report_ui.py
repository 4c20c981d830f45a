"""The drift report in headless Chromium: per feature the reference and current
distributions, the test, score and threshold; the monitor chart marks only the features
that drifted and draws the threshold; the report downloads as one self-contained file."""

from __future__ import annotations

import re

import pytest

from tests.e2e.browser import browser_page, charts, login, shot
from tests.ml.test_monitors import REF_END, REF_START, _log
from triops.store.engine import Database

pytestmark = [pytest.mark.e2e, pytest.mark.browser]

BACKENDS_UNDER_TEST = ("sqlite",)


def test_drift_report_page_chart_marks_and_export(server, tmp_path):
    db = Database(server.store_url)
    # "x" shifts, "plan" keeps its shares: only x drifts.
    _log(db, REF_START, 1500, seed=1)
    _log(db, 3_000_000, 1500, shift=1.5, seed=2)
    with server.http() as http:
        r = http.post("/api/v1/monitors", json={"name": "churn-drift", "endpoint": "churn",
                                                 "spec": {"window": {"kind": "count",
                                                                     "size": 1500},
                                                          "reference": {"kind": "window",
                                                                        "start_ms": REF_START,
                                                                        "end_ms": REF_END}}})
        assert r.status_code == 201, r.text
        for _ in range(2):
            ran = http.post("/api/v1/monitors/churn-drift/run").json()
        assert ran["drift"]["x"]["drifted"] and not ran["drift"]["plan"]["drifted"]

    with browser_page(server.url) as page:
        login(page, server.admin_key)
        page.goto("/ui/ml/monitors/churn-drift")
        drawn = {c["title"]: c for c in charts(page)}
        x, plan = drawn["drift score of x"], drawn["drift score of plan"]
        # Red dots only where that feature drifted; each chart draws its threshold.
        assert [s["points"] for s in x["series"] if s["name"] == "drifted"] == [2]
        assert not [s for s in plan["series"] if s["name"] == "drifted"]
        [line] = x["series"][0]["markLine"]
        assert line["yAxis"] == 0.1 and line["name"] == "drift when score ≥ 0.1"
        assert x["yAxis"]["max"] >= 0.1
        shot(page, "ml-monitor")
        page.set_viewport_size({"width": 390, "height": 844})
        page.reload()
        assert page.evaluate("document.documentElement.scrollWidth") <= 390
        shot(page, "ml-monitor-phone")
        page.set_viewport_size({"width": 1400, "height": 900})

        page.click("#latest-report")
        page.wait_for_url("**/results/*")
        rows = page.locator("#drift-table tbody tr").all_inner_texts()
        assert [r.split("\t")[:3] for r in rows] == [["x", "drifted", "wasserstein"],
                                                    ["plan", "no drift", "jensenshannon"]]
        assert "drift when score ≥ 0.1" in rows[0]
        assert "Drift in 1 of 2 features" in page.inner_text("#drift-summary")
        bars = {c["title"]: c for c in charts(page, ".feature-card div.chart")}
        plan_bars = bars["distribution of plan"]
        assert [s["name"] for s in plan_bars["series"]] == ["reference", "current"]
        assert set(plan_bars["xAxis"]["data"]) == {"free", "pro", "team"}
        for s in plan_bars["series"]:
            assert sum(s["data"]) == pytest.approx(1.0, abs=1e-3)
        x_bars = bars["distribution of x"]
        assert len(x_bars["xAxis"]["data"]) > 5  # histogram bins shared by both sides
        shot(page, "ml-drift-report")
        page.set_viewport_size({"width": 390, "height": 844})
        page.reload()
        assert page.evaluate("document.documentElement.scrollWidth") <= 390
        shot(page, "ml-drift-report-phone")
        page.set_viewport_size({"width": 1400, "height": 900})

        with page.expect_download() as download:
            page.click("#export")
        saved = tmp_path / "report.html"
        download.value.save_as(saved)
    html = saved.read_text()
    # Self-contained: no file or address outside the page is asked for.
    assert html.count("<script>") == 2  # the library and the chart script, inline
    markup = re.sub(r"<script[^>]*>.*?</script>", "", html, flags=re.DOTALL)
    assert not re.search(r'(src|href)="(?!#)', markup)
    assert "echarts" in html and "Drift in 1 of 2 features" in html

    # Opened from disk with every network request refused, it still draws its charts.
    with browser_page(server.url) as page:
        page.route("**/*", lambda route: route.continue_() if route.request.url.startswith(
            "file:") else route.abort())
        page.goto(saved.as_uri())
        offline = {c["title"]: c for c in charts(page)}
        assert set(offline) == {"distribution of x", "distribution of plan"}
        shot(page, "ml-drift-report-file")
