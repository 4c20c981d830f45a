"""triops reading a real Prometheus (Debian's ``prometheus``) through ``query_range``:
Prometheus scrapes a tiny target that serves a gauge, the gauge spikes, and triops' source
turns the spike into an anomaly signal on the series named by its labels. A query
Prometheus refuses is recorded on the source, not raised."""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from tests.e2e.test_alertmanager import wait_for
from tests.e2e.test_prometheus import BINARY, running_prometheus

pytestmark = pytest.mark.skipif(
    BINARY is None, reason="Prometheus binary missing: apt-get install -y prometheus")
# The store under the source is covered on both backends by tests/ops/test_prom_query.py.
BACKENDS_UNDER_TEST = ("sqlite",)

CONFIG = """
global:
  scrape_interval: 1s
scrape_configs:
  - job_name: demo
    static_configs:
      - targets: ['{target}']
"""


def curve(t: float) -> float:
    return 10 + math.sin(t / 10)


class Gauge:
    """What the target serves: the curve, or ``spike`` while one is set."""

    spike: float | None = None

    def value(self) -> float:
        return curve(time.time()) if self.spike is None else self.spike


@pytest.fixture(scope="module")
def target() -> Iterator[tuple[str, Gauge]]:
    gauge = Gauge()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = f"# TYPE demo_value gauge\ndemo_value {gauge.value()}\n".encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/plain; version=0.0.4")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"127.0.0.1:{httpd.server_address[1]}", gauge
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture(scope="module")
def prometheus(target, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with running_prometheus(tmp_path_factory.mktemp("prometheus"),
                            CONFIG.format(target=target[0])) as url:
        yield url


def test_a_spike_in_prometheus_becomes_a_signal_on_its_labelled_series(server, prometheus,
                                                                         target):
    address, gauge = target
    key = f'demo_value{{instance="{address}",job="demo"}}'
    # Prometheus has scraped the target for seconds only, and detectors alarm after ~150
    # points; so the expression fills the instants before the first scrape with the same
    # curve (computed by PromQL, from no stored data) under the series' own labels.
    backdrop = 'label_replace(10 + sin(vector(time()) / 10), "__name__", "demo_value", "", "")'
    for name, value in (("job", "demo"), ("instance", address)):
        backdrop = f'label_replace({backdrop}, "{name}", "{value}", "", "")'
    with server.http() as http:
        put = http.put("/api/v1/ops/prometheus-sources/demo", json={
            "url": prometheus, "query": f"demo_value or {backdrop}", "step": "1s",
            "lookback": "10m", "every": "1s"})
        assert put.status_code == 200, put.text

        def polled() -> dict | None:
            source = http.get("/api/v1/ops/prometheus-sources/demo").json()
            return source if source["last_ok_ms"] and source["points"] else None

        first = wait_for(polled, what="the first poll")
        assert first["last_error"] == "" and first["series"] == 1
        assert http.get("/api/v1/ops/series").json() == [key]
        assert len(http.get("/api/v1/ops/samples", params={"series": key}).json()["points"]) >= 590

        # Scraped for real: wait until the newest stored point is one the target served.
        def scraped() -> bool:
            source = http.get("/api/v1/ops/prometheus-sources/demo").json()
            return source["fetched_to_ms"] > first["fetched_to_ms"] + 3000
        wait_for(scraped, what="polls of scraped points")

        spike_ms = int(time.time() * 1000)
        gauge.spike = 60.0
        try:
            def alarmed() -> list[dict]:
                signals = http.get("/api/v1/signals", params={"since_ms": spike_ms - 1000}).json()
                return [s for s in signals if s["kind"] == "anomaly"
                        and s["subject"] == f"series:{key}"]
            assert wait_for(alarmed, within_s=30, what="the spike's anomaly signal")
        finally:
            gauge.spike = None
        points = http.get("/api/v1/ops/samples", params={"series": key,
                                                         "start_ms": spike_ms - 1000}).json()
        assert 60.0 in {p["value"] for p in points["points"]}
        assert http.get("/api/v1/ops/prometheus-sources/demo").json()["anomalies"] >= 1

        # A query Prometheus refuses is recorded on the source; the server carries on.
        bad = http.put("/api/v1/ops/prometheus-sources/broken", json={
            "url": prometheus, "query": "rate(demo_value[", "step": "1s", "lookback": "1m"})
        assert bad.status_code == 200, bad.text

        def failed() -> str:
            return http.get("/api/v1/ops/prometheus-sources/broken").json()["last_error"]
        error = wait_for(failed, what="the refused query's error")
        assert "refused the query (400)" in error and "parse error" in error
