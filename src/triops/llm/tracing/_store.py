"""Writing spans: append-only records plus the per-trace summary, in one transaction."""

from __future__ import annotations

import dataclasses
import enum
import json
import math
import re
from collections.abc import Callable, Sequence
from typing import Any

import orjson
from sqlalchemy.orm import Session

from triops.core.errors import InvalidInput
from triops.llm.spans import Span, SpanKind, SpanStatus
from triops.llm.tracing._semconv import (
    KEY_KEYS,
    METERED_KIND_VALUES,
    SESSION_KEYS,
    USER_KEYS,
    metered,
    text_of,
)
from triops.store import records
from triops.store.repos.llm_traces import SPAN, TraceDelta, merge_summaries

#: A model's price in USD per 1M (input, output) tokens, or None when it has none.
Prices = Callable[[str], "tuple[float, float] | None"]

_TRACE_ID = re.compile(r"^[0-9a-f]{32}$")
_SPAN_ID = re.compile(r"^[0-9a-f]{16}$")
_ERROR = SpanStatus.error.value


def _clean(value: Any) -> Any:
    """Make a value storable as JSON on every backend.

    PostgreSQL's JSONB refuses NUL characters and non-finite numbers; they are replaced
    (U+FFFD, and the number's text) rather than failing the whole batch. A read-only
    pass decides, and only a value that fails it is copied.
    """
    return _cleaned(value) if _needs_cleaning(value) else value


def _needs_cleaning(value: Any) -> bool:
    # Exact type checks first: they are the common case and the cheap one.
    kind = type(value)
    if kind is str:
        return "\x00" in value
    if kind is int or kind is bool or value is None:
        return False
    if kind is float:
        return not math.isfinite(value)
    if kind is dict:
        return any("\x00" in k or _needs_cleaning(v)
                   for k, v in value.items())
    if kind is list:
        return any(_needs_cleaning(v) for v in value)
    return True  # tuples, subclasses (enums, named tuples, counters...): normalise them


def _cleaned(value: Any) -> Any:
    kind = type(value)
    if kind is str:
        return value.replace("\x00", "\ufffd") if "\x00" in value else value
    if kind is float:
        return value if math.isfinite(value) else str(value)
    if kind is dict:
        return {(k if "\x00" not in k else k.replace("\x00", "\ufffd")): _cleaned(v)
                for k, v in value.items()}
    if kind is list or kind is tuple:
        return [_cleaned(v) for v in value]
    # Subclasses (enums, named tuples, counters...) from SDK callers: the slow, sure way.
    if isinstance(value, enum.Enum):
        return _cleaned(value.value)
    if isinstance(value, str):
        return _cleaned(str.__str__(value))
    if isinstance(value, float):
        return _cleaned(float(value))
    if isinstance(value, dict):
        return _cleaned(dict(value))
    if isinstance(value, (list, tuple)):
        return _cleaned(list(value))
    return value


def check_span(span: Span) -> None:
    """Raise ``InvalidInput`` if the span cannot be stored as it is."""
    label = f"span {span.span_id!r} of trace {span.trace_id!r}"
    if not _TRACE_ID.match(span.trace_id) or span.trace_id == "0" * 32:
        raise InvalidInput(f"{label}: trace_id must be 32 lower-case hex characters, not all zero")
    if not _SPAN_ID.match(span.span_id):
        raise InvalidInput(f"{label}: span_id must be 16 lower-case hex characters")
    if span.parent_span_id is not None and not _SPAN_ID.match(span.parent_span_id):
        raise InvalidInput(f"{label}: parent_span_id must be 16 lower-case hex characters or null")
    if span.start_ns < 0 or span.end_ns < span.start_ns:
        raise InvalidInput(f"{label}: end_ns must not be before start_ns, and both >= 0")


def span_to_data(span: Span) -> dict[str, Any]:
    """A span in its stored form: ``dataclasses.asdict(span)`` with enums as their values,
    built by hand because ``asdict`` deep-copies every attribute."""
    return {
        "trace_id": span.trace_id, "span_id": span.span_id, "name": span.name,
        "start_ns": span.start_ns, "end_ns": span.end_ns,
        "parent_span_id": span.parent_span_id, "kind": span.kind.value,
        "status": span.status.value, "status_message": span.status_message,
        "attributes": span.attributes, "events": span.events,
        "resource": span.resource, "service_name": span.service_name,
    }


def span_json(data: dict[str, Any]) -> str:
    """A stored-form span as JSON any backend accepts (see ``_clean``).

    orjson escapes NUL as ``\\u0000`` and writes non-finite numbers as ``null``, so its
    output shows when cleaning is needed: an escaped NUL, or more ``null`` than the
    root's missing parent. Almost no span needs it, and the check costs a scan of bytes
    instead of a walk over every attribute.
    """
    try:
        out = orjson.dumps(data)
    except TypeError:  # non-string keys, integers past 64 bits, unknown objects
        return json.dumps(_cleaned(data))
    if b"\\u0000" in out or out.count(b"null") > (data["parent_span_id"] is None):
        return orjson.dumps(_cleaned(data)).decode()
    return out.decode()


def span_from_data(data: dict[str, Any]) -> Span:
    fields = {f.name for f in dataclasses.fields(Span)}
    values = {k: v for k, v in data.items() if k in fields}
    values["kind"] = SpanKind(values.get("kind", "UNKNOWN"))
    values["status"] = SpanStatus(values.get("status", "UNSET"))
    return Span(**values)


def _cost(model: str | None, input_tokens: int, output_tokens: int, cost: float,
          prices: Prices | None) -> float:
    """The span's own cost when it states one, else its tokens at the model's price."""
    if cost or prices is None or not model:
        return cost
    if not (input_tokens or output_tokens):
        return 0.0
    price = prices(model)
    if price is None:
        return 0.0
    return (input_tokens * price[0] + output_tokens * price[1]) / 1e6


def _deltas(spans: Sequence[dict[str, Any]], api_key: str | None, prices: Prices | None
            ) -> list[TraceDelta]:
    """Each trace's ``TraceDelta`` from stored-form spans. A text fact is looked up only
    while the trace has none yet, and tokens only on metered spans: most spans of a
    trace then cost a few dictionary reads."""
    by_trace: dict[str, TraceDelta] = {}
    for span in spans:
        attrs = span["attributes"]
        is_root = span["parent_span_id"] is None
        name, start_ns, end_ns = span["name"], span["start_ns"], span["end_ns"]
        d = by_trace.get(span["trace_id"])
        if d is None:
            d = by_trace[span["trace_id"]] = TraceDelta(
                trace_id=span["trace_id"], name=name[:512], has_root=is_root,
                start_ns=start_ns, end_ns=end_ns,
            )
        elif is_root and not d.has_root:
            d.name, d.has_root = name[:512], True
        d.start_ns = min(d.start_ns, start_ns)
        d.end_ns = max(d.end_ns, end_ns)
        d.span_count += 1
        d.error_count += span["status"] == _ERROR
        if span["kind"] in METERED_KIND_VALUES:
            model, input_tokens, output_tokens, cost = metered(attrs)
            d.model = d.model or model
            d.input_tokens += input_tokens
            d.output_tokens += output_tokens
            d.cost += _cost(model, input_tokens, output_tokens, cost, prices)
        if d.user_id is None:
            d.user_id = text_of(attrs, USER_KEYS)
        if d.session_id is None:
            d.session_id = text_of(attrs, SESSION_KEYS)
        if d.api_key is None:
            d.api_key = text_of(attrs, KEY_KEYS) or api_key
        if d.service is None:
            d.service = span["service_name"][:256] or None
    return list(by_trace.values())


def record_spans(
    session: Session, project: str, spans: list[Span], *, api_key: str | None = None,
    prices: Prices | None = None,
) -> None:
    """Store spans and fold them into their traces' summaries, in the caller's transaction.

    ``api_key`` is the id of the key the spans came in with (the gateway's spans name
    their caller's key id in ``triops.key``, which wins); ids, not names, because names
    need not be unique and spend, policies and filters are per key id. ``prices`` (the
    gateway's price table) costs model spans that carry a model and token counts but no
    cost of their own; the spans themselves are stored as they came. Nothing is written if any span is invalid.

    >>> from triops.llm.spans import Span
    >>> span = Span(trace_id="1" * 32, span_id="2" * 16, name="ask", start_ns=0, end_ns=5)
    >>> check_span(span)  # valid: record_spans(session, "default", [span]) would store it
    """
    for span in spans:
        check_span(span)
    record_span_data(session, project, [span_to_data(s) for s in spans], api_key=api_key,
                     prices=prices)


@dataclasses.dataclass(frozen=True)
class PreparedSpans:
    """Stored-form spans made ready to write: their records' rows (stream, ts_ms, JSON)
    and their traces' summary deltas. Built without a database, so an intake can build
    it before it waits for the write lock and hold the lock only for the writes."""

    rows: list[tuple[str, int, str]]
    deltas: list[TraceDelta]


def prepare_span_data(spans: Sequence[dict[str, Any]], *, api_key: str | None = None,
                      prices: Prices | None = None) -> PreparedSpans:
    """The JSON and summary deltas of stored-form, checked spans (see ``record_spans``
    for ``api_key`` and ``prices``)."""
    rows = [(s["trace_id"], s["start_ns"] // 1_000_000, span_json(s)) for s in spans]
    deltas = _deltas(spans, api_key, prices)
    for d in deltas:
        for name in ("name", "model", "user_id", "session_id", "api_key", "service"):
            value = getattr(d, name)
            if value is not None and "\x00" in value:
                setattr(d, name, _clean(value))
    return PreparedSpans(rows, deltas)


def write_spans(session: Session, project: str, prepared: PreparedSpans) -> None:
    """Append the spans and fold them into their traces' summaries, in the caller's
    transaction."""
    records.append_json(session, project, SPAN, prepared.rows)
    merge_summaries(session, project, prepared.deltas)


def record_span_data(
    session: Session, project: str, spans: list[dict[str, Any]], *,
    api_key: str | None = None, prices: Prices | None = None,
) -> None:
    """``record_spans`` for spans already in their stored form and checked, in one step
    (the OTLP intake takes its two steps apart: ``prepare_span_data`` before the write
    lock, ``write_spans`` under it)."""
    write_spans(session, project, prepare_span_data(spans, api_key=api_key, prices=prices))
