"""One gateway call as one LLM span, and the accumulation of a streamed completion.

A failed call's span says whose fault it was in ``triops.gateway.fault``: ``client``
when the gateway refused the request (invalid, blocked by a guardrail, a model the key
may not use, a budget or rate limit) or the caller went away, ``server`` when an
upstream or the gateway itself failed. Only server faults count against a route.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import Any

from triops.core.errors import (
    AlreadyExists,
    Conflict,
    InvalidInput,
    NotFound,
    PayloadTooLarge,
    PermissionDenied,
    RateLimited,
    Unauthenticated,
)
from triops.llm.gateway.cost import Usage
from triops.llm.spans import Span, SpanKind, SpanStatus, new_span_id, new_trace_id

#: Request fields that are the call's parameters (messages and tools are kept apart).
_NOT_PARAMETERS = frozenset({"messages", "tools", "input", "model", "user"})


#: Errors that refuse a request for what it is or who sent it (4xx): the route is fine.
_CLIENT_ERRORS = (InvalidInput, Unauthenticated, PermissionDenied, NotFound, AlreadyExists,
                  Conflict, PayloadTooLarge, RateLimited)


def fault_of(error: BaseException) -> str:
    """``client`` or ``server``: who a failed call's error is down to."""
    if isinstance(error, _CLIENT_ERRORS):
        return "client"
    if isinstance(error, (GeneratorExit, asyncio.CancelledError)):
        return "client"  # the caller went away before the answer was complete
    return "server"


@dataclass
class CallTrace:
    """What the gateway learns about one call while serving it."""

    project: str
    key_id: str
    route: str
    operation: str  # "chat" or "embeddings"
    body: dict[str, Any]
    session_id: str | None = None
    trace_id: str = field(default_factory=new_trace_id)
    span_id: str = field(default_factory=new_span_id)
    #: Set on a re-asked call: the span of the call it re-asks for.
    parent_span_id: str | None = None
    start_ns: int = field(default_factory=time.time_ns)
    started: float = field(default_factory=time.perf_counter)
    upstream: str = ""
    model: str = ""
    cache: str = "off"
    attempts: list[str] = field(default_factory=list)
    first_token_ms: float | None = None
    output: Any = None
    usage: Usage | None = None
    cost: float = 0.0
    error: str = ""
    fault: str = ""  # "client" or "server" once the call failed
    recorded: bool = False
    #: Span attributes the caller adds, such as the prompt a request was rendered from.
    extra: dict[str, Any] = field(default_factory=dict)
    #: What admission decided (``spend.Ticket``): limits left, the budget reservation.
    ticket: Any = None

    def mark_first_token(self) -> None:
        if self.first_token_ms is None:
            self.first_token_ms = (time.perf_counter() - self.started) * 1000

    def span(self) -> Span:
        elapsed_ms = (time.perf_counter() - self.started) * 1000
        end_ns = self.start_ns + int(elapsed_ms * 1e6)
        body = self.body
        attributes: dict[str, Any] = {
            "openinference.span.kind": "LLM" if self.operation == "chat" else "EMBEDDING",
            "llm.model_name": self.model or str(body.get("model", "")),
            "triops.gateway.route": self.route,
            "triops.gateway.upstream": self.upstream,
            "triops.gateway.cache": self.cache,
            "triops.gateway.attempts": self.attempts,
            "llm.invocation_parameters": {k: v for k, v in body.items()
                                          if k not in _NOT_PARAMETERS},
            "triops.latency_ms": round(elapsed_ms, 3),
            "triops.key": self.key_id,
            "triops.cost_usd": self.cost,
        }
        if self.operation == "chat":
            attributes["llm.input_messages"] = body.get("messages")
            if body.get("tools"):
                attributes["llm.tools"] = body["tools"]
            if self.output is not None:
                attributes["llm.output_messages"] = self.output
        else:
            attributes["embedding.input"] = body.get("input")
        if self.first_token_ms is not None:
            attributes["triops.time_to_first_token_ms"] = round(self.first_token_ms, 3)
        if self.usage is not None:
            attributes["llm.token_count.prompt"] = self.usage.prompt_tokens
            attributes["llm.token_count.completion"] = self.usage.completion_tokens
            attributes["llm.token_count.total"] = self.usage.total_tokens
            attributes["triops.tokens_estimated"] = self.usage.estimated
        if body.get("user"):
            attributes["user.id"] = str(body["user"])
        if self.session_id:
            attributes["session.id"] = self.session_id
        if self.error:
            attributes["error.message"] = self.error
            attributes["triops.gateway.fault"] = self.fault or "server"
        if self.extra:
            attributes.update(self.extra)
        return Span(
            trace_id=self.trace_id, span_id=self.span_id, parent_span_id=self.parent_span_id,
            name=f"gateway.{self.operation} {self.route}"[:512],
            start_ns=self.start_ns, end_ns=end_ns, kind=(
                SpanKind.llm if self.operation == "chat" else SpanKind.embedding),
            status=SpanStatus.error if self.error else SpanStatus.ok,
            status_message=self.error[:2000], attributes=attributes, service_name="triops-gateway",
        )


class StreamedMessage:
    """Rebuilds the assistant message (text and tool calls) from stream chunks."""

    def __init__(self) -> None:
        self.text: list[str] = []
        self.tool_calls: dict[int, dict[str, Any]] = {}
        self.finish_reason: str | None = None
        self.usage: dict[str, Any] | None = None

    def add(self, chunk: dict[str, Any]) -> None:
        if chunk.get("usage"):
            self.usage = chunk["usage"]
        for choice in chunk.get("choices") or ():
            if choice.get("index", 0) != 0:
                continue
            delta = choice.get("delta") or {}
            if delta.get("content"):
                self.text.append(delta["content"])
            for call in delta.get("tool_calls") or ():
                slot = self.tool_calls.setdefault(call.get("index", 0), {
                    "id": "", "type": "function", "function": {"name": "", "arguments": ""}})
                if call.get("id"):
                    slot["id"] = call["id"]
                fn = call.get("function") or {}
                slot["function"]["name"] += fn.get("name") or ""
                slot["function"]["arguments"] += fn.get("arguments") or ""
            if choice.get("finish_reason"):
                self.finish_reason = choice["finish_reason"]

    def message(self) -> dict[str, Any]:
        message: dict[str, Any] = {"role": "assistant", "content": "".join(self.text) or None}
        if self.tool_calls:
            message["tool_calls"] = [self.tool_calls[i] for i in sorted(self.tool_calls)]
        return message
