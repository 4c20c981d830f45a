"""OTLP/HTTP metrics and logs intake over the real app: protobuf and JSON, bad payloads."""

from __future__ import annotations

import gzip
import json

from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import (
    ExportLogsServiceRequest,
    ExportLogsServiceResponse,
)
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
    ExportMetricsServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.logs.v1.logs_pb2 import LogRecord
from opentelemetry.proto.metrics.v1.metrics_pb2 import (
    AggregationTemporality,
    HistogramDataPoint,
    Metric,
)

from triops.ops.otlp_metrics import label_name, metric_name, quantile, translate

PB = {"Content-Type": "application/x-protobuf"}
T0 = 1_700_000_000_000  # ms


def kv(key: str, value: str | int) -> KeyValue:
    if isinstance(value, int):
        return KeyValue(key=key, value=AnyValue(int_value=value))
    return KeyValue(key=key, value=AnyValue(string_value=value))


def metrics_request(*metrics: Metric, service: str = "checkout") -> ExportMetricsServiceRequest:
    req = ExportMetricsServiceRequest()
    rm = req.resource_metrics.add()
    rm.resource.attributes.extend([kv("service.name", service), kv("process.pid", 4242)])
    rm.scope_metrics.add().metrics.extend(metrics)
    return req


def gauge(name: str, points: list[tuple[int, float]], **attrs: str) -> Metric:
    m = Metric(name=name)
    for ts, v in points:
        p = m.gauge.data_points.add(time_unix_nano=ts * 1_000_000, as_double=v)
        p.attributes.extend([kv(k, a) for k, a in attrs.items()])
    return m


def samples(client, series: str) -> list[tuple[int, float]]:
    r = client.get("/api/v1/ops/samples", params={"series": series})
    assert r.status_code == 200, r.text
    return [(p["ts_ms"], p["value"]) for p in r.json()["points"]]


def test_names_and_labels_are_sanitised_like_prometheus():
    assert metric_name("http.server.duration") == "http_server_duration"
    assert metric_name("9lives") == "_9lives"
    assert label_name("service.name") == "service_name"
    assert label_name("http.response.status-code") == "http_response_status_code"
    assert quantile(0.5, [10.0, 20.0], [0, 10, 0]) == 15.0
    assert quantile(0.95, [1.0], [0, 0]) is None  # no observations: no estimate


def test_points_of_one_attribute_list_share_their_labels_and_no_other():
    hosts = ["a", "a", "b", "a", "b", "b"]
    m = Metric(name="cpu")
    for host in hosts:
        m.gauge.data_points.add(time_unix_nano=T0 * 1_000_000, as_double=1.0).attributes.extend(
            [kv("host", host), kv("core.id", 0)])
    got = translate(metrics_request(m)).samples
    assert [s.labels for s in got] == [
        {"service_name": "checkout", "host": h, "core_id": "0"} for h in hosts]
    assert got[0].labels is got[1].labels is got[3].labels
    assert got[2].labels is got[4].labels is got[5].labels
    assert got[0].labels is not got[2].labels


def test_zero_values_are_kept_whichever_field_holds_them_and_a_point_without_one_is_not():
    m = Metric(name="q")
    m.gauge.data_points.add(time_unix_nano=T0 * 1_000_000, as_double=0.0)
    m.gauge.data_points.add(time_unix_nano=(T0 + 1) * 1_000_000, as_int=0)
    m.gauge.data_points.add(time_unix_nano=(T0 + 2) * 1_000_000)  # no value at all
    m.gauge.data_points.add(time_unix_nano=(T0 + 3) * 1_000_000, as_int=-3)
    batch = translate(metrics_request(m))
    assert [(s.ts_ms, s.value) for s in batch.samples] == [(T0, 0.0), (T0 + 1, 0.0),
                                                           (T0 + 3, -3.0)]
    assert all(type(s.value) is float for s in batch.samples)
    assert batch.rejected == 1 and "no finite value" in batch.problems[0]


def test_protobuf_gauge_and_counter_land_as_series(client):
    counter = Metric(name="http.requests")
    counter.sum.is_monotonic = True
    counter.sum.aggregation_temporality = AggregationTemporality.AGGREGATION_TEMPORALITY_CUMULATIVE
    counter.sum.data_points.add(time_unix_nano=T0 * 1_000_000, as_int=7).attributes.append(
        kv("http.route", "/pay"))
    req = metrics_request(gauge("cpu.load", [(T0, 0.5), (T0 + 1000, 0.75)], core="0"), counter)
    r = client.post("/v1/metrics", content=req.SerializeToString(), headers=PB)
    assert r.status_code == 200, r.text
    answer = ExportMetricsServiceResponse.FromString(r.content)
    assert answer.partial_success.rejected_data_points == 0
    series = client.get("/api/v1/ops/series").json()
    gauge_key = 'cpu_load{core="0",service_name="checkout"}'
    counter_key = 'http_requests{http_route="/pay",service_name="checkout"}'
    assert gauge_key in series and counter_key in series
    assert not any("process" in s for s in series)  # volatile resource attributes left out
    assert samples(client, gauge_key) == [(T0, 0.5), (T0 + 1000, 0.75)]
    assert samples(client, counter_key) == [(T0, 7.0)]


def test_histogram_gives_count_sum_and_quantile_estimates(client):
    h = Metric(name="latency")
    point = HistogramDataPoint(time_unix_nano=T0 * 1_000_000, count=10, sum=150.0,
                               explicit_bounds=[10.0, 20.0], bucket_counts=[0, 10, 0])
    h.histogram.data_points.append(point)
    h.histogram.aggregation_temporality = AggregationTemporality.AGGREGATION_TEMPORALITY_CUMULATIVE
    r = client.post("/v1/metrics", content=metrics_request(h).SerializeToString(), headers=PB)
    assert r.status_code == 200, r.text
    key = '{service_name="checkout"}'
    assert samples(client, "latency_count" + key) == [(T0, 10.0)]
    assert samples(client, "latency_sum" + key) == [(T0, 150.0)]
    assert samples(client, "latency_p50" + key) == [(T0, 15.0)]
    assert samples(client, "latency_p95" + key) == [(T0, 19.5)]


def test_json_and_gzip_encodings(client):
    body = {"resourceMetrics": [{"resource": {"attributes": [
        {"key": "service.name", "value": {"stringValue": "api"}}]},
        "scopeMetrics": [{"metrics": [{"name": "queue.depth", "gauge": {"dataPoints": [
            {"timeUnixNano": str(T0 * 1_000_000), "asInt": "12"}]}}]}]}]}
    r = client.post("/v1/metrics", content=gzip.compress(json.dumps(body).encode()),
                    headers={"Content-Type": "application/json", "Content-Encoding": "gzip"})
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("application/json")
    assert samples(client, 'queue_depth{service_name="api"}') == [(T0, 12.0)]


def test_nan_points_are_rejected_one_by_one(client):
    req = metrics_request(gauge("temp", [(T0, float("nan")), (T0 + 1000, 21.5)]))
    r = client.post("/v1/metrics", content=req.SerializeToString(), headers=PB)
    assert r.status_code == 200
    answer = ExportMetricsServiceResponse.FromString(r.content)
    assert answer.partial_success.rejected_data_points == 1
    assert "finite" in answer.partial_success.error_message
    assert samples(client, 'temp{service_name="checkout"}') == [(T0 + 1000, 21.5)]


def test_invalid_payloads_are_400_and_write_nothing(client):
    bad = [
        (b"\x0a\xff\xff\xff", PB),
        (b"{not json", {"Content-Type": "application/json"}),
        (b"\x1f\x8b broken gzip", {**PB, "Content-Encoding": "gzip"}),
        (b"anything", {"Content-Type": "text/plain"}),
    ]
    for path in ("/v1/metrics", "/v1/logs"):
        for content, headers in bad:
            r = client.post(path, content=content, headers=headers)
            assert r.status_code == 400, (path, content, r.text)
            assert r.json()["error_code"] == "INVALID_PARAMETER_VALUE"
    nameless = metrics_request(Metric(name=""))
    r = client.post("/v1/metrics", content=nameless.SerializeToString(), headers=PB)
    assert r.status_code == 400 and "no name" in r.json()["message"]
    assert client.get("/api/v1/ops/series").json() == []
    assert client.get("/api/v1/ops/logs").json() == []


def logs_request(*records: LogRecord, service: str | None = "checkout") -> ExportLogsServiceRequest:
    req = ExportLogsServiceRequest()
    rl = req.resource_logs.add()
    if service:
        rl.resource.attributes.append(kv("service.name", service))
    rl.scope_logs.add().log_records.extend(records)
    return req


def test_protobuf_logs_land_with_template_trace_and_severity(client):
    trace = bytes.fromhex("5b8efff798038103d269b633813fc60c")
    span = bytes.fromhex("eee19b7ec3c1b174")
    recs = [
        LogRecord(time_unix_nano=(T0 + i) * 1_000_000, severity_number=17,
                  body=AnyValue(string_value=f"payment {i} failed for user {100 + i}"),
                  trace_id=trace, span_id=span, attributes=[kv("code", 402)])
        for i in range(3)
    ]
    r = client.post("/v1/logs", content=logs_request(*recs).SerializeToString(), headers=PB)
    assert r.status_code == 200, r.text
    ExportLogsServiceResponse.FromString(r.content)
    lines = client.get("/api/v1/ops/logs", params={"stream": "checkout"}).json()
    assert [line["body"] for line in lines] == [f"payment {i} failed for user {100 + i}"
                                                 for i in range(3)]
    assert {line["severity"] for line in lines} == {"ERROR"}
    assert lines[0]["trace_id"] == trace.hex() and lines[0]["span_id"] == span.hex()
    assert lines[0]["attributes"] == {"code": 402}
    templates = client.get("/api/v1/ops/templates", params={"stream": "checkout"}).json()
    assert [(t["template"], t["count"]) for t in templates] == [
        ("payment <*> failed for user <*>", 3)]
    assert templates[0]["first_ms"] == T0 and templates[0]["last_ms"] == T0 + 2


def test_json_logs_keep_hex_trace_ids(client):
    body = {"resourceLogs": [{"resource": {"attributes": [
        {"key": "service.name", "value": {"stringValue": "web"}}]},
        "scopeLogs": [{"logRecords": [{
            "timeUnixNano": str(T0 * 1_000_000), "severityText": "WARN",
            "body": {"stringValue": "slow query 120 ms"},
            "traceId": "5b8efff798038103d269b633813fc60c", "spanId": "eee19b7ec3c1b174"}]}]}]}
    r = client.post("/v1/logs", json=body)
    assert r.status_code == 200, r.text
    line = client.get("/api/v1/ops/logs", params={"stream": "web"}).json()[0]
    assert line["trace_id"] == "5b8efff798038103d269b633813fc60c"
    assert line["span_id"] == "eee19b7ec3c1b174"
    assert line["severity"] == "WARN"
    body["resourceLogs"][0]["scopeLogs"][0]["logRecords"][0]["traceId"] = "zz" * 16
    r = client.post("/v1/logs", json=body)
    assert r.status_code == 400


def test_log_without_service_goes_to_unknown_service_and_map_bodies_become_json(client):
    rec = LogRecord(observed_time_unix_nano=T0 * 1_000_000,
                    body=AnyValue(kvlist_value={"values": [kv("event", "login")]}))
    r = client.post("/v1/logs", content=logs_request(rec, service=None).SerializeToString(),
                    headers=PB)
    assert r.status_code == 200
    line = client.get("/api/v1/ops/logs", params={"stream": "unknown_service"}).json()[0]
    assert json.loads(line["body"]) == {"event": "login"} and line["ts_ms"] == T0


def test_invalid_utf8_in_protobuf_log_is_400(client):
    good = logs_request(LogRecord(body=AnyValue(string_value="héllo"))).SerializeToString()
    broken = good.replace("é".encode(), b"\xff\xfe")
    r = client.post("/v1/logs", content=broken, headers=PB)
    assert r.status_code == 400, r.text
    assert client.get("/api/v1/ops/logs").json() == []


def test_docstring_examples_run():
    import doctest

    import triops.ops.otlp_metrics
    import triops.ui.charts

    for module in (triops.ops.otlp_metrics, triops.ui.charts):
        result = doctest.testmod(module)
        assert result.attempted > 0 and result.failed == 0, module.__name__
