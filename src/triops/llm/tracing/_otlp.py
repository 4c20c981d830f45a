"""OTLP ``ExportTraceServiceRequest`` → ``Span`` values, checked all-or-nothing."""

from __future__ import annotations

from typing import Any

from triops.core.errors import InvalidInput
from triops.core.otlp_values import attributes as attribute_dict
from triops.llm.spans import Span, SpanKind, SpanStatus
from triops.llm.tracing._semconv import derive_kind

_STATUS = {0: SpanStatus.unset, 1: SpanStatus.ok, 2: SpanStatus.error}
_ZERO_TRACE = "0" * 32


def spans_from_otlp(request: Any) -> list[Span]:
    """Every span of one export request; raises ``InvalidInput`` on the first bad one."""
    spans: list[Span] = []
    for r_index, resource_spans in enumerate(request.resource_spans):
        resource = attribute_dict(resource_spans.resource.attributes)
        service = str(resource.get("service.name", "") or "")
        for scope_spans in resource_spans.scope_spans:
            for s in scope_spans.spans:
                where = f"resource_spans[{r_index}] span {s.name!r}"
                if len(s.trace_id) != 16 or s.trace_id.hex() == _ZERO_TRACE:
                    raise InvalidInput(f"{where}: trace_id must be 16 bytes and not all zero")
                if len(s.span_id) != 8:
                    raise InvalidInput(f"{where}: span_id must be 8 bytes")
                if s.parent_span_id and len(s.parent_span_id) != 8:
                    raise InvalidInput(f"{where}: parent_span_id must be empty or 8 bytes")
                if s.end_time_unix_nano < s.start_time_unix_nano:
                    raise InvalidInput(f"{where}: end_time_unix_nano is before start_time_unix_nano")
                attributes = attribute_dict(s.attributes)
                events = [
                    {"name": e.name, "time_ns": int(e.time_unix_nano),
                     "attributes": attribute_dict(e.attributes)}
                    for e in s.events
                ]
                spans.append(Span(
                    trace_id=s.trace_id.hex(),
                    span_id=s.span_id.hex(),
                    name=s.name,
                    start_ns=int(s.start_time_unix_nano),
                    end_ns=int(s.end_time_unix_nano),
                    parent_span_id=s.parent_span_id.hex() if s.parent_span_id else None,
                    kind=derive_kind(attributes, SpanKind.unknown),
                    status=_STATUS.get(s.status.code, SpanStatus.unset),
                    status_message=s.status.message,
                    attributes=attributes,
                    events=events,
                    resource=resource,
                    service_name=service,
                ))
    return spans
