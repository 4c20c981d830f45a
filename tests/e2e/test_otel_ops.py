"""AIOps intake against a real server: the stock OpenTelemetry SDK exporters, an
Alertmanager webhook, and a labelled NAB series replayed in batches."""

from __future__ import annotations

import csv
import json
import logging
from datetime import UTC, datetime
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e

NAB = Path("/work/shared/datasets/nab")
NAB_FILE = "realKnownCause/ec2_request_latency_system_failure.csv"


def test_sdk_metric_exporter_lands_and_is_queryable(server):
    from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
    from opentelemetry.sdk.resources import Resource

    exporter = OTLPMetricExporter(endpoint=f"{server.url}/v1/metrics",
                                  headers={"Authorization": f"Bearer {server.admin_key}"})
    reader = PeriodicExportingMetricReader(exporter, export_interval_millis=3_600_000)
    resource = Resource.create({"service.name": "shop"})
    provider = MeterProvider(metric_readers=[reader], resource=resource)
    meter = provider.get_meter("tests")
    orders = meter.create_counter("shop.orders")
    latency = meter.create_histogram("shop.latency", unit="ms")
    depth = meter.create_gauge("shop.queue.depth")
    orders.add(3, {"region": "eu"})
    for ms in (12, 18, 25, 40, 300):
        latency.record(ms, {"route": "/pay"})
    depth.set(7, {"queue": "mail"})
    assert provider.force_flush(10_000)
    provider.shutdown()

    with server.http() as http:
        series = http.get("/api/v1/ops/series", params={"prefix": "shop_"}).json()
        # The SDK names each process with a service.instance.id; like Prometheus'
        # `instance`, it is part of every series key.
        instance = resource.attributes.get("service.instance.id")
        tail = f',service_instance_id="{instance}"' if instance else ""
        tail += ',service_name="shop"}'
        expected = {
            "shop_orders{region=\"eu\"" + tail: 3,
            "shop_queue_depth{queue=\"mail\"" + tail: 7,
            "shop_latency_count{route=\"/pay\"" + tail: 5,
            "shop_latency_sum{route=\"/pay\"" + tail: 395,
            "shop_latency_p50{route=\"/pay\"" + tail: None,
            "shop_latency_p95{route=\"/pay\"" + tail: None,
        }
        assert sorted(series) == sorted(expected)
        for key, want in expected.items():
            points = http.get("/api/v1/ops/samples", params={"series": key}).json()["points"]
            assert points, key  # force_flush and shutdown each export once
            if want is not None:
                assert points[-1]["value"] == want, key


def test_sdk_log_exporter_lands_with_trace_ids_and_templates(server):
    from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
    from opentelemetry.sdk._logs import LoggerProvider, LoggingHandler
    from opentelemetry.sdk._logs.export import BatchLogRecordProcessor
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider

    resource = Resource.create({"service.name": "billing"})
    provider = LoggerProvider(resource=resource)
    provider.add_log_record_processor(BatchLogRecordProcessor(OTLPLogExporter(
        endpoint=f"{server.url}/v1/logs",
        headers={"Authorization": f"Bearer {server.admin_key}"})))
    handler = LoggingHandler(level=logging.INFO, logger_provider=provider)
    log = logging.getLogger("tests.billing")
    log.propagate = False
    log.setLevel(logging.INFO)
    log.addHandler(handler)
    tracer = TracerProvider(resource=resource).get_tracer("tests")
    try:
        with tracer.start_as_current_span("charge") as span:
            trace_id = format(span.get_span_context().trace_id, "032x")
            for invoice in range(5):
                log.info("charged invoice %d for %d cents", invoice, 100 + invoice)
            log.error("card declined for customer 42")
        assert provider.force_flush(10_000)
    finally:
        log.removeHandler(handler)
        provider.shutdown()

    with server.http() as http:
        lines = http.get("/api/v1/ops/logs", params={"stream": "billing"}).json()
        assert len(lines) == 6
        assert {line["trace_id"] for line in lines} == {trace_id}
        assert [line["severity"] for line in lines].count("ERROR") == 1
        templates = http.get("/api/v1/ops/templates", params={"stream": "billing"}).json()
        by_text = {t["template"]: t["count"] for t in templates}
        assert by_text["charged invoice <*> for <*> cents"] == 5
        charged = next(t["id"] for t in templates if t["count"] == 5)
        only = http.get("/api/v1/ops/logs", params={"stream": "billing", "template": charged})
        assert len(only.json()) == 5


def test_alertmanager_webhook_lands_as_incident(server):
    payload = {
        "version": "4", "groupKey": "{}:{alertname=\"DiskFull\"}", "status": "firing",
        "receiver": "triops", "groupLabels": {"alertname": "DiskFull"}, "commonLabels": {},
        "commonAnnotations": {}, "externalURL": "http://alertmanager:9093", "truncatedAlerts": 0,
        "alerts": [{
            "status": "firing",
            "labels": {"alertname": "DiskFull", "severity": "error", "instance": "db-1:9100"},
            "annotations": {"summary": "disk on db-1 is 97% full"},
            "startsAt": "2026-03-01T08:00:00Z", "endsAt": "0001-01-01T00:00:00Z",
            "generatorURL": "http://prometheus:9090/graph", "fingerprint": "a1b2c3d4e5f60718",
        }],
    }
    with server.http() as http:
        r = http.post("/api/v1/alerts/alertmanager", json=payload)
        assert r.status_code == 200, r.text
        incident = http.get(f"/api/v1/incidents/{r.json()['incidents'][0]}").json()
    assert (incident["kind"], incident["subject"], incident["severity"]) == (
        "alert:DiskFull", "service:db-1:9100", "error")
    assert incident["title"] == "disk on db-1 is 97% full"
    assert incident["first_ms"] == int(datetime(2026, 3, 1, 8, tzinfo=UTC).timestamp() * 1000)


def test_concurrent_clients_fold_one_fingerprint_into_one_incident(server):
    from concurrent.futures import ThreadPoolExecutor

    clients, each, t0 = 16, 10, 1_800_000_000_000

    def post(worker: int) -> None:
        with server.http() as http:
            for k in range(each):
                r = http.post("/api/v1/signals", json={
                    "source": "ops", "kind": "latency", "subject": "service:race",
                    "value": float(k), "time_ms": t0 + worker * each + k})
                assert r.status_code == 201, r.text

    with ThreadPoolExecutor(clients) as pool:
        list(pool.map(post, range(clients)))
    with server.http() as http:
        found = [i for i in http.get("/api/v1/incidents").json()
                 if i["subject"] == "service:race"]
    assert [(i["status"], i["signal_count"]) for i in found] == [("open", clients * each)]


def test_concurrent_alertmanager_repeats_are_counted_once(server):
    from concurrent.futures import ThreadPoolExecutor

    def alert(name: str) -> dict:
        return {"status": "firing", "labels": {"alertname": name, "instance": "race-1"},
                "annotations": {}, "startsAt": "2026-03-02T08:00:00Z",
                "endsAt": "0001-01-01T00:00:00Z", "fingerprint": name}

    def post(i: int) -> dict:
        # Half the notifications name the alerts in the other order.
        alerts = [alert("RaceA"), alert("RaceB")][:: 1 if i % 2 else -1]
        with server.http() as http:
            r = http.post("/api/v1/alerts/alertmanager",
                          json={"version": "4", "receiver": "triops", "alerts": alerts})
        assert r.status_code == 200, r.text
        return r.json()

    sends = 12
    with ThreadPoolExecutor(sends) as pool:
        answers = list(pool.map(post, range(sends)))
    assert sum(a["firing"] for a in answers) == 2
    assert sum(a["repeated"] for a in answers) == 2 * (sends - 1)
    # Both alerts name instance race-1 at one time: one incident, one member each.
    with server.http() as http:
        [found] = [i for i in http.get("/api/v1/incidents").json()
                   if i["kind"] in ("alert:RaceA", "alert:RaceB")]
        members = http.get(f"/api/v1/incidents/{found['id']}").json()["members"]
    assert (found["signal_count"], found["repeat_count"]) == (2, 2 * (sends - 1))
    assert sorted((m["kind"], m["signal_count"]) for m in members) == [
        ("alert:RaceA", 1), ("alert:RaceB", 1)]


def _ms(text: str) -> int:
    return int(datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp() * 1000)


def test_nab_series_replay_raises_anomalies_inside_labelled_windows(server):
    with open(NAB / "data" / NAB_FILE, newline="") as handle:
        rows = [(_ms(r["timestamp"]), float(r["value"])) for r in csv.DictReader(handle)]
    windows = [(_ms(a), _ms(b)) for a, b in
               json.loads((NAB / "labels" / "combined_windows.json").read_text())[NAB_FILE]]
    anomalies = late = 0
    with server.http() as http:
        for start in range(0, len(rows), 500):
            batch = [{"name": "ec2_latency", "labels": {"host": "nab"}, "ts_ms": t, "value": v}
                     for t, v in rows[start:start + 500]]
            r = http.post("/api/v1/ops/samples", json={"samples": batch})
            assert r.status_code == 201, r.text
            # The file repeats a few timestamps: those points are stored, not scored.
            assert r.json()["scored"] + r.json()["late"] == len(batch)
            anomalies += r.json()["anomalies"]
            late += r.json()["late"]
        incidents = [i for i in http.get("/api/v1/incidents", params={"limit": 1000}).json()
                     if i["subject"] == 'series:ec2_latency{host="nab"}']
        times = [s["time_ms"] for i in incidents
                 for s in http.get(f"/api/v1/incidents/{i['id']}").json()["signals"]]
    assert len(times) == anomalies > 0
    inside = [t for t in times if any(a <= t <= b for a, b in windows)]
    print(f"NAB {NAB_FILE}: {len(rows)} points ({late} not scored: repeated timestamps), "
          f"{len(times)} anomaly signals, "
          f"{len(inside)} inside labelled windows, {len(times) - len(inside)} outside")
    assert inside
