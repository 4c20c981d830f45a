"""LLM tracing: spans in, traces out.

Spans arrive from OTLP (``span_data_from_otlp``, stored by ``record_span_data``, or by
``prepare_span_data`` before the write lock and ``write_spans`` under it), the gateway
and the SDK (``record_spans``); they are stored as append-only records (kind
``span``, stream = trace id) with one summary row per trace for filtering. ``list_traces``, ``get_trace`` and ``dashboard``
read them back; ``add_score`` attaches scores and user feedback; ``conversation``,
``user_view`` and ``list_groups`` read traces by session and by end user.
"""

from triops.llm.tracing._dashboard import Dashboard, Stats, dashboard
from triops.llm.tracing._messages import Message, exchange
from triops.llm.tracing._otlp import span_data_from_otlp
from triops.llm.tracing._people import (
    Conversation,
    ScoreMean,
    Turn,
    UserView,
    conversation,
    list_groups,
    user_view,
)
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
from triops.llm.tracing._semconv import derive_kind
from triops.llm.tracing._store import (
    SPAN,
    PreparedSpans,
    check_span,
    prepare_span_data,
    record_span_data,
    record_spans,
    span_from_data,
    span_to_data,
    write_spans,
)
from triops.store.repos.llm_traces import TraceFilter

__all__ = [
    "SCORE_SOURCES",
    "SPAN",
    "Conversation",
    "Dashboard",
    "Message",
    "PreparedSpans",
    "Score",
    "ScoreMean",
    "SpanNode",
    "Stats",
    "Trace",
    "TraceDetail",
    "TraceFilter",
    "Turn",
    "UserView",
    "add_score",
    "check_span",
    "conversation",
    "dashboard",
    "derive_kind",
    "exchange",
    "get_trace",
    "list_groups",
    "list_traces",
    "prepare_span_data",
    "record_span_data",
    "record_spans",
    "span_data_from_otlp",
    "span_from_data",
    "span_to_data",
    "tree_order",
    "user_view",
    "write_spans",
]
