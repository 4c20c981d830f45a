"""Round trips with a real Alertmanager (Debian's ``prometheus-alertmanager``): triops
posts incidents to its ``/api/v2/alerts``, and its webhook receiver posts alerts into
triops, annotations and all."""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import free_port

BINARY = shutil.which("prometheus-alertmanager") or shutil.which("alertmanager")
pytestmark = pytest.mark.skipif(
    BINARY is None, reason="Alertmanager binary missing: apt-get install -y prometheus-alertmanager")

CONFIG = """
route:
  receiver: drop
  group_wait: 1s
  group_interval: 1s
  repeat_interval: 1h
  routes:
    # Alerts triops itself posted carry triops_incident; sending them back would loop.
    - receiver: triops
      matchers: ['triops_incident=""']
receivers:
  - name: drop
  - name: triops
    webhook_configs:
      - url: {url}/api/v1/alerts/alertmanager
        send_resolved: true
        http_config:
          authorization:
            credentials: {key}
"""


def wait_for(check, within_s: float = 30, what: str = "condition"):
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(0.25)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture(scope="module")
def alertmanager(server, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    home: Path = tmp_path_factory.mktemp("alertmanager")
    (home / "alertmanager.yml").write_text(CONFIG.format(url=server.url, key=server.admin_key))
    port = free_port()
    with open(home / "alertmanager.log", "wb") as log:  # the child keeps its own handle
        process = subprocess.Popen(
            [BINARY, f"--config.file={home / 'alertmanager.yml'}", f"--storage.path={home}",
             f"--web.listen-address=127.0.0.1:{port}", "--cluster.listen-address="],
            stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        def ready() -> bool:
            if process.poll() is not None:
                raise RuntimeError((home / "alertmanager.log").read_text()[-3000:])
            try:
                return httpx.get(f"{url}/-/ready", timeout=1).status_code == 200
            except httpx.HTTPError:
                return False

        wait_for(ready, what="Alertmanager to start")
        yield url
    finally:
        process.terminate()
        process.wait(10)


def test_triops_posts_incidents_to_alertmanager_and_resolves_them(server, alertmanager):
    project = {"X-Triops-Project": "to-am"}
    with server.http() as api:
        api.headers.update(project)
        assert api.put("/api/v1/notifications/channels/am", json={
            "kind": "alertmanager", "config": {"url": alertmanager,
                                               "generator_url_base": server.url}},
        ).status_code == 200
        assert api.put("/api/v1/notifications/routes/all", json={
            "channel": "am", "group_wait_s": 0, "send_resolved": True}).status_code == 200
        r = api.post("/api/v1/signals", json={
            "source": "ops", "kind": "latency", "subject": "service:checkout",
            "severity": "critical", "labels": {"service": "checkout", "team.name": "pay"},
            "summary": "checkout p99 above 2 s",
            "annotations": {"runbook_url": "https://runbooks.example/latency"}})
        incident = r.json()["incident_id"]

        def in_alertmanager() -> list[dict]:
            alerts = httpx.get(f"{alertmanager}/api/v2/alerts").json()
            return [a for a in alerts if a["labels"].get("triops_incident") == incident]

        [alert] = wait_for(in_alertmanager, what="the alert in Alertmanager")
        assert alert["labels"]["alertname"] == "latency"
        assert alert["labels"]["severity"] == "critical"
        assert alert["labels"]["service"] == "checkout"
        assert alert["labels"]["team_name"] == "pay"  # made a valid label name
        assert alert["labels"]["triops_project"] == "to-am"
        assert alert["annotations"]["summary"] == "checkout p99 above 2 s"
        assert alert["annotations"]["runbook_url"] == "https://runbooks.example/latency"
        assert alert["generatorURL"] == f"{server.url}/ui/incidents/{incident}"
        assert alert["status"]["state"] == "active"

        # The delivery is recorded when Alertmanager's answer is back, which can be a moment
        # after Alertmanager already lists the alert.
        def sent_events() -> list[dict]:
            return [d for d in api.get("/api/v1/notifications/deliveries").json()
                    if d["status"] == "sent"]

        [sent] = wait_for(sent_events, what="the delivery recorded as sent")
        assert (sent["attempts"], sent["incidents"], sent["event"]) == (1, [incident], "firing")

        assert api.post(f"/api/v1/incidents/{incident}/resolve").status_code == 200
        wait_for(lambda: not in_alertmanager(), what="Alertmanager to see the alert resolved")
        sent_both = wait_for(lambda: len(sent_events()) == 2 and sent_events(),
                             what="the resolution recorded as sent")
        assert sorted(d["event"] for d in sent_both) == ["firing", "resolved"]


def test_alertmanager_webhook_opens_an_incident_with_its_annotations(server, alertmanager):
    r = httpx.post(f"{alertmanager}/api/v2/alerts", json=[{
        "labels": {"alertname": "DiskFull", "service": "storage", "severity": "critical"},
        "annotations": {"summary": "disk /data is 97% full",
                        "description": "/data on storage-1 has less than 3% free",
                        "runbook_url": "https://runbooks.example/disk-full"},
        "generatorURL": "http://prometheus.example/graph?g0.expr=disk",
    }])
    assert r.status_code == 200, r.text
    with server.http() as api:
        def arrived() -> list[dict]:
            return [i for i in api.get("/api/v1/incidents").json()
                    if i["kind"] == "alert:DiskFull"]

        [incident] = wait_for(arrived, what="the incident in triops")
    assert incident["title"] == "disk /data is 97% full"
    assert incident["severity"] == "critical"
    assert incident["subject"] == "service:storage"
    assert incident["annotations"] == {
        "summary": "disk /data is 97% full",
        "description": "/data on storage-1 has less than 3% free",
        "runbook_url": "https://runbooks.example/disk-full",
        "generatorURL": "http://prometheus.example/graph?g0.expr=disk"}
