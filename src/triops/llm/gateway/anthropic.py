"""Anthropic's Messages API behind the OpenAI shape, both ways, streaming included."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import orjson

from triops.core.errors import InvalidInput
from triops.llm.gateway.transport import (
    Target,
    UpstreamFailure,
    open_stream,
    post_json,
    sse_data,
)

API_VERSION = "2023-06-01"
#: Anthropic requires max_tokens; OpenAI clients usually leave it out.
DEFAULT_MAX_TOKENS = 4096

_STOP_REASONS = {"end_turn": "stop", "stop_sequence": "stop", "max_tokens": "length",
                 "tool_use": "tool_calls", "pause_turn": "stop", "refusal": "content_filter"}


def _content_blocks(content: Any) -> list[dict[str, Any]]:
    if content is None:
        return []
    if isinstance(content, str):
        return [{"type": "text", "text": content}] if content else []
    blocks = []
    for part in content:
        if part.get("type") == "text":
            blocks.append({"type": "text", "text": part.get("text", "")})
        elif part.get("type") == "image_url":
            url = (part.get("image_url") or {}).get("url", "")
            if url.startswith("data:") and ";base64," in url:
                media, data = url[5:].split(";base64,", 1)
                blocks.append({"type": "image", "source": {"type": "base64",
                               "media_type": media, "data": data}})
            else:
                blocks.append({"type": "image", "source": {"type": "url", "url": url}})
    return blocks


def to_anthropic(body: dict[str, Any], model: str) -> dict[str, Any]:
    """An OpenAI chat request as an Anthropic Messages request."""
    system: list[str] = []
    messages: list[dict[str, Any]] = []
    for message in body.get("messages", []):
        role = message.get("role")
        if role in ("system", "developer"):
            system.append("".join(b["text"] for b in _content_blocks(message.get("content"))
                                  if b["type"] == "text"))
        elif role == "tool":
            block = {"type": "tool_result", "tool_use_id": message.get("tool_call_id", ""),
                     "content": _content_blocks(message.get("content"))}
            _append(messages, "user", [block])
        elif role == "assistant":
            blocks = _content_blocks(message.get("content"))
            for call in message.get("tool_calls") or ():
                fn = call.get("function") or {}
                try:
                    arguments = orjson.loads(fn.get("arguments") or "{}")
                except orjson.JSONDecodeError:
                    raise InvalidInput("tool call arguments must be a JSON object") from None
                blocks.append({"type": "tool_use", "id": call.get("id", ""),
                               "name": fn.get("name", ""), "input": arguments})
            _append(messages, "assistant", blocks)
        else:
            _append(messages, "user", _content_blocks(message.get("content")))
    out: dict[str, Any] = {
        "model": model, "messages": messages,
        "max_tokens": body.get("max_completion_tokens") or body.get("max_tokens")
        or DEFAULT_MAX_TOKENS,
    }
    if system:
        out["system"] = "\n\n".join(system)
    for name in ("temperature", "top_p", "stream"):
        if body.get(name) is not None:
            out[name] = body[name]
    stop = body.get("stop")
    if stop:
        out["stop_sequences"] = [stop] if isinstance(stop, str) else list(stop)
    if body.get("tools"):
        out["tools"] = [{"name": t["function"]["name"],
                         "description": t["function"].get("description", ""),
                         "input_schema": t["function"].get("parameters")
                         or {"type": "object", "properties": {}}}
                        for t in body["tools"] if t.get("type") == "function"]
        choice = body.get("tool_choice")
        if choice == "required":
            out["tool_choice"] = {"type": "any"}
        elif choice == "none":
            out["tool_choice"] = {"type": "none"}
        elif isinstance(choice, dict):
            out["tool_choice"] = {"type": "tool", "name": choice["function"]["name"]}
    if body.get("user"):
        out["metadata"] = {"user_id": str(body["user"])}
    return out


def _append(messages: list[dict[str, Any]], role: str, blocks: list[dict[str, Any]]) -> None:
    # Anthropic wants roles to alternate; consecutive turns of one role are merged.
    if messages and messages[-1]["role"] == role:
        messages[-1]["content"].extend(blocks)
    else:
        messages.append({"role": role, "content": blocks})


def from_anthropic(reply: dict[str, Any], model: str) -> dict[str, Any]:
    """An Anthropic Messages reply as an OpenAI chat completion."""
    text = []
    calls = []
    for block in reply.get("content", []):
        if block.get("type") == "text":
            text.append(block.get("text", ""))
        elif block.get("type") == "tool_use":
            calls.append({"id": block.get("id", ""), "type": "function",
                          "function": {"name": block.get("name", ""),
                                       "arguments": orjson.dumps(block.get("input", {})).decode()}})
    message: dict[str, Any] = {"role": "assistant", "content": "".join(text) if text else None}
    if calls:
        message["tool_calls"] = calls
    usage = reply.get("usage") or {}
    prompt = int(usage.get("input_tokens") or 0)
    completion = int(usage.get("output_tokens") or 0)
    return {
        "id": "chatcmpl-" + str(reply.get("id", "")), "object": "chat.completion",
        "created": int(time.time()), "model": reply.get("model", model),
        "choices": [{"index": 0, "message": message,
                     "finish_reason": _STOP_REASONS.get(reply.get("stop_reason") or "", "stop")}],
        "usage": {"prompt_tokens": prompt, "completion_tokens": completion,
                  "total_tokens": prompt + completion},
    }


class AnthropicProvider:
    name = "anthropic"

    def _headers(self, target: Target) -> dict[str, str]:
        headers = {"content-type": "application/json", "anthropic-version": API_VERSION,
                   **target.upstream.headers}
        if target.upstream.api_key is not None:
            headers["x-api-key"] = target.upstream.api_key.get_secret_value()
        return headers

    async def chat(self, client: aiohttp.ClientSession, target: Target, body: dict[str, Any]
                   ) -> dict[str, Any]:
        reply = await post_json(client, target, "/messages", to_anthropic(body, target.model),
                                self._headers(target))
        return from_anthropic(reply, target.model)

    async def embed(self, client: aiohttp.ClientSession, target: Target, body: dict[str, Any]
                    ) -> dict[str, Any]:
        raise InvalidInput(f"upstream {target.upstream.name!r} speaks Anthropic's API, which "
                           "has no embeddings; route embeddings to an OpenAI-compatible one")

    async def stream(self, client: aiohttp.ClientSession, target: Target, body: dict[str, Any]
                     ) -> AsyncIterator[dict[str, Any]]:
        payload = to_anthropic({**body, "stream": True}, target.model)
        response = await open_stream(client, target, "/messages", payload, self._headers(target))
        return translate_stream(sse_data(response, target), target.model)


async def translate_stream(events: AsyncIterator[str], model: str
                           ) -> AsyncIterator[dict[str, Any]]:
    """Anthropic stream events as OpenAI ``chat.completion.chunk`` values."""
    chunk_id, created = "chatcmpl-", int(time.time())
    prompt_tokens = 0
    tool_index: dict[int, int] = {}
    stopped = False

    def chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
        return {"id": chunk_id, "object": "chat.completion.chunk", "created": created,
                "model": model, "choices": [{"index": 0, "delta": delta,
                                             "finish_reason": finish}]}

    async for data in events:
        event = orjson.loads(data)
        kind = event.get("type")
        if kind == "message_start":
            message = event.get("message", {})
            chunk_id = "chatcmpl-" + str(message.get("id", ""))
            prompt_tokens = int((message.get("usage") or {}).get("input_tokens") or 0)
            yield chunk({"role": "assistant", "content": ""})
        elif kind == "content_block_start":
            block = event.get("content_block", {})
            if block.get("type") == "tool_use":
                index = tool_index.setdefault(event.get("index", 0), len(tool_index))
                yield chunk({"tool_calls": [{"index": index, "id": block.get("id", ""),
                                             "type": "function", "function": {
                                                 "name": block.get("name", ""),
                                                 "arguments": ""}}]})
        elif kind == "content_block_delta":
            delta = event.get("delta", {})
            if delta.get("type") == "text_delta":
                yield chunk({"content": delta.get("text", "")})
            elif delta.get("type") == "input_json_delta":
                index = tool_index.get(event.get("index", 0), 0)
                yield chunk({"tool_calls": [{"index": index, "function": {
                    "arguments": delta.get("partial_json", "")}}]})
        elif kind == "message_delta":
            reason = (event.get("delta") or {}).get("stop_reason") or "end_turn"
            completion = int((event.get("usage") or {}).get("output_tokens") or 0)
            final = chunk({}, _STOP_REASONS.get(reason, "stop"))
            final["usage"] = {"prompt_tokens": prompt_tokens, "completion_tokens": completion,
                              "total_tokens": prompt_tokens + completion}
            yield final
        elif kind == "message_stop":
            stopped = True
            break
        elif kind == "error":
            raise UpstreamFailure(502, f"upstream stream error: {event.get('error')}",
                                  retryable=False)
    if not stopped:
        raise UpstreamFailure(502, "Anthropic stream ended before message_stop",
                              retryable=False)
