"""LLMOps pillar: gateway, tracing, prompts, evaluations, guardrails, knowledge collections.

The public face: the gateway and the prompt resolver a server holds, online evaluation,
eval runs as data, guardrail block rates, the span type and span ids, retrieval over
knowledge collections (``rag``: its own face, ``triops.llm.rag``), and the pillar's stored domains
(``prompt_store``, ``eval_store``, ``trace_store``, ``gateway_store``, ``spend_store``,
``guardrail_store``: functions that take the caller's session). The api, ui and cli
import these names from here; each loads on first use (``triops.core.faces``), so the SDK's prompt
template does not pull the gateway in.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from triops.core.faces import lazy_names

if TYPE_CHECKING:
    from triops.llm import scores as score_configs
    from triops.llm.evals import online as online_evals
    from triops.llm.evals.compare import summarize
    from triops.llm.evals.datasets import case_from, cases_from_traces
    from triops.llm.evals.datasets import parse_file as parse_case_file
    from triops.llm.evals.export import chat_jsonl as export_chat_jsonl
    from triops.llm.evals.online import OnlineEvaluation
    from triops.llm.evals.runs import comparison, result_dict, run_dict, run_results, scorer_names
    from triops.llm.gateway import admin as gateway_admin
    from triops.llm.gateway.config import build_table, route_of, upstream_of
    from triops.llm.gateway.cost import PriceTable
    from triops.llm.gateway.gateway import Caller as GatewayCaller
    from triops.llm.gateway.gateway import Gateway
    from triops.llm.gateway.in_process import in_process_clients
    from triops.llm.gateway.messages import invalid as invalid_request
    from triops.llm.gateway.spend import headers_of, period_start_s
    from triops.llm.gateway.spend_view import visible_groups as visible_spend
    from triops.llm.guardrails import Context as GuardrailContext
    from triops.llm.guardrails import compile_rule
    from triops.llm.guardrails import names as guardrail_names
    from triops.llm.guardrails.stats import block_rates
    from triops.llm.prompts.resolver import PromptResolver, prompt_request, render_request
    from triops.llm.scores import parse_condition as parse_score_condition
    from triops.llm.spans import Span, SpanKind, SpanStatus, new_span_id, new_trace_id
    from triops.llm.tracing import (
        SCORE_SOURCES,
        Score,
        Trace,
        TraceFilter,
        add_score,
        conversation,
        dashboard,
        derive_kind,
        get_trace,
        list_groups,
        list_traces,
        prepare_span_data,
        record_span_data,
        record_spans,
        span_data_from_otlp,
        user_view,
        write_spans,
    )
    from triops.store.repos import evals as eval_store
    from triops.store.repos import guardrails as guardrail_store
    from triops.store.repos import llm_gateway as gateway_store
    from triops.store.repos import llm_spend as spend_store
    from triops.store.repos import llm_traces as trace_store
    from triops.store.repos import prompts as prompt_store
    from triops.store.repos.llm_traces import ScoreCondition

_HOMES = {
    "Gateway": "gateway.gateway", "PriceTable": "gateway.cost",
    "gateway_admin": "triops.llm.gateway.admin:", "GatewayCaller": "gateway.gateway:Caller",
    "PromptResolver": "prompts.resolver", "prompt_request": "prompts.resolver",
    "render_request": "prompts.resolver",
    "OnlineEvaluation": "evals.online", "in_process_clients": "gateway.in_process",
    **{name: "evals.runs" for name in (
        "comparison", "result_dict", "run_dict", "run_results", "scorer_names")},
    "block_rates": "guardrails.stats",
    "parse_score_condition": "scores:parse_condition", "score_configs": "triops.llm.scores:",
    "online_evals": "evals:online", "summarize": "evals.compare",
    "case_from": "evals.datasets", "cases_from_traces": "evals.datasets",
    "parse_case_file": "evals.datasets:parse_file",
    "export_chat_jsonl": "evals.export:chat_jsonl",
    "build_table": "gateway.config", "route_of": "gateway.config",
    "upstream_of": "gateway.config", "invalid_request": "gateway.messages:invalid",
    "headers_of": "gateway.spend", "period_start_s": "gateway.spend",
    "visible_spend": "gateway.spend_view:visible_groups",
    "compile_rule": "guardrails", "guardrail_names": "guardrails:names",
    "GuardrailContext": "guardrails:Context",
    **{name: "tracing" for name in (
        "SCORE_SOURCES", "Score", "Trace", "TraceFilter", "add_score", "conversation",
        "dashboard", "derive_kind", "get_trace", "list_groups", "list_traces",
        "prepare_span_data", "record_span_data", "record_spans", "span_data_from_otlp",
        "user_view", "write_spans")},
    "Span": "spans", "SpanKind": "spans", "SpanStatus": "spans",
    "new_span_id": "spans", "new_trace_id": "spans",
    **{name: f"triops.store.repos.{module}:" for name, module in (
        ("eval_store", "evals"), ("guardrail_store", "guardrails"),
        ("gateway_store", "llm_gateway"), ("spend_store", "llm_spend"),
        ("trace_store", "llm_traces"), ("prompt_store", "prompts"))},
    "ScoreCondition": "triops.store.repos.llm_traces:ScoreCondition",
}
__getattr__ = lazy_names(__name__, _HOMES)


__all__ = [
    "SCORE_SOURCES",
    "Gateway",
    "GatewayCaller",
    "GuardrailContext",
    "OnlineEvaluation",
    "PriceTable",
    "PromptResolver",
    "Score",
    "ScoreCondition",
    "Span",
    "SpanKind",
    "SpanStatus",
    "Trace",
    "TraceFilter",
    "add_score",
    "block_rates",
    "build_table",
    "case_from",
    "cases_from_traces",
    "comparison",
    "compile_rule",
    "conversation",
    "dashboard",
    "derive_kind",
    "eval_store",
    "export_chat_jsonl",
    "gateway_admin",
    "gateway_store",
    "get_trace",
    "guardrail_names",
    "guardrail_store",
    "headers_of",
    "in_process_clients",
    "invalid_request",
    "list_groups",
    "list_traces",
    "new_span_id",
    "new_trace_id",
    "online_evals",
    "parse_case_file",
    "parse_score_condition",
    "period_start_s",
    "prepare_span_data",
    "prompt_request",
    "prompt_store",
    "record_span_data",
    "record_spans",
    "render_request",
    "result_dict",
    "route_of",
    "run_dict",
    "run_results",
    "score_configs",
    "scorer_names",
    "span_data_from_otlp",
    "spend_store",
    "summarize",
    "trace_store",
    "upstream_of",
    "user_view",
    "visible_spend",
    "write_spans",
]
