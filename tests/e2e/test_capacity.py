"""Capacity signals against a real server: a filling disk sent over OTLP/HTTP (protobuf,
explicit timestamps) raises "full in ~N h" before it is full and clears when the trend
turns."""

from __future__ import annotations

import re

import pytest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.metrics.v1.metrics_pb2 import Metric

pytestmark = pytest.mark.e2e

PB = {"Content-Type": "application/x-protobuf"}
T0 = 1_750_000_000_000
H = 3_600_000
STEP = 5 * 60 * 1000
USED = 'system_filesystem_usage{host_name="host-3",mountpoint="/var",state="used"}'
FULL_AT_H = 60  # 200 GB used, 5 GB more an hour, 500 GB size


def kv(key: str, value: str) -> KeyValue:
    return KeyValue(key=key, value=AnyValue(string_value=value))


def disk_request(start: int, end: int, used) -> bytes:
    """``system.filesystem.usage`` of /var on host-3 every 5 minutes of [start, end) ms,
    with its ``system.filesystem.limit``, as the hostmetrics receiver names them."""
    req = ExportMetricsServiceRequest()
    rm = req.resource_metrics.add()
    rm.resource.attributes.extend([kv("host.name", "host-3")])
    usage, limit = Metric(name="system.filesystem.usage"), Metric(name="system.filesystem.limit")
    for ts in range(start, end, STEP):
        p = usage.gauge.data_points.add(time_unix_nano=ts * 1_000_000, as_double=used(ts))
        p.attributes.extend([kv("mountpoint", "/var"), kv("state", "used")])
        q = limit.gauge.data_points.add(time_unix_nano=ts * 1_000_000, as_double=500.0)
        q.attributes.extend([kv("mountpoint", "/var")])
    rm.scope_metrics.add().metrics.extend([usage, limit])
    return req.SerializeToString()


def send_hours(http, first_h: int, last_h: int, used) -> None:
    for h in range(first_h, last_h, 2):  # a batch every two hours of data
        r = http.post("/v1/metrics", content=disk_request(T0 + h * H, T0 + (h + 2) * H, used),
                      headers=PB)
        assert r.status_code == 200, r.text


def capacity_incidents(http) -> list[dict]:
    r = http.get("/api/v1/incidents")
    assert r.status_code == 200, r.text
    return [i for i in r.json() if i["kind"] == "capacity"]


def test_filling_disk_over_otlp_raises_full_in_n_hours_and_clears(server):
    def filling(ts: int) -> float:
        return 200 + 5 * (ts - T0) / H

    with server.http() as http:
        r = http.put("/api/v1/capacity/rules/disk-full", json={
            "metric": "system.filesystem.usage", "labels": {"state": "used"},
            "percent": 100, "limit_series": "system.filesystem.limit", "horizon": "3d",
            "min_history": "6h", "subject": "disk {mountpoint} on {host_name}"})
        assert r.status_code == 200, r.text
        assert [x["name"] for x in http.get("/api/v1/capacity/rules").json()] == ["disk-full"]

        send_hours(http, 0, 24, filling)
        [incident] = capacity_incidents(http)
        assert incident["status"] == "open"
        match = re.fullmatch(r"disk /var on host-3 full in ~(\d+) h", incident["title"])
        assert match, incident["title"]
        last_h = 24 - STEP / H
        assert int(match.group(1)) == pytest.approx(FULL_AT_H - last_h, abs=2)
        assert float(incident["annotations"]["eta_hours"]) == pytest.approx(FULL_AT_H - last_h,
                                                                             abs=1)

        f = http.get("/api/v1/capacity/forecasts", params={"series": USED})
        assert f.status_code == 200, f.text
        body = f.json()
        [crossing] = body["rules"]
        assert crossing["threshold"] == 500
        assert (crossing["crossing_ms"] - T0) / H == pytest.approx(FULL_AT_H, abs=1)
        assert all(p["lo"] <= p["forecast"] <= p["hi"] for p in body["points"])

        # Cleaned up at hour 30 and steady since: the projection no longer crosses.
        send_hours(http, 24, 30, filling)
        send_hours(http, 30, 60, lambda ts: 250.0)
        [incident] = capacity_incidents(http)
        assert incident["status"] == "resolved"
        assert incident["signal_count"] >= 3


def test_cli_manages_rules_and_shows_the_projection(server):
    from typer.testing import CliRunner

    from triops.cli.main import app

    cli = ["--server", server.url, "--api-key", server.admin_key]
    run = CliRunner().invoke
    out = run(app, ["capacity", "set", "disk-90", "--metric", "system.filesystem.usage",
                    "--label", "state=used", "--value", "450", "--horizon", "3d", *cli])
    assert out.exit_code == 0, out.output
    out = run(app, ["capacity", "rules", *cli])
    assert "disk-90" in out.output and "above 450" in out.output
    with server.http() as http:
        # The same disk (this module's server keeps it) fills again from 250 GB.
        send_hours(http, 100, 130, lambda ts: 250 + 5 * (ts - T0 - 100 * H) / H)
    out = run(app, ["capacity", "forecasts", USED, *cli])
    assert out.exit_code == 0, out.output
    assert re.search(r"disk-90: crosses 450 in ~\d+\.\d h", out.output), out.output
    out = run(app, ["capacity", "delete", "disk-90", *cli])
    assert out.exit_code == 0, out.output
