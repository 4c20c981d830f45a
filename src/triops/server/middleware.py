"""ASGI middleware: request ids, access log, Prometheus metrics, body size limit and
the answer to unexpected errors.

Written as plain ASGI rather than ``BaseHTTPMiddleware`` so that streaming responses
pass through untouched and the hot path pays as little as possible.
"""

from __future__ import annotations

import json
import logging
import random
import time
from typing import Any

import orjson
from prometheus_client import CollectorRegistry, Counter, Histogram
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from triops.server.errors import error_body, internal_error

access_log = logging.getLogger("triops.access")
log = logging.getLogger("triops.api")


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "triops_http_requests_total", "HTTP requests by route and status",
            ["method", "route", "status"], registry=self.registry,
        )
        self.latency = Histogram(
            "triops_http_request_duration_seconds", "HTTP request latency by route",
            ["method", "route"], registry=self.registry,
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
        )
        # ``labels()`` validates and looks its child up under a lock on every call; the
        # pairs a server sees are few (route templates, not paths), so keep them here.
        self._children: dict[tuple[str, str, int], tuple[Any, Any]] = {}

    def observe(self, method: str, route: str, status: int, seconds: float) -> None:
        children = self._children.get((method, route, status))
        if children is None:
            children = self._children[(method, route, status)] = (
                self.requests.labels(method, route, str(status)),
                self.latency.labels(method, route))
        children[0].inc()
        children[1].observe(seconds)


class _BodyTooLarge(Exception):
    pass


class RequestMiddleware:
    def __init__(self, app: ASGIApp, *, metrics: Metrics, max_body_bytes: int) -> None:
        self.app = app
        self.metrics = metrics
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        headers = dict(scope["headers"])
        # getrandbits, not uuid4: no system call on every request of the hot paths.
        request_id = (headers.get(b"x-request-id", b"").decode("latin-1")[:64]
                      or f"{random.getrandbits(128):032x}")
        scope.setdefault("state", {})["request_id"] = request_id
        status = 500
        response_started = False
        limit = self.max_body_bytes

        declared = headers.get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            await self._reject_too_large(send, limit, request_id)
            self._observe(scope, 413, started, request_id)
            return

        received = 0
        rejected = False

        async def limited_receive() -> Message:
            nonlocal received, rejected, status
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit and not rejected:
                    # Answer now: the framework may swallow the exception below and try
                    # to send its own, less precise, error; tracking_send drops that.
                    rejected = True
                    status = 413
                    if not response_started:
                        await self._reject_too_large(send, limit, request_id)
                    raise _BodyTooLarge
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal status, response_started
            if rejected:
                return
            if message["type"] == "http.response.start":
                status = message["status"]
                response_started = True
                message.setdefault("headers", [])
                message["headers"] = [*message["headers"], (b"x-request-id", request_id.encode())]
            await send(message)

        try:
            await self.app(scope, limited_receive, tracking_send)
        except _BodyTooLarge:
            pass
        except Exception:
            log.exception("unhandled error on %s %s", scope["method"], scope["path"])
            if response_started:
                raise  # half a response is out: only closing the connection tells the client
            # Answered here rather than by Starlette's outermost handler, which re-raises
            # after answering, and the server then drops the keep-alive connection.
            await internal_error(scope["path"])(scope, limited_receive, tracking_send)
        finally:
            self._observe(scope, status, started, request_id)

    async def _reject_too_large(self, send: Send, limit: int, request_id: str) -> None:
        body = json.dumps(
            error_body("REQUEST_LIMIT_EXCEEDED",
                       f"request body is larger than the limit of {limit} bytes "
                       "(raise it with TRIOPS_MAX_BODY_BYTES)")
        ).encode()
        await send({"type": "http.response.start", "status": 413, "headers": [
            (b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
            (b"x-request-id", request_id.encode()), (b"connection", b"close"),
        ]})
        await send({"type": "http.response.body", "body": body})

    def _observe(self, scope: Scope, status: int, started: float, request_id: str) -> None:
        elapsed = time.perf_counter() - started
        route = scope.get("route")
        template = getattr(route, "path", None) or "<unmatched>"
        method = scope["method"]
        self.metrics.observe(method, template, status, elapsed)
        if access_log.isEnabledFor(logging.INFO):
            entry = {"request_id": request_id, "method": method, "path": scope["path"],
                     "route": template, "status": status, "ms": round(elapsed * 1000, 2)}
            try:  # orjson: a third of json.dumps' cost, paid per request at the default level
                line = orjson.dumps(entry).decode()
            except orjson.JSONEncodeError:  # a path with lone surrogates from some server
                line = json.dumps(entry)
            access_log.info(line)
