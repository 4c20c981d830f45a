"""A real Prometheus (Debian's ``prometheus``) as triops' neighbour: it scrapes triops'
``/metrics`` and forwards what it scraped into triops through remote write, where the
series are stored and scored like OTLP metrics."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from tests.conftest import free_port
from tests.e2e.test_alertmanager import wait_for

BINARY = shutil.which("prometheus")
pytestmark = pytest.mark.skipif(
    BINARY is None, reason="Prometheus binary missing: apt-get install -y prometheus")

CONFIG = """
global:
  scrape_interval: 1s
scrape_configs:
  - job_name: triops
    static_configs:
      - targets: ['{target}']
remote_write:
  - url: {url}/api/v1/write
    authorization:
      credentials: {key}
    queue_config:
      batch_send_deadline: 1s
      min_backoff: 100ms
"""


@contextmanager
def running_prometheus(home: Path, config: str) -> Iterator[str]:
    """Debian's Prometheus on a free port with ``config``, until the block ends; yields
    its base URL once it is ready."""
    (home / "prometheus.yml").write_text(config)
    port = free_port()
    with open(home / "prometheus.log", "wb") as log:  # the child keeps its own handle
        process = subprocess.Popen(
            [BINARY, f"--config.file={home / 'prometheus.yml'}",
             f"--storage.tsdb.path={home / 'data'}", f"--web.listen-address=127.0.0.1:{port}"],
            stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        def ready() -> bool:
            if process.poll() is not None:
                raise RuntimeError((home / "prometheus.log").read_text()[-3000:])
            try:
                return httpx.get(f"{url}/-/ready", timeout=1).status_code == 200
            except httpx.HTTPError:
                return False

        wait_for(ready, what="Prometheus to start")
        yield url
    finally:
        process.terminate()
        process.wait(10)


@pytest.fixture(scope="module")
def prometheus(server, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    target = server.url.removeprefix("http://")
    config = CONFIG.format(target=target, url=server.url, key=server.admin_key)
    with running_prometheus(tmp_path_factory.mktemp("prometheus"), config) as url:
        yield url


def test_prometheus_scrapes_triops_and_writes_the_series_back(server, prometheus):
    def scraped() -> list:
        answer = httpx.get(f"{prometheus}/api/v1/query", params={"query": 'up{job="triops"}'})
        return [r for r in answer.json()["data"]["result"] if r["value"][1] == "1"]

    wait_for(scraped, what="Prometheus to scrape triops' /metrics")
    auth = {"Authorization": f"Bearer {server.admin_key}"}

    def written() -> list[str]:
        series = httpx.get(f"{server.url}/api/v1/ops/series", headers=auth).json()
        return [s for s in series if s.startswith("up{")]

    [up] = wait_for(written, what="remote write to deliver the up series")
    assert 'job="triops"' in up and f'instance="{server.url.removeprefix("http://")}"' in up
    points = httpx.get(f"{server.url}/api/v1/ops/samples", params={"series": up},
                       headers=auth).json()["points"]
    assert points and {p["value"] for p in points} == {1.0}
    # triops' own request counter came through as well, stored as a counter.
    series = httpx.get(f"{server.url}/api/v1/ops/series", headers=auth).json()
    assert any(s.startswith("triops_http_requests_total{") for s in series), series[:20]
