"""LLM tracing: spans in, traces out.

Spans arrive from OTLP (``spans_from_otlp``), the gateway and the SDK; ``record_spans``
stores them as append-only records (kind ``span``, stream = trace id) and keeps one
summary row per trace for filtering. ``list_traces``, ``get_trace`` and ``dashboard``
read them back; ``add_score`` attaches scores and user feedback.
"""

from triops.llm.tracing._dashboard import Dashboard, Stats, dashboard
from triops.llm.tracing._otlp import spans_from_otlp
from triops.llm.tracing._query import (
    SCORE_SOURCES,
    Score,
    SpanNode,
    Trace,
    TraceDetail,
    add_score,
    get_trace,
    list_traces,
    tree_order,
)
from triops.llm.tracing._semconv import Usage, derive_kind, usage_of
from triops.llm.tracing._store import SPAN, check_span, record_spans, span_from_data, span_to_data
from triops.store.repos.llm_traces import TraceFilter

__all__ = [
    "SCORE_SOURCES", "SPAN", "Dashboard", "Score", "SpanNode", "Stats", "Trace", "TraceDetail",
    "TraceFilter", "Usage", "add_score", "check_span", "dashboard", "derive_kind", "get_trace",
    "list_traces", "record_spans", "span_from_data", "span_to_data", "spans_from_otlp",
    "tree_order", "usage_of",
]
