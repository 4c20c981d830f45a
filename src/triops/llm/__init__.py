"""LLMOps pillar: gateway, tracing, prompts, evaluations, guardrails.

The public face: the gateway and the prompt resolver a server holds, online evaluation,
eval runs as data, guardrail block rates, the span type, and the pillar's stored domains
(``prompt_store``, ``eval_store``, ``trace_store``, ``gateway_store``, ``spend_store``,
``guardrail_store``: functions that take the caller's session). The api, ui and cli
import these names from here; each loads on first use (``triops.core.faces``), so the SDK's prompt
template does not pull the gateway in.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from triops.core.faces import lazy_names

if TYPE_CHECKING:
    from triops.llm.evals.online import OnlineEvaluation
    from triops.llm.evals.runs import comparison, result_dict, run_dict, run_results, scorer_names
    from triops.llm.gateway.gateway import Caller as GatewayCaller
    from triops.llm.gateway.gateway import Gateway
    from triops.llm.guardrails.stats import block_rates
    from triops.llm.prompts.resolver import PromptResolver, prompt_request, render_request
    from triops.llm.spans import Span, SpanKind, SpanStatus
    from triops.store.repos import evals as eval_store
    from triops.store.repos import guardrails as guardrail_store
    from triops.store.repos import llm_gateway as gateway_store
    from triops.store.repos import llm_spend as spend_store
    from triops.store.repos import llm_traces as trace_store
    from triops.store.repos import prompts as prompt_store

_HOMES = {
    "Gateway": "gateway.gateway", "GatewayCaller": "gateway.gateway:Caller",
    "PromptResolver": "prompts.resolver", "prompt_request": "prompts.resolver",
    "render_request": "prompts.resolver",
    "OnlineEvaluation": "evals.online",
    **{name: "evals.runs" for name in (
        "comparison", "result_dict", "run_dict", "run_results", "scorer_names")},
    "block_rates": "guardrails.stats",
    "Span": "spans", "SpanKind": "spans", "SpanStatus": "spans",
    **{name: f"triops.store.repos.{module}:" for name, module in (
        ("eval_store", "evals"), ("guardrail_store", "guardrails"),
        ("gateway_store", "llm_gateway"), ("spend_store", "llm_spend"),
        ("trace_store", "llm_traces"), ("prompt_store", "prompts"))},
}
__getattr__ = lazy_names(__name__, _HOMES)


__all__ = [
    "Gateway",
    "GatewayCaller",
    "OnlineEvaluation",
    "PromptResolver",
    "Span",
    "SpanKind",
    "SpanStatus",
    "block_rates",
    "comparison",
    "eval_store",
    "gateway_store",
    "guardrail_store",
    "prompt_request",
    "prompt_store",
    "render_request",
    "result_dict",
    "run_dict",
    "run_results",
    "scorer_names",
    "spend_store",
    "trace_store",
]
