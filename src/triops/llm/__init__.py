"""LLMOps pillar: gateway, tracing, prompts, evaluations, guardrails.

The public face: the gateway and the prompt resolver a server holds, online evaluation,
eval runs as data, guardrail block rates, the span type. The api, ui and cli import these
names from here; each loads on first use (``triops.core.faces``), so the SDK's prompt
template does not pull the gateway in.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from triops.core.faces import lazy_names

if TYPE_CHECKING:
    from triops.llm.evals.online import OnlineEvaluation
    from triops.llm.evals.runs import comparison, result_dict, run_dict, run_results, scorer_names
    from triops.llm.gateway.service import Caller as GatewayCaller
    from triops.llm.gateway.service import Gateway
    from triops.llm.guardrails.stats import block_rates
    from triops.llm.prompts.resolver import PromptResolver, prompt_request, render_request
    from triops.llm.spans import Span, SpanKind, SpanStatus

_HOMES = {
    "Gateway": "gateway.service", "GatewayCaller": "gateway.service:Caller",
    "PromptResolver": "prompts.resolver", "prompt_request": "prompts.resolver",
    "render_request": "prompts.resolver",
    "OnlineEvaluation": "evals.online",
    **{name: "evals.runs" for name in (
        "comparison", "result_dict", "run_dict", "run_results", "scorer_names")},
    "block_rates": "guardrails.stats",
    "Span": "spans", "SpanKind": "spans", "SpanStatus": "spans",
}
__getattr__ = lazy_names(__name__, _HOMES)


__all__ = [
    "Gateway", "GatewayCaller", "OnlineEvaluation", "PromptResolver", "Span", "SpanKind",
    "SpanStatus", "block_rates", "comparison", "prompt_request", "render_request",
    "result_dict", "run_dict", "run_results", "scorer_names",
]
