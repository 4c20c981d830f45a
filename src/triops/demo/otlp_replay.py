"""PetShop-style recordings as OTLP requests: a call graph as client/server span pairs,
and a metrics table (columns node, metric, statistic) as gauges. The infrastructure loop
of ``triops demo`` replays an issue with them, and so does its end-to-end test."""

from __future__ import annotations

import math

import pandas as pd
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue


def _kv(key: str, value: str) -> KeyValue:
    return KeyValue(key=key, value=AnyValue(string_value=value))


def call_graph_traces(edges: list[tuple[str, str]], at_ns: int) -> ExportTraceServiceRequest:
    """One client span in the caller and one server span under it in the callee, per call."""
    spans: dict[str, list] = {}
    for n, (caller, callee) in enumerate(edges):
        trace_id = (n + 1).to_bytes(16, "big")
        client, server = (2 * n + 1).to_bytes(8, "big"), (2 * n + 2).to_bytes(8, "big")
        spans.setdefault(caller, []).append({"trace_id": trace_id, "span_id": client,
                                             "kind": 3})
        spans.setdefault(callee, []).append({"trace_id": trace_id, "span_id": server,
                                             "kind": 2, "parent_span_id": client})
    request = ExportTraceServiceRequest()
    for service, items in spans.items():
        rs = request.resource_spans.add()
        rs.resource.attributes.append(_kv("service.name", service))
        scope = rs.scope_spans.add()
        for item in items:
            scope.spans.add(name="call", start_time_unix_nano=at_ns,
                            end_time_unix_nano=at_ns + 100_000_000, **item)
    return request


def metrics_request(table: pd.DataFrame) -> ExportMetricsServiceRequest:
    """The rows of ``table`` as one gauge per metric with a ``statistic`` attribute."""
    request = ExportMetricsServiceRequest()
    for node in sorted({c[0] for c in table.columns}):
        rm = request.resource_metrics.add()
        rm.resource.attributes.append(_kv("service.name", node))
        scope = rm.scope_metrics.add()
        for _, metric, stat in (c for c in table.columns if c[0] == node):
            gauge = scope.metrics.add(name=metric).gauge
            for ts, value in table[(node, metric, stat)].items():
                if not math.isnan(value):
                    point = gauge.data_points.add(time_unix_nano=int(ts * 1e9), as_double=value)
                    point.attributes.append(_kv("statistic", stat))
    return request
