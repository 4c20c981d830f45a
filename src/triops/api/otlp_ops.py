"""OTLP/HTTP metrics and logs intake: ``POST /v1/metrics`` and ``POST /v1/logs``.

Protobuf or JSON, gzip or not (see :mod:`triops.api.otlp_codec`). A request is stored
whole or not at all: a malformed one is answered 400 and writes nothing. Individual
points without a finite value are skipped and reported in ``partial_success``, as the
OTLP specification asks.
"""

from __future__ import annotations

import base64

from fastapi import APIRouter
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import (
    ExportLogsServiceRequest,
    ExportLogsServiceResponse,
)
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsPartialSuccess,
    ExportMetricsServiceRequest,
    ExportMetricsServiceResponse,
)
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from triops.api import otlp_codec
from triops.core.errors import InvalidInput
from triops.ops import logs, otlp_logs, otlp_metrics
from triops.ops.sample_intake import store_samples
from triops.server.auth import AsEditor, Caller, RoleFirstRoute
from triops.server.runtime import Runtime, runtime_of

router = APIRouter(route_class=RoleFirstRoute, tags=["otlp"])

_ID_BYTES = {"trace_id": 16, "span_id": 8}


def fix_json_ids(request: ExportLogsServiceRequest) -> None:
    """Undo the protobuf-JSON reading of OTLP/JSON's hex ids.

    OTLP/JSON writes ``traceId`` and ``spanId`` as hex, while protobuf's JSON mapping
    reads bytes fields as base64. A 32-character hex id is valid base64 too, so it is
    decoded silently into 24 wrong bytes; re-encoding them gives back the hex text.
    Ids of the right length were sent as base64 and are kept.
    """
    for rl in request.resource_logs:
        for sl in rl.scope_logs:
            for rec in sl.log_records:
                for name, size in _ID_BYTES.items():
                    raw = getattr(rec, name)
                    if raw and len(raw) != size:
                        text = base64.b64encode(raw).decode()
                        try:
                            fixed = bytes.fromhex(text)
                        except ValueError:
                            fixed = b""
                        if len(fixed) != size:
                            raise InvalidInput(
                                f"log record {name} {text!r} is neither {size * 2} hex digits "
                                f"nor base64 of {size} bytes"
                            )
                        setattr(rec, name, fixed)


def store_metric_batch(runtime: Runtime, project: str, batch: otlp_metrics.MetricBatch) -> None:
    """Store and score a batch of samples in one transaction, and learn from it which
    series belong to which service and which are filling up."""
    if not batch.samples:
        return
    with runtime.db.write() as session:
        store_samples(session, project, batch.samples, unscored=batch.unscored,
                      cache=runtime.detector_cache,
                      capacity_interval_ms=runtime.settings.capacity_interval_s * 1000)


@router.post("/v1/metrics", summary="OTLP/HTTP metrics export")
async def export_metrics(request: Request, caller: Caller = AsEditor) -> Response:
    message, media = await otlp_codec.decode(request, ExportMetricsServiceRequest)
    runtime = runtime_of(request)

    def store() -> otlp_metrics.MetricBatch:
        batch = otlp_metrics.translate(message)
        store_metric_batch(runtime, caller.project, batch)
        return batch

    batch = await run_in_threadpool(store)
    response = ExportMetricsServiceResponse()
    if batch.rejected:
        response.partial_success.CopyFrom(ExportMetricsPartialSuccess(
            rejected_data_points=batch.rejected, error_message="; ".join(batch.problems)))
    return otlp_codec.respond(response, media)


@router.post("/v1/logs", summary="OTLP/HTTP logs export")
async def export_logs(request: Request, caller: Caller = AsEditor) -> Response:
    message, media = await otlp_codec.decode(request, ExportLogsServiceRequest)
    if media == otlp_codec.JSON:
        fix_json_ids(message)
    runtime = runtime_of(request)

    def store() -> None:
        lines = otlp_logs.translate(message)
        if lines:
            with runtime.db.write() as session:
                logs.ingest_lines(session, caller.project, lines)

    await run_in_threadpool(store)
    return otlp_codec.respond(ExportLogsServiceResponse(), media)
