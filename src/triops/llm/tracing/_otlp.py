"""OTLP ``ExportTraceServiceRequest`` → spans in their stored form, checked all-or-nothing.

The intake's hot path builds each span's stored form (``span_to_data``'s dict) straight
from the protobuf message: no ``Span`` in between, each field read once.
"""

from __future__ import annotations

from typing import Any

from triops.core.errors import InvalidInput
from triops.core.otlp_values import attributes as attribute_dict
from triops.llm.spans import SpanKind
from triops.llm.tracing._semconv import derive_kind

_STATUS = {0: "UNSET", 1: "OK", 2: "ERROR"}
_ZERO_TRACE = bytes(16)
_UNKNOWN = SpanKind.unknown


def _refuse(where: str, s: Any) -> None:
    """Raise the ``InvalidInput`` that says what is wrong with span ``s``."""
    if len(s.trace_id) != 16 or s.trace_id == _ZERO_TRACE:
        raise InvalidInput(f"{where}: trace_id must be 16 bytes and not all zero")
    if len(s.span_id) != 8:
        raise InvalidInput(f"{where}: span_id must be 8 bytes")
    if s.parent_span_id and len(s.parent_span_id) != 8:
        raise InvalidInput(f"{where}: parent_span_id must be empty or 8 bytes")
    raise InvalidInput(f"{where}: end_time_unix_nano is before start_time_unix_nano")


def span_data_from_otlp(request: Any) -> list[dict[str, Any]]:
    """Every span of one export request in its stored form; raises ``InvalidInput`` on
    the first bad one."""
    spans: list[dict[str, Any]] = []
    add = spans.append
    for r_index, resource_spans in enumerate(request.resource_spans):
        resource = attribute_dict(resource_spans.resource.attributes)
        service = str(resource.get("service.name", "") or "")
        for scope_spans in resource_spans.scope_spans:
            for s in scope_spans.spans:
                trace_id, span_id, parent = s.trace_id, s.span_id, s.parent_span_id
                start_ns, end_ns = s.start_time_unix_nano, s.end_time_unix_nano
                if (len(trace_id) != 16 or trace_id == _ZERO_TRACE or len(span_id) != 8
                        or (parent and len(parent) != 8) or end_ns < start_ns):
                    _refuse(f"resource_spans[{r_index}] span {s.name!r}", s)
                attributes = attribute_dict(s.attributes)
                status = s.status
                add({
                    "trace_id": trace_id.hex(), "span_id": span_id.hex(), "name": s.name,
                    "start_ns": start_ns, "end_ns": end_ns,
                    "parent_span_id": parent.hex() if parent else None,
                    "kind": derive_kind(attributes, _UNKNOWN).value,
                    "status": _STATUS.get(status.code, "UNSET"),
                    "status_message": status.message,
                    "attributes": attributes,
                    "events": [
                        {"name": e.name, "time_ns": e.time_unix_nano,
                         "attributes": attribute_dict(e.attributes)}
                        for e in s.events
                    ] if s.events else [],
                    "resource": resource,
                    "service_name": service,
                })
    return spans

