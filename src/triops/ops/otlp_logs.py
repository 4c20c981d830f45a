"""OTLP log records → log lines, one stream per service.

The stream is the resource's ``service.name`` (``unknown_service`` when absent, the
OpenTelemetry default). The time is the record's ``time_unix_nano``, else its
``observed_time_unix_nano``, else the time of receipt. Severity is the record's
``severity_text``, else the name of its ``severity_number`` range (TRACE, DEBUG, INFO,
WARN, ERROR, FATAL). A body that is not a string (a map, a list...) is stored as JSON.
"""

from __future__ import annotations

import json

from triops.core.ids import now_ms
from triops.core.otlp_values import any_value, attributes
from triops.ops.logs import LogLine

UNKNOWN_SERVICE = "unknown_service"
_SEVERITY_RANGES = ((21, "FATAL"), (17, "ERROR"), (13, "WARN"), (9, "INFO"), (5, "DEBUG"),
                    (1, "TRACE"))


def severity_name(number: int) -> str:
    for low, name in _SEVERITY_RANGES:
        if number >= low:
            return name
    return ""


def _body(value) -> str:  # type: ignore[no-untyped-def]
    plain = any_value(value)
    if plain is None:
        return ""
    if isinstance(plain, str):
        return plain
    return json.dumps(plain, sort_keys=True, default=str)


def translate(request) -> list[LogLine]:  # type: ignore[no-untyped-def]
    """Log lines from an ``ExportLogsServiceRequest``, in request order."""
    lines: list[LogLine] = []
    received = now_ms()
    for rl in request.resource_logs:
        resource = attributes(rl.resource.attributes)
        service = resource.get("service.name")
        stream = str(service) if service else UNKNOWN_SERVICE
        for sl in rl.scope_logs:
            for rec in sl.log_records:
                nanos = rec.time_unix_nano or rec.observed_time_unix_nano
                lines.append(LogLine(
                    stream=stream,
                    ts_ms=nanos // 1_000_000 if nanos else received,
                    body=_body(rec.body),
                    severity=rec.severity_text or severity_name(rec.severity_number),
                    attributes=attributes(rec.attributes),
                    trace_id=rec.trace_id.hex(),
                    span_id=rec.span_id.hex(),
                ))
    return lines
