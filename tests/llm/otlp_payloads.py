"""Builders of OTLP trace export requests for the tracing tests and the benchmark."""

from __future__ import annotations

import os
from typing import Any

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import Span as PbSpan
from opentelemetry.proto.trace.v1.trace_pb2 import Status


def any_value(value: Any) -> AnyValue:
    if isinstance(value, bool):
        return AnyValue(bool_value=value)
    if isinstance(value, int):
        return AnyValue(int_value=value)
    if isinstance(value, float):
        return AnyValue(double_value=value)
    if isinstance(value, list):
        out = AnyValue()
        out.array_value.values.extend(any_value(v) for v in value)
        return out
    return AnyValue(string_value=str(value))


def kvs(attrs: dict[str, Any]) -> list[KeyValue]:
    return [KeyValue(key=k, value=any_value(v)) for k, v in attrs.items()]


def pb_span(trace_id: str, span_id: str, name: str, start_ns: int, end_ns: int,
            parent: str | None = None, attrs: dict[str, Any] | None = None,
            error: bool = False) -> PbSpan:
    return PbSpan(
        trace_id=bytes.fromhex(trace_id), span_id=bytes.fromhex(span_id),
        parent_span_id=bytes.fromhex(parent) if parent else b"", name=name,
        start_time_unix_nano=start_ns, end_time_unix_nano=end_ns,
        attributes=kvs(attrs or {}),
        status=Status(code=Status.STATUS_CODE_ERROR if error else Status.STATUS_CODE_OK,
                      message="boom" if error else ""),
    )


def request_of(spans: list[PbSpan], service: str = "demo-app") -> ExportTraceServiceRequest:
    req = ExportTraceServiceRequest()
    rs = req.resource_spans.add()
    rs.resource.attributes.extend(kvs({"service.name": service}))
    ss = rs.scope_spans.add()
    ss.scope.name = "tests"
    ss.spans.extend(spans)
    return req


def rag_trace(start_ns: int, model: str = "gpt-4o-mini", error: bool = False,
              user: str = "alice", session: str = "s-1", latency_ms: int = 120,
              cost: float = 0.002) -> tuple[str, list[PbSpan]]:
    """An agent → retriever + LLM trace with OpenInference and GenAI attributes."""
    trace_id = os.urandom(16).hex()
    root, retr, llm = (os.urandom(8).hex() for _ in range(3))
    end = start_ns + latency_ms * 1_000_000
    spans = [
        pb_span(trace_id, root, "answer-question", start_ns, end, attrs={
            "openinference.span.kind": "AGENT", "input.value": "what is triops?",
            "output.value": "a platform", "user.id": user, "session.id": session}),
        pb_span(trace_id, retr, "retrieve", start_ns + 1_000_000, start_ns + 20_000_000,
                parent=root, attrs={
                    "openinference.span.kind": "RETRIEVER",
                    "retrieval.documents.0.document.content": "triops is ...",
                    "retrieval.documents.0.document.score": 0.93}),
        pb_span(trace_id, llm, f"chat {model}", start_ns + 21_000_000, end - 1_000_000,
                parent=root, error=error, attrs={
                    "gen_ai.operation.name": "chat", "gen_ai.system": "openai",
                    "gen_ai.request.model": model, "gen_ai.usage.input_tokens": 100,
                    "gen_ai.usage.output_tokens": 20, "gen_ai.usage.cost": cost}),
    ]
    return trace_id, spans
