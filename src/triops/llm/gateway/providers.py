"""The provider protocol, the OpenAI-compatible provider, and the provider registry.

A provider speaks one upstream API and always hands back OpenAI-shaped bodies and
stream chunks, so everything above it (routing, limits, cost, cache, tracing) deals
with one shape. Adding a provider is writing one class and registering it here, or
from another package through the ``triops.gateway_providers`` entry point group.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any, Protocol

import aiohttp
import orjson

from triops.core.registry import Registry
from triops.llm.gateway.anthropic import AnthropicProvider
from triops.llm.gateway.transport import (
    Target,
    UpstreamFailure,
    open_stream,
    post_json,
    sse_batches,
)


class Provider(Protocol):
    name: str

    async def chat(self, client: aiohttp.ClientSession, target: Target, body: dict[str, Any]
                   ) -> dict[str, Any]:
        """One chat completion, returned in OpenAI's shape."""
        ...

    async def stream(self, client: aiohttp.ClientSession, target: Target, body: dict[str, Any]
                     ) -> AsyncIterator[dict[str, Any] | list[dict[str, Any]]]:
        """OpenAI-shaped chunks, or lists of them that arrived together (the relay then
        passes each list on in one write). Fails with ``UpstreamFailure`` before the first
        chunk when the upstream refuses, so that the caller can still fall back."""
        ...

    async def embed(self, client: aiohttp.ClientSession, target: Target, body: dict[str, Any]
                    ) -> dict[str, Any]:
        ...


class OpenAIProvider:
    """Any server that speaks OpenAI's chat/embeddings API (OpenAI, vLLM, Ollama, ...)."""

    name = "openai"

    def _headers(self, target: Target) -> dict[str, str]:
        headers = {"content-type": "application/json", **target.upstream.headers}
        if target.upstream.api_key is not None:
            headers["authorization"] = f"Bearer {target.upstream.api_key.get_secret_value()}"
        return headers

    async def chat(self, client: aiohttp.ClientSession, target: Target, body: dict[str, Any]
                   ) -> dict[str, Any]:
        return await post_json(client, target, "/chat/completions",
                               {**body, "model": target.model}, self._headers(target))

    async def embed(self, client: aiohttp.ClientSession, target: Target, body: dict[str, Any]
                    ) -> dict[str, Any]:
        return await post_json(client, target, "/embeddings",
                               {**body, "model": target.model}, self._headers(target))

    async def stream(self, client: aiohttp.ClientSession, target: Target, body: dict[str, Any]
                     ) -> AsyncIterator[list[dict[str, Any]]]:
        response = await open_stream(client, target, "/chat/completions",
                                     {**body, "model": target.model}, self._headers(target))
        return _openai_chunks(response, target)


async def _openai_chunks(response: aiohttp.ClientResponse, target: Target
                         ) -> AsyncIterator[list[dict[str, Any]]]:
    """The upstream's chunks, a list per read: events that arrived together go on
    together (one socket write per read instead of one per event)."""
    finished = False
    async for batch in sse_batches(response, target):
        chunks = []
        for data in batch:
            if data == "[DONE]":
                finished = True
                break
            problem = None
            try:
                chunk = orjson.loads(data)
            except orjson.JSONDecodeError:
                problem = "upstream sent a stream event that is not JSON"
            else:
                if isinstance(chunk, dict) and "error" in chunk:
                    problem = f"upstream stream error: {chunk['error']}"
            if problem is not None:
                if chunks:  # what came before the bad event still reaches the caller
                    yield chunks
                raise UpstreamFailure(502, problem, retryable=False)
            chunks.append(chunk)
        if chunks:
            yield chunks
        if finished:
            break
    if not finished:
        raise UpstreamFailure(502, f"stream from upstream {target.upstream.name!r} ended "
                              "before [DONE]", retryable=False)


#: Every provider by name; a plug-in names a provider class, made once when loaded.
PROVIDERS: Registry[Provider] = Registry("provider", group="triops.gateway_providers",
                                         plugin=lambda cls: cls())
PROVIDERS.register(OpenAIProvider())
PROVIDERS.register(AnthropicProvider())

provider = PROVIDERS.get
provider_names = PROVIDERS.names
