"""The provider protocol, the OpenAI-compatible provider, and the provider registry.

A provider speaks one upstream API and always hands back OpenAI-shaped bodies and
stream chunks, so everything above it (routing, limits, cost, cache, tracing) deals
with one shape. Adding a provider is writing one class and registering it here, or
from another package through the ``triops.gateway_providers`` entry point group.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from importlib.metadata import entry_points
from typing import Any, Protocol

import aiohttp
import orjson

from triops.core.gateway_settings import UpstreamConfig


@dataclass(frozen=True)
class Target:
    """One concrete deployment for one attempt: which upstream, which model, how long."""

    upstream: UpstreamConfig
    model: str
    timeout_s: float

    @property
    def key(self) -> str:
        return f"{self.upstream.name}/{self.model}"


class UpstreamFailure(Exception):
    """An attempt failed; ``retryable`` says whether another attempt or deployment may help."""

    def __init__(self, status: int, message: str, *, retryable: bool, timeout: bool = False):
        super().__init__(message)
        self.status = status
        self.message = message
        self.retryable = retryable
        self.timeout = timeout


class Provider(Protocol):
    name: str

    async def chat(self, client: aiohttp.ClientSession, target: Target, body: dict[str, Any]
                   ) -> dict[str, Any]:
        """One chat completion, returned in OpenAI's shape."""
        ...

    async def stream(self, client: aiohttp.ClientSession, target: Target, body: dict[str, Any]
                     ) -> AsyncIterator[dict[str, Any]]:
        """OpenAI-shaped chunks. Fails with ``UpstreamFailure`` before the first chunk
        when the upstream refuses, so that the caller can still fall back."""
        ...

    async def embed(self, client: aiohttp.ClientSession, target: Target, body: dict[str, Any]
                    ) -> dict[str, Any]:
        ...


#: What a failed attempt can raise from the HTTP client.
TRANSPORT_ERRORS = (aiohttp.ClientError, asyncio.TimeoutError, ValueError)


def failure_for_status(status: int, text: str, upstream: str) -> UpstreamFailure:
    message = _upstream_message(text) or f"HTTP {status}"
    retryable = status in (408, 409, 429) or status >= 500
    return UpstreamFailure(status, f"upstream {upstream!r} answered {status}: {message}",
                           retryable=retryable)


def failure_for_exception(exc: BaseException, target: Target) -> UpstreamFailure:
    if isinstance(exc, asyncio.TimeoutError):  # aiohttp's timeouts subclass it
        return UpstreamFailure(504, f"upstream {target.upstream.name!r} did not answer within "
                               f"{target.timeout_s:g}s", retryable=True, timeout=True)
    return UpstreamFailure(502, f"upstream {target.upstream.name!r} unreachable: "
                           f"{type(exc).__name__}: {exc}", retryable=True)


def _upstream_message(text: str) -> str:
    try:
        body = orjson.loads(text)
    except orjson.JSONDecodeError:
        return text[:500]
    error = body.get("error") if isinstance(body, dict) else None
    if isinstance(error, dict):
        return str(error.get("message", ""))[:500]
    if isinstance(error, str):
        return error[:500]
    return text[:500]


def _url(target: Target, path: str) -> str:
    return target.upstream.base_url.rstrip("/") + path


async def post_json(client: aiohttp.ClientSession, target: Target, path: str,
                    payload: dict[str, Any], headers: dict[str, str]) -> dict[str, Any]:
    """POST one JSON body and return the JSON reply; every failure as ``UpstreamFailure``."""
    try:
        async with client.post(_url(target, path), data=orjson.dumps(payload), headers=headers,
                               timeout=aiohttp.ClientTimeout(total=target.timeout_s)) as response:
            status, raw = response.status, await response.read()
    except TRANSPORT_ERRORS as exc:
        raise failure_for_exception(exc, target) from None
    if status >= 400:
        raise failure_for_status(status, raw.decode(errors="replace"), target.upstream.name)
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise UpstreamFailure(502, f"upstream {target.upstream.name!r} sent a body that is "
                              "not JSON", retryable=True) from None


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
                     ) -> AsyncIterator[dict[str, Any]]:
        response = await open_stream(client, target, "/chat/completions",
                                     {**body, "model": target.model}, self._headers(target))
        return _openai_chunks(response, target)


async def open_stream(client: aiohttp.ClientSession, target: Target, path: str,
                      body: dict[str, Any], headers: dict[str, str]) -> aiohttp.ClientResponse:
    """Send the request and wait for the status line; errors surface before any chunk.

    The timeout bounds the wait for the status line and for each following read, not
    the whole stream: a long answer that keeps flowing is not cut off."""
    timeout = aiohttp.ClientTimeout(total=None, sock_connect=target.timeout_s,
                                    sock_read=target.timeout_s)
    try:
        response = await client.post(_url(target, path), data=orjson.dumps(body),
                                     headers=headers, timeout=timeout)
    except TRANSPORT_ERRORS as exc:
        raise failure_for_exception(exc, target) from None
    if response.status >= 400:
        try:
            text = (await response.read()).decode(errors="replace")
        except TRANSPORT_ERRORS:
            text = ""
        finally:
            response.release()
        raise failure_for_status(response.status, text, target.upstream.name)
    return response


async def sse_data(response: aiohttp.ClientResponse, target: Target) -> AsyncIterator[str]:
    """The ``data:`` payloads of a server-sent event stream; transport errors become
    ``UpstreamFailure`` so that a stream cut mid-way is reported, not swallowed."""
    try:
        async for raw in response.content:
            if raw.startswith(b"data:"):
                yield raw[5:].strip().decode()
    except TRANSPORT_ERRORS as exc:
        failure = failure_for_exception(exc, target)
        failure.message = (f"stream from upstream {target.upstream.name!r} broke off: "
                           f"{type(exc).__name__}: {exc}")
        raise failure from None
    finally:
        response.release()


async def _openai_chunks(response: aiohttp.ClientResponse, target: Target
                         ) -> AsyncIterator[dict[str, Any]]:
    finished = False
    async for data in sse_data(response, target):
        if data == "[DONE]":
            finished = True
            break
        try:
            chunk = orjson.loads(data)
        except orjson.JSONDecodeError:
            raise UpstreamFailure(502, "upstream sent a stream event that is not JSON",
                                  retryable=False) from None
        if isinstance(chunk, dict) and "error" in chunk:
            raise UpstreamFailure(502, f"upstream stream error: {chunk['error']}",
                                  retryable=False)
        yield chunk
    if not finished:
        raise UpstreamFailure(502, f"stream from upstream {target.upstream.name!r} ended "
                              "before [DONE]", retryable=False)


def _registry() -> dict[str, Provider]:
    from triops.llm.gateway.anthropic import AnthropicProvider

    found: dict[str, Provider] = {"openai": OpenAIProvider(), "anthropic": AnthropicProvider()}
    for entry in entry_points(group="triops.gateway_providers"):
        found[entry.name] = entry.load()()
    return found


_PROVIDERS: dict[str, Provider] | None = None


def provider(name: str) -> Provider:
    """The registered provider called ``name``; KeyError when there is none."""
    global _PROVIDERS
    if _PROVIDERS is None:
        _PROVIDERS = _registry()
    return _PROVIDERS[name]


def provider_names() -> list[str]:
    provider("openai")
    assert _PROVIDERS is not None
    return sorted(_PROVIDERS)
