"""Output guardrails on streamed answers.

Redact and block rules must see the whole answer before the caller sees any of it, so a
streamed request under such rules is served whole, checked, and replayed to the caller
as OpenAI stream chunks. Flag rules change nothing, so the stream flows as it comes and
they run on the assembled answer once it has ended.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import orjson


async def replay(result: dict[str, Any], include_usage: bool) -> AsyncIterator[bytes]:
    """A complete chat completion as the SSE frames a streaming upstream would send."""
    base = {"id": result.get("id", ""), "object": "chat.completion.chunk",
            "created": result.get("created", 0), "model": result.get("model", "")}
    for choice in result.get("choices") or ():
        index = choice.get("index", 0)
        message = choice.get("message") or {}
        delta: dict[str, Any] = {"role": "assistant", "content": message.get("content")}
        if message.get("tool_calls"):
            delta["tool_calls"] = [{**call, "index": i}
                                   for i, call in enumerate(message["tool_calls"])]
        for piece in ({"index": index, "delta": delta, "finish_reason": None},
                      {"index": index, "delta": {},
                       "finish_reason": choice.get("finish_reason") or "stop"}):
            yield b"data: " + orjson.dumps({**base, "choices": [piece]}) + b"\n\n"
    if include_usage and result.get("usage"):
        yield b"data: " + orjson.dumps({**base, "choices": [], "usage": result["usage"]}) + b"\n\n"
    yield b"data: [DONE]\n\n"


async def then(frames: AsyncIterator[bytes], after: Callable[[], Awaitable[None]]
               ) -> AsyncIterator[bytes]:
    """Relay ``frames``, then run ``after`` once the stream has ended in full."""
    async for frame in frames:
        yield frame
    await after()
