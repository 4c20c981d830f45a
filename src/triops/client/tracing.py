"""Application tracing: ``@trace`` and ``with span(...)`` record spans of an LLM app.

Spans nest through a context variable (threads and asyncio tasks each see their own
parent), capture inputs and outputs as OpenInference ``input.value``/``output.value``,
and are exported in batches by a background thread to ``POST /api/v1/traces/spans``.
Exporting never blocks or breaks the application: when the server cannot be reached
the batch is retried, then dropped with a warning. ``flush()`` runs at interpreter exit.
"""

from __future__ import annotations

import atexit
import contextvars
import functools
import inspect
import json
import logging
import os
import queue
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

import httpx

from triops.client import _config

log = logging.getLogger("triops.client")

KINDS = ("chain", "tool", "retriever", "agent", "llm", "embedding", "reranker", "guardrail",
         "evaluator")
#: Captured inputs and outputs longer than this are cut, so a large document does not
#: turn every span into megabytes.
MAX_VALUE_CHARS = 32_000
_RETRIES = 3

F = TypeVar("F", bound=Callable[..., Any])


class ActiveSpan:
    """The span being recorded; ``set_output`` and ``set_attribute`` add to it."""

    def __init__(self, name: str, kind: str, trace_id: str, parent_span_id: str | None) -> None:
        self.name = name
        self.kind = kind
        self.trace_id = trace_id
        self.span_id = os.urandom(8).hex()
        self.parent_span_id = parent_span_id
        self.start_ns = time.time_ns()
        self.attributes: dict[str, Any] = {"openinference.span.kind": kind.upper()}
        self.events: list[dict[str, Any]] = []
        self.status = "OK"
        self.status_message = ""

    def set_attribute(self, key: str, value: Any) -> None:
        self.attributes[key] = value

    def set_input(self, value: Any) -> None:
        self.attributes["input.value"], self.attributes["input.mime_type"] = _encode(value)

    def set_output(self, value: Any) -> None:
        self.attributes["output.value"], self.attributes["output.mime_type"] = _encode(value)

    def record_error(self, exc: BaseException) -> None:
        self.status, self.status_message = "ERROR", f"{type(exc).__name__}: {exc}"[:2000]
        self.events.append({"name": "exception", "time_ns": time.time_ns(), "attributes": {
            "exception.type": type(exc).__name__, "exception.message": str(exc)[:2000]}})

    def to_json(self, end_ns: int) -> dict[str, Any]:
        return {
            "trace_id": self.trace_id, "span_id": self.span_id,
            "parent_span_id": self.parent_span_id, "name": self.name,
            "start_ns": self.start_ns, "end_ns": end_ns, "kind": self.kind.upper(),
            "status": self.status, "status_message": self.status_message,
            "attributes": self.attributes, "events": self.events,
        }


_current: contextvars.ContextVar[ActiveSpan | None] = contextvars.ContextVar(
    "triops_span", default=None)


def _encode(value: Any) -> tuple[str, str]:
    if isinstance(value, str):
        return value[:MAX_VALUE_CHARS], "text/plain"
    try:
        text = json.dumps(value, default=repr, ensure_ascii=False)
    except (TypeError, ValueError):
        text = repr(value)
    return text[:MAX_VALUE_CHARS], "application/json"


def current_span() -> ActiveSpan | None:
    return _current.get()


@contextmanager
def span(name: str, kind: str = "chain", *, inputs: Any = None,
         attributes: dict[str, Any] | None = None) -> Iterator[ActiveSpan]:
    """Record the enclosed block as one span, child of the span around it.

    >>> with span("lookup", kind="tool", inputs={"q": "weather"}) as s:
    ...     s.set_output("sunny")
    """
    if kind not in KINDS:
        raise ValueError(f"span kind must be one of {', '.join(KINDS)}, got {kind!r}")
    parent = _current.get()
    active = ActiveSpan(name, kind, parent.trace_id if parent else os.urandom(16).hex(),
                        parent.span_id if parent else None)
    if inputs is not None:
        active.set_input(inputs)
    active.attributes.update(attributes or {})
    token = _current.set(active)
    try:
        yield active
    except BaseException as exc:
        active.record_error(exc)
        raise
    finally:
        _current.reset(token)
        _exporter().submit(active.to_json(time.time_ns()))


def _inputs_of(signature: inspect.Signature, args: tuple, kwargs: dict) -> dict[str, Any]:  # type: ignore[type-arg]
    try:
        bound = signature.bind_partial(*args, **kwargs)
    except TypeError:
        return {"args": list(args), "kwargs": kwargs}
    return {k: v for k, v in bound.arguments.items() if k not in ("self", "cls")}


def trace(fn: F | None = None, *, name: str | None = None, kind: str = "chain",
          capture: bool = True) -> Any:
    """Decorate a function (sync or async) so that each call is a span.

    >>> @trace(kind="tool")
    ... def add(a, b):
    ...     return a + b
    >>> add(1, 2)
    3
    """
    def decorate(func: F) -> F:
        span_name = name or func.__qualname__
        signature = inspect.signature(func)

        if inspect.iscoroutinefunction(func):
            @functools.wraps(func)
            async def async_wrapper(*args: Any, **kwargs: Any) -> Any:
                inputs = _inputs_of(signature, args, kwargs) if capture else None
                with span(span_name, kind, inputs=inputs) as s:
                    result = await func(*args, **kwargs)
                    if capture:
                        s.set_output(result)
                    return result
            return async_wrapper  # type: ignore[return-value]

        @functools.wraps(func)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            inputs = _inputs_of(signature, args, kwargs) if capture else None
            with span(span_name, kind, inputs=inputs) as s:
                result = func(*args, **kwargs)
                if capture:
                    s.set_output(result)
                return result
        return wrapper  # type: ignore[return-value]

    return decorate(fn) if fn is not None else decorate


class _Exporter:
    """Background thread that sends finished spans in batches."""

    def __init__(self, config: _config.ClientConfig | None) -> None:
        self.config = config
        self.queue: queue.Queue[dict[str, Any] | None] = queue.Queue(maxsize=100_000)
        self.sent = 0
        self.dropped = 0
        self._idle = threading.Condition()
        self._pending = 0
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def submit(self, item: dict[str, Any]) -> None:
        if self.config is None:
            self.dropped += 1
            return
        item["service_name"] = self.config.service
        with self._idle:
            self._pending += 1
        try:
            self.queue.put_nowait(item)
        except queue.Full:  # never block the application; count what is lost
            with self._idle:
                self._pending -= 1
                self.dropped += 1
            return
        self._ensure_thread()

    def _ensure_thread(self) -> None:
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="triops-span-export",
                                                daemon=True)
                self._thread.start()

    def _run(self) -> None:
        assert self.config is not None
        with httpx.Client(base_url=self.config.url, headers=self.config.headers(),
                          timeout=self.config.timeout_s) as http:
            while True:
                batch: list[dict[str, Any]] = []
                deadline = time.monotonic() + self.config.flush_interval_s
                while len(batch) < self.config.batch_size:
                    try:
                        item = self.queue.get(timeout=max(0.0, deadline - time.monotonic()))
                    except queue.Empty:
                        break
                    if item is None:
                        break
                    batch.append(item)
                if batch:
                    self._send(http, batch)
                    with self._idle:
                        self._pending -= len(batch)
                        self._idle.notify_all()

    def _send(self, http: httpx.Client, batch: list[dict[str, Any]]) -> None:
        for attempt in range(_RETRIES):
            try:
                response = http.post("/api/v1/traces/spans", json={"spans": batch})
            except httpx.HTTPError as exc:
                problem = str(exc)
            else:
                if response.status_code < 300:
                    self.sent += len(batch)
                    return
                problem = f"HTTP {response.status_code}: {response.text[:200]}"
                if response.status_code < 500 and response.status_code != 429:
                    break  # the server will refuse it again
            time.sleep(0.2 * 2 ** attempt)
        self.dropped += len(batch)
        log.warning("triops: dropped %d spans that could not be exported (%s)", len(batch),
                    problem)

    def flush(self, timeout_s: float = 10.0) -> bool:
        """Wait until every submitted span was sent or dropped; False on timeout."""
        if self._pending:
            self.queue.put(None)  # wake the sender so a partial batch leaves now
        deadline = time.monotonic() + timeout_s
        with self._idle:
            while self._pending > 0:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._idle.wait(left)
        return True


_exporter_instance: _Exporter | None = None
_exporter_lock = threading.Lock()


def _exporter() -> _Exporter:
    global _exporter_instance
    with _exporter_lock:
        if _exporter_instance is None:
            _exporter_instance = _Exporter(_config.current())
        return _exporter_instance


def reset_exporter() -> None:
    """Flush the old exporter and use the current configuration from now on."""
    global _exporter_instance
    with _exporter_lock:
        old, _exporter_instance = _exporter_instance, None
    if old is not None:
        old.flush()


def flush(timeout_s: float = 10.0) -> bool:
    return _exporter().flush(timeout_s)


def stats() -> dict[str, int]:
    e = _exporter()
    return {"sent": e.sent, "dropped": e.dropped}


_config.on_configure(reset_exporter)
atexit.register(flush)
