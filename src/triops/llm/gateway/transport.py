"""Talking to an upstream over HTTP: the target of one attempt, how attempts fail, and
the JSON and server-sent-event calls every provider makes.

Providers build on this module; it knows none of them.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

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


async def sse_batches(response: aiohttp.ClientResponse, target: Target
                      ) -> AsyncIterator[list[str]]:
    """The ``data:`` payloads of a server-sent event stream, one list per read from the
    upstream: the events that arrived together, so that a relay can pass them on in one
    write. Transport errors become ``UpstreamFailure`` so that a stream cut mid-way is
    reported, not swallowed."""
    pending = b""
    try:
        while chunk := await response.content.readany():
            lines = (pending + chunk).split(b"\n")
            pending = lines.pop()  # the start of a line the next read completes
            batch = [line[5:].strip().decode() for line in lines if line.startswith(b"data:")]
            if batch:
                yield batch
        if pending.startswith(b"data:"):
            yield [pending[5:].strip().decode()]
    except TRANSPORT_ERRORS as exc:
        failure = failure_for_exception(exc, target)
        failure.message = (f"stream from upstream {target.upstream.name!r} broke off: "
                           f"{type(exc).__name__}: {exc}")
        raise failure from None
    finally:
        response.release()


async def sse_data(response: aiohttp.ClientResponse, target: Target) -> AsyncIterator[str]:
    """The ``data:`` payloads of a server-sent event stream, one at a time."""
    async for batch in sse_batches(response, target):
        for data in batch:
            yield data
