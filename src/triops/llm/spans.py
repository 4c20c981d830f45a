"""The span: one unit of traced work, whether it came from the gateway, the SDK or OTLP.

Gateway calls, SDK decorators and OTLP intake all produce ``Span`` values and hand them
to the trace store; the UI and ``GET /api/v1/traces`` read them back.
"""

from __future__ import annotations

import enum
import random
from dataclasses import dataclass, field
from typing import Any


class SpanKind(str, enum.Enum):
    """OpenInference span kinds; ``unknown`` when a span names none."""

    llm = "LLM"
    chain = "CHAIN"
    tool = "TOOL"
    retriever = "RETRIEVER"
    embedding = "EMBEDDING"
    agent = "AGENT"
    reranker = "RERANKER"
    guardrail = "GUARDRAIL"
    evaluator = "EVALUATOR"
    unknown = "UNKNOWN"


class SpanStatus(str, enum.Enum):
    unset = "UNSET"
    ok = "OK"
    error = "ERROR"


@dataclass
class Span:
    trace_id: str  # 32 hex characters
    span_id: str  # 16 hex characters
    name: str
    start_ns: int
    end_ns: int
    parent_span_id: str | None = None
    kind: SpanKind = SpanKind.unknown
    status: SpanStatus = SpanStatus.unset
    status_message: str = ""
    attributes: dict[str, Any] = field(default_factory=dict)
    events: list[dict[str, Any]] = field(default_factory=list)
    resource: dict[str, Any] = field(default_factory=dict)
    service_name: str = ""

    @property
    def duration_ms(self) -> float:
        return (self.end_ns - self.start_ns) / 1e6


def new_trace_id() -> str:
    # Trace ids need uniqueness, not secrecy: getrandbits makes no system call.
    return f"{random.getrandbits(128) or 1:032x}"


def new_span_id() -> str:
    return f"{random.getrandbits(64) or 1:016x}"
