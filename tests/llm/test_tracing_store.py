"""The trace store's contract: records of kind "span", summaries folded in one transaction,
and the semantic conventions read into kinds and usage."""

from __future__ import annotations

import dataclasses

import pytest

from triops.core.errors import InvalidInput
from triops.llm.spans import Span, SpanKind, SpanStatus
from triops.llm.tracing import (
    TraceFilter,
    derive_kind,
    get_trace,
    list_traces,
    record_spans,
    span_from_data,
    tree_order,
)
from triops.store import records

T = "0123456789abcdef" * 2


def _span(span_id: str, parent: str | None = None, **kw) -> Span:
    return Span(trace_id=T, span_id=span_id * 16, name=kw.pop("name", f"s{span_id}"),
                start_ns=kw.pop("start_ns", 1_000_000_000), end_ns=kw.pop("end_ns", 2_000_000_000),
                parent_span_id=parent * 16 if parent else None, **kw)


@pytest.mark.parametrize(("attrs", "given", "kind"), [
    ({"openinference.span.kind": "retriever"}, SpanKind.unknown, SpanKind.retriever),
    ({"openinference.span.kind": "LLM", "gen_ai.operation.name": "embeddings"},
     SpanKind.unknown, SpanKind.llm),
    ({"gen_ai.operation.name": "chat"}, SpanKind.unknown, SpanKind.llm),
    ({"gen_ai.operation.name": "embeddings"}, SpanKind.unknown, SpanKind.embedding),
    ({"gen_ai.operation.name": "execute_tool"}, SpanKind.unknown, SpanKind.tool),
    ({"gen_ai.operation.name": "invoke_agent"}, SpanKind.unknown, SpanKind.agent),
    ({"gen_ai.operation.name": "something_new"}, SpanKind.unknown, SpanKind.unknown),
    ({"openinference.span.kind": "NOT_A_KIND"}, SpanKind.chain, SpanKind.chain),
    ({}, SpanKind.unknown, SpanKind.unknown),
])
def test_kind_derivation(attrs, given, kind):
    assert derive_kind(attrs, given) is kind


def _summary(db, spans: list[Span]):
    with db.write() as session:
        record_spans(session, "proj", spans)
    with db.read() as session:
        traces, _ = list_traces(session, "proj", TraceFilter())
    return traces[0]


def test_summary_reads_both_conventions(db):
    t = _summary(db, [_span("a", kind=SpanKind.llm, attributes={
        "gen_ai.request.model": "gpt-4o", "gen_ai.response.model": "gpt-4o-2024-08-06",
        "gen_ai.usage.input_tokens": 10, "gen_ai.usage.output_tokens": "5",
        "enduser.id": "e1", "gen_ai.conversation.id": "c1"})])
    assert (t.model, t.input_tokens, t.output_tokens) == ("gpt-4o-2024-08-06", 10, 5)
    assert (t.user_id, t.session_id) == ("e1", "c1")


def test_summary_reads_openinference_and_only_meters_model_spans(db):
    # An agent that rolls up its children's tokens is not counted again, and tokens
    # or costs that are not numbers count as none.
    t = _summary(db, [
        _span("b", kind=SpanKind.llm, attributes={
            "llm.model_name": "llama3", "llm.token_count.prompt": 7,
            "llm.token_count.completion": 3, "llm.cost.total": 0.5, "user.id": "u"}),
        _span("c", parent="b", kind=SpanKind.agent, attributes={"llm.token_count.prompt": 7}),
        _span("d", parent="b", kind=SpanKind.llm, attributes={
            "gen_ai.usage.input_tokens": "many", "gen_ai.usage.cost": float("nan")}),
    ])
    assert (t.model, t.input_tokens, t.output_tokens, t.cost, t.user_id) == (
        "llama3", 7, 3, 0.5, "u")


def test_record_spans_contract(db):
    spans = [_span("1", kind=SpanKind.chain, status=SpanStatus.ok, attributes={"k": [1, 2]}),
             _span("2", parent="1", kind=SpanKind.llm, status=SpanStatus.error,
                   attributes={"gen_ai.request.model": "m", "gen_ai.usage.input_tokens": 3,
                               "triops.cost_usd": 0.25, "triops.key": "team-a"})]
    with db.write() as session:
        record_spans(session, "proj", spans)
    with db.read() as session:
        stored = list(records.scan(session, "proj", "span"))
        assert [r.stream for r in stored] == [T, T]
        assert stored[0].ts_ms == 1000
        expected = dataclasses.asdict(spans[0])
        expected.update(kind="CHAIN", status="OK")
        assert stored[0].data == expected
        assert span_from_data(stored[1].data) == spans[1]
        traces, total = list_traces(session, "proj", TraceFilter())
        assert total == 1 and traces[0].model == "m" and traces[0].cost == 0.25
        assert traces[0].api_key == "team-a" and traces[0].status == "ERROR"
        assert list_traces(session, "other", TraceFilter())[1] == 0
        detail = get_trace(session, "proj", T)
        assert [n.depth for n in detail.spans] == [0, 1]


def test_one_bad_span_writes_nothing(db):
    with pytest.raises(InvalidInput, match="span_id"), db.write() as session:
        record_spans(session, "proj", [_span("1"), dataclasses.replace(_span("2"),
                                                                      span_id="XYZ")])
    with db.read() as session:
        assert list(records.scan(session, "proj", "span")) == []
        assert list_traces(session, "proj", TraceFilter())[1] == 0


def test_tree_order_handles_orphans_and_repeats():
    spans = [_span("2", parent="1", start_ns=5), _span("3", parent="9", start_ns=1),
             _span("1", start_ns=2), _span("4", parent="2", start_ns=6)]
    order = [(n.span.span_id[0], n.depth) for n in tree_order(spans)]
    assert order == [("3", 0), ("1", 0), ("2", 1), ("4", 2)]
    assert len(tree_order(spans + [spans[0]])) == 4


def test_docstring_examples_run():
    import doctest

    import triops.client as client_pkg
    from triops.client import _config, tracing
    from triops.llm.tracing import _store

    _config._config = None  # examples run unconfigured: their spans are counted, not sent
    tracing.reset_exporter()
    try:
        for module in (_store, tracing, _config, client_pkg):
            result = doctest.testmod(module, verbose=False)
            assert result.failed == 0 and result.attempted > 0, module.__name__
    finally:
        _config._config = None
        tracing.reset_exporter()


def test_span_values_are_copied_only_when_a_backend_would_refuse_them() -> None:
    from triops.llm.spans import SpanKind as Kind
    from triops.llm.tracing._store import _clean

    fine = {"a": "text", "b": [1, 2.5, None, True], "c": {"d": "e"}}
    assert _clean(fine) is fine
    dirty = {"k\x00": ["x\x00", float("inf")], "n": {"m": float("nan")}, "t": (1, Kind.llm)}
    assert _clean(dirty) == {"k\ufffd": ["x\ufffd", "inf"], "n": {"m": "nan"},
                             "t": [1, Kind.llm.value]}


def test_span_json_cleans_exactly_the_spans_a_backend_would_refuse() -> None:
    import json

    from triops.llm.tracing._store import _cleaned, span_json, span_to_data

    # A root's missing parent and a "null" text are not taken for a non-finite number.
    root = span_to_data(_span("1", attributes={"text": "null", "none": None}))
    child = span_to_data(_span("2", parent="1", name="n\x00",
                               attributes={"x": float("nan"), "k\x00": ["v\x00", 1.5]}))
    for data in (root, child):
        assert json.loads(span_json(data)) == json.loads(json.dumps(_cleaned(data)))
    stored = json.loads(span_json(child))
    assert (stored["name"], stored["attributes"]) == ("n\ufffd", {"x": "nan",
                                                               "k\ufffd": ["v\ufffd", 1.5]})
