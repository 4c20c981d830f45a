"""Guardrails on the gateway's input and output: personal data, secrets, prompt
injection, toxicity, topics, and JSON-schema answers with a bounded re-ask.

Each guardrail implements ``Guardrail`` (``check(text, context) -> list[Finding]``,
optionally ``redact``) and registers under a name with ``@register``; rules in
``[gateway.guardrails]`` or stored through ``/api/v1/guardrails/rules`` say which runs
where, and in which mode (block, redact, flag).
"""

from triops.llm.guardrails._base import Context, Finding, Guardrail, mask
from triops.llm.guardrails._registry import ENTRY_POINT_GROUP, build, names, register
from triops.llm.guardrails.engine import GuardrailBlocked, GuardrailEngine, Rule, compile_rule

__all__ = [
    "ENTRY_POINT_GROUP", "Context", "Finding", "Guardrail", "GuardrailBlocked",
    "GuardrailEngine", "Rule", "build", "compile_rule", "mask", "names", "register",
]
