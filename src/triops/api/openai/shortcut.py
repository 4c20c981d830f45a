"""The gateway's two hot routes, served before the framework's router is consulted.

Routing a request through FastAPI (matching every included router, solving the
dependency graph, wrapping the endpoint) cost about as much CPU as the gateway's own
work on ``/v1/chat/completions``. This ASGI layer sits just inside the request
middleware (request id, metrics, body limit) and serves ``POST /v1/chat/completions``
and ``POST /v1/embeddings`` directly: the same role check as the routes' ``AsEditor``
dependency (``triops.server.auth.authorize``), the same handlers, and triops errors
rendered in OpenAI's shape exactly as ``triops.server.errors`` renders them. Anything
else it raises goes on to the server's error middleware, which answers 500.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from triops.api.openai.routes import serve_chat, serve_embeddings
from triops.core.errors import TriopsError
from triops.core.principals import Role
from triops.server import openai_errors
from triops.server.auth import Caller, authorize
from triops.server.errors import status_for

Handler = Callable[[Request, Caller], Awaitable[Response]]


@dataclass(frozen=True)
class _HotRoute:
    path: str  # read as the route template by the metrics middleware
    role: Role
    handler: Handler


_HOT: dict[tuple[str, str], _HotRoute] = {
    ("POST", "/v1/chat/completions"): _HotRoute("/v1/chat/completions", Role.editor, serve_chat),
    ("POST", "/v1/embeddings"): _HotRoute("/v1/embeddings", Role.editor, serve_embeddings),
}


class GatewayShortcut:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        hot = _HOT.get((scope.get("method", ""), scope["path"])) if scope["type"] == "http" \
            else None
        if hot is None:
            await self.app(scope, receive, send)
            return
        scope["route"] = hot
        request = Request(scope, receive)
        try:
            response = await hot.handler(request, await authorize(request, hot.role))
        except TriopsError as exc:
            response = openai_errors.render(status_for(exc), exc.code, exc.message,
                                            getattr(exc, "param", None),
                                            getattr(exc, "headers", None))
        await response(scope, receive, send)
