"""The Ops pages in headless Chromium: a NAB series with anomaly markers, log templates."""

from __future__ import annotations

import csv
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tests.conftest import free_port
from tests.e2e.browser import browser_page, charts, click_point, login, shot

pytestmark = [pytest.mark.e2e, pytest.mark.browser]

# The pages do not depend on the store backend; the API tests cover both.
BACKENDS_UNDER_TEST = ("sqlite",)

NAB_CSV = Path("/work/shared/datasets/nab/data/realKnownCause/"
               "ec2_request_latency_system_failure.csv")
KEY = 'ec2_latency{host="nab"}'


def _load(server) -> None:
    with open(NAB_CSV, newline="") as handle:
        rows = [(int(datetime.fromisoformat(r["timestamp"]).replace(tzinfo=UTC).timestamp()
                     * 1000), float(r["value"])) for r in csv.DictReader(handle)]
    with server.http() as http:
        for start in range(0, len(rows), 1000):
            batch = [{"name": "ec2_latency", "labels": {"host": "nab"}, "ts_ms": t, "value": v}
                     for t, v in rows[start:start + 1000]]
            assert http.post("/api/v1/ops/samples", json={"samples": batch}).status_code == 201
        lines = [{"body": f"GET /api/orders/{i} 200 in {20 + i % 7} ms", "ts_ms": rows[i][0],
                  "severity": "INFO"} for i in range(40)]
        lines += [{"body": f"upstream timeout after {i} retries", "ts_ms": rows[40 + i][0],
                   "severity": "ERROR"} for i in range(5)]
        assert http.post("/api/v1/ops/logs", json={"stream": "orders", "lines": lines}
                         ).status_code == 201
        # A source whose Prometheus is down: its failed poll shows on the Ops page.
        assert http.put("/api/v1/ops/prometheus-sources/queues", json={
            "url": f"http://127.0.0.1:{free_port()}", "query": "queue_depth",
            "step": "1s", "lookback": "1m", "password": "hunter2", "username": "ops",
        }).status_code == 200
        deadline = time.monotonic() + 15
        while not http.get("/api/v1/ops/prometheus-sources/queues").json()["last_error"]:
            assert time.monotonic() < deadline, "the source was never polled"
            time.sleep(0.2)


def test_ops_series_with_anomaly_markers_and_log_templates(server):
    _load(server)
    with browser_page(server.url) as page:
        login(page, server.admin_key)
        page.click("nav.sections >> text=Ops")
        assert KEY in page.inner_text("main")
        text = page.inner_text("main")
        assert "queue_depth" in text and "is unreachable" in text and "hunter2" not in text
        shot(page, "ops-home")
        page.click(f"text={KEY}")
        [drawn] = charts(page)
        [anomalies] = [s for s in drawn["series"] if s["name"] == "anomalies"]
        assert anomalies["points"] >= 1 and anomalies["data"][0]["href"].startswith("/ui/")
        assert "anomaly score" in anomalies["data"][0]["tip"]
        assert "ensemble" in page.inner_text("dl.facts")
        assert "Latest anomaly signals" in page.inner_text("main")
        shot(page, "ops-series")

        click_point(page, page.locator("div.chart"), "anomalies")  # links to its incident
        page.wait_for_url("**/ui/incidents/*")
        assert f"series:{KEY}" in page.inner_text("main")

        page.goto("/ui/ops")
        page.click("text=Log templates")
        text = page.inner_text("main")
        assert "GET <*> <*> in <*> ms" in text
        assert "upstream timeout after <*> retries" in text
        [bars] = charts(page)
        assert bars["series"][0]["points"] == 2
        shot(page, "ops-log-templates")

        page.click("table.grid >> text=E2")
        assert page.locator("table.grid tbody tr").count() == 5
        assert "upstream timeout after 4 retries" in page.inner_text("main")
        shot(page, "ops-log-lines")
