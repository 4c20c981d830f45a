"""A write that waits out SQLite's busy timeout behind other writers is answered 503 with
``Retry-After`` and writes nothing, so an OTLP exporter retries it; it was a 500."""

from __future__ import annotations

import sqlite3

from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
)

from tests.conftest import admin_client, admin_runtime
from triops.core.settings import Settings
from triops.store import Database, engine, upgrade_schema

PB = {"Content-Type": "application/x-protobuf"}


def _request() -> bytes:
    req = ExportMetricsServiceRequest()
    metric = req.resource_metrics.add().scope_metrics.add().metrics.add(name="queue.depth")
    metric.gauge.data_points.add(time_unix_nano=1_700_000_000_000_000_000, as_double=3.0)
    return req.SerializeToString()


def test_write_behind_a_held_lock_is_503_and_retry_succeeds(tmp_path, monkeypatch):
    monkeypatch.setattr(engine, "SQLITE_BUSY_TIMEOUT_MS", 200)
    path = tmp_path / "triops.db"
    migrated = Database(f"sqlite:///{path}")
    upgrade_schema(migrated.engine)
    migrated.dispose()
    rt = admin_runtime(Settings(store=f"sqlite:///{path}", home=tmp_path,
                                artifacts=str(tmp_path / "artifacts")))
    with admin_client(rt) as client:
        other_writer = sqlite3.connect(path, isolation_level=None)
        other_writer.execute("BEGIN IMMEDIATE")
        try:
            refused = client.post("/v1/metrics", content=_request(), headers=PB)
        finally:
            other_writer.execute("ROLLBACK")
            other_writer.close()
        assert refused.status_code == 503, refused.text
        assert refused.headers["retry-after"] == "1"
        assert refused.json()["error_code"] == "TEMPORARILY_UNAVAILABLE"
        assert client.get("/api/v1/ops/series", params={"prefix": "queue_depth"}).json() == []

        retried = client.post("/v1/metrics", content=_request(), headers=PB)
        assert retried.status_code == 200, retried.text
        assert client.get("/api/v1/ops/series", params={"prefix": "queue_depth"}).json() == [
            "queue_depth"]
    rt.close()
