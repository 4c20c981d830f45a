"""The OpenAI-compatible LLM gateway: providers, routing, resilience, limits, cost,
cache and tracing behind ``/v1/chat/completions``, ``/v1/embeddings`` and ``/v1/models``.
"""

from triops.llm.gateway.config import build_table
from triops.llm.gateway.cost import PriceTable, Usage, count_messages, count_text
from triops.llm.gateway.gateway import Caller, Gateway
from triops.llm.gateway.limits import KeyPolicy
from triops.llm.gateway.providers import Provider, provider, provider_names
from triops.llm.gateway.transport import Target, UpstreamFailure

__all__ = [
    "Caller", "Gateway", "KeyPolicy", "PriceTable", "Provider", "Target", "UpstreamFailure",
    "Usage", "build_table", "count_messages", "count_text", "provider", "provider_names",
]
