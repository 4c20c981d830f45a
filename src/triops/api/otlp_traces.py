"""OTLP/HTTP trace intake: ``POST /v1/traces`` in protobuf or JSON, gzip or not.

Any OpenTelemetry SDK or collector exports here unchanged. A request is stored whole
or not at all: one bad span rejects the batch with 400 and writes nothing.
"""

from __future__ import annotations

from fastapi import APIRouter
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from triops.api import otlp_codec
from triops.llm import PriceTable, prepare_span_data, span_data_from_otlp, write_spans
from triops.ops import topology
from triops.server.auth import AsEditor, Caller, RoleFirstRoute
from triops.server.runtime import runtime_of

router = APIRouter(route_class=RoleFirstRoute, tags=["otlp"])


@router.post("/v1/traces", summary="OTLP/HTTP trace export")
async def export_traces(request: Request, caller: Caller = AsEditor) -> Response:
    message, media = await otlp_codec.decode(request, ExportTraceServiceRequest)
    runtime = runtime_of(request)
    # Model spans that carry tokens but no cost are costed as the gateway would.
    prices = PriceTable(runtime.settings.gateway.prices).price

    def store() -> None:
        spans = span_data_from_otlp(message)
        if spans:
            # The JSON and summary deltas are built before the write lock (SQLite's is
            # one per process): concurrent requests build theirs while one writes.
            prepared = prepare_span_data(spans, api_key=caller.principal.key_id or None,
                                         prices=prices)
            sightings = topology.trace_sightings(message)
            with runtime.db.write() as session:
                write_spans(session, caller.project, prepared)
                topology.observe_sightings(session, caller.project, sightings)

    # Conversion and the database write block; keep them off the event loop.
    await run_in_threadpool(store)
    return otlp_codec.respond(ExportTraceServiceResponse(), media)
