"""Prometheus remote write intake over HTTP: series stored and scored, counters stored
only, staleness markers skipped, and every malformed request a precise 400 or 413."""

from __future__ import annotations

import math
import struct

import cramjam

from triops.ops.prom_remote_write import STALE_NAN_BITS, WriteRequest

HEADERS = {"Content-Type": "application/x-protobuf", "Content-Encoding": "snappy",
           "X-Prometheus-Remote-Write-Version": "0.1.0"}
STALE = struct.unpack("<d", struct.pack("<Q", STALE_NAN_BITS))[0]


def body(*series: tuple[dict[str, str], list[tuple[float, int]]]) -> bytes:
    request = WriteRequest()
    for labels, samples in series:
        ts = request.timeseries.add()
        for name, value in labels.items():
            ts.labels.add(name=name, value=value)
        for value, at in samples:
            ts.samples.add(value=value, timestamp=at)
    return bytes(cramjam.snappy.compress_raw(request.SerializeToString()))


def test_series_are_stored_and_gauges_scored(client):
    gauge = {"__name__": "queue_depth", "job": "worker", "instance": "h1:9100"}
    counter = {"__name__": "jobs_done_total", "job": "worker"}
    points = [(float(i % 7), 1_700_000_000_000 + i * 1000) for i in range(50)]
    answer = client.post("/api/v1/write", headers=HEADERS, content=body(
        (gauge, points), (counter, [(float(i), t) for i, (_, t) in enumerate(points)]),
        ({"__name__": "queue_depth", "job": "gone"}, [(STALE, 1_700_000_060_000)])))
    assert answer.status_code == 204, answer.text
    assert "x-triops-rejected" not in answer.headers
    series = client.get("/api/v1/ops/series").json()
    assert 'queue_depth{instance="h1:9100",job="worker"}' in series
    assert 'jobs_done_total{job="worker"}' in series
    assert not any('job="gone"' in s for s in series)  # a staleness marker is no sample
    stored = client.get("/api/v1/ops/samples", params={
        "series": 'queue_depth{instance="h1:9100",job="worker"}'}).json()["points"]
    assert [(p["ts_ms"], p["value"]) for p in stored] == [(t, v) for v, t in points]


def test_bad_values_and_names_are_rejected_and_counted_the_rest_kept(client):
    answer = client.post("/api/v1/write", headers=HEADERS, content=body(
        ({"__name__": "ok_gauge"}, [(1.0, 1_700_000_000_000), (math.inf, 1_700_000_001_000)]),
        ({"job": "no-name"}, [(1.0, 1_700_000_000_000)])))
    assert answer.status_code == 204
    rejected = answer.headers["x-triops-rejected"]
    assert rejected.startswith("2: ") and "not a finite number" in rejected
    assert client.get("/api/v1/ops/series").json() == ["ok_gauge"]


def test_malformed_requests_get_precise_errors(client):
    good = body(({"__name__": "g"}, [(1.0, 1)]))
    cases = [
        ({**HEADERS, "Content-Type": "application/json"}, good, 400, "Content-Type"),
        ({**HEADERS, "Content-Encoding": "gzip"}, good, 400, "Content-Encoding snappy"),
        (HEADERS, b"\xff\xff\xff\xff\xff\xff", 400, "not snappy"),
        (HEADERS, bytes(cramjam.snappy.compress_raw(b"\x0a\x05junk!")), 400,
         "not a prometheus.WriteRequest"),
        # A 64 KiB body that claims to inflate to 1 GiB is refused before inflating.
        (HEADERS, b"\x80\x80\x80\x80\x04" + b"\x00" * 65_536, 413, "inflates to"),
    ]
    for headers, content, status, phrase in cases:
        answer = client.post("/api/v1/write", headers=headers, content=content)
        assert answer.status_code == status, (phrase, answer.text)
        assert phrase in answer.json()["message"]
    assert client.get("/api/v1/ops/series").json() == []
