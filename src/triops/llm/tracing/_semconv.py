"""What a span's attributes say, in the two conventions LLM apps use.

OpenTelemetry's GenAI semantic conventions (``gen_ai.*``) and OpenInference
(``openinference.span.kind``, ``llm.*``, ``input.value``...) name the same facts
differently; this module reads either (``metered``, ``text_of``). Attributes themselves are
never rewritten: the span keeps exactly what its producer sent.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from triops.llm.spans import SpanKind

OPENINFERENCE_KIND = "openinference.span.kind"
GENAI_OPERATION = "gen_ai.operation.name"

#: GenAI ``gen_ai.operation.name`` values → OpenInference kind.
_OPERATION_KIND = {
    "chat": SpanKind.llm,
    "text_completion": SpanKind.llm,
    "generate_content": SpanKind.llm,
    "completion": SpanKind.llm,
    "embeddings": SpanKind.embedding,
    "embedding": SpanKind.embedding,
    "execute_tool": SpanKind.tool,
    "invoke_agent": SpanKind.agent,
    "create_agent": SpanKind.agent,
}
_KIND_BY_VALUE = {k.value: k for k in SpanKind}

# Attribute names for each fact, first match wins; GenAI first, then OpenInference,
# then the names triops' own gateway and SDK write.
MODEL_KEYS = ("gen_ai.response.model", "gen_ai.request.model", "llm.model_name", "triops.model")
INPUT_TOKEN_KEYS = ("gen_ai.usage.input_tokens", "gen_ai.usage.prompt_tokens",
                    "llm.token_count.prompt")
OUTPUT_TOKEN_KEYS = ("gen_ai.usage.output_tokens", "gen_ai.usage.completion_tokens",
                     "llm.token_count.completion")
COST_KEYS = ("triops.cost_usd", "gen_ai.usage.cost", "llm.cost.total")
USER_KEYS = ("user.id", "enduser.id", "triops.user")
SESSION_KEYS = ("session.id", "gen_ai.conversation.id", "triops.session")
KEY_KEYS = ("triops.key",)

#: Kinds whose token counts and cost are the trace's own; parents that roll these up
#: (agents, chains) would otherwise be counted twice.
METERED_KINDS = frozenset({SpanKind.llm, SpanKind.embedding})


def derive_kind(attributes: Mapping[str, Any], given: SpanKind = SpanKind.unknown) -> SpanKind:
    """OpenInference kind if named, else the GenAI operation's, else what the producer gave."""
    named = attributes.get(OPENINFERENCE_KIND)
    if isinstance(named, str) and named.upper() in _KIND_BY_VALUE:
        return _KIND_BY_VALUE[named.upper()]
    operation = attributes.get(GENAI_OPERATION)
    if isinstance(operation, str) and operation.lower() in _OPERATION_KIND:
        return _OPERATION_KIND[operation.lower()]
    return given


def _first(attributes: Mapping[str, Any], keys: tuple[str, ...]) -> Any:
    for key in keys:
        value = attributes.get(key)
        if value is not None and value != "":
            return value
    return None


def _as_int(value: Any) -> int:
    try:
        number = int(float(value))
    except (TypeError, ValueError, OverflowError):
        return 0
    return max(number, 0)


def _as_float(value: Any) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return 0.0
    return number if math.isfinite(number) and number > 0 else 0.0


def _as_text(value: Any) -> str | None:
    return None if value is None else str(value)[:256]


#: ``METERED_KINDS`` as the kind values spans are stored with.
METERED_KIND_VALUES = frozenset(k.value for k in METERED_KINDS)


def metered(attributes: Mapping[str, Any]) -> tuple[str | None, int, int, float]:
    """(model, input tokens, output tokens, cost) of a span whose kind is metered."""
    return (_as_text(_first(attributes, MODEL_KEYS)),
            _as_int(_first(attributes, INPUT_TOKEN_KEYS)),
            _as_int(_first(attributes, OUTPUT_TOKEN_KEYS)),
            _as_float(_first(attributes, COST_KEYS)))


def text_of(attributes: Mapping[str, Any], keys: tuple[str, ...]) -> str | None:
    """The first of ``keys`` that is set, as summary text (``USER_KEYS``, ``SESSION_KEYS``...)."""
    return _as_text(_first(attributes, keys))
