"""Hot routes served before the framework's router is consulted.

Routing a request through FastAPI (matching every included router, solving the
dependency graph, wrapping the endpoint) costs about as much CPU as a small route's own
work. A ``Shortcut`` is an ASGI layer just inside the request middleware (request id,
metrics, body limit, input guard) that serves a fixed table of routes directly: the
same role check as the routes' ``As*`` dependency (``triops.server.auth.authorize``),
then the same handler the declared route calls, and triops errors rendered exactly as
``triops.server.errors`` renders them (OpenAI's shape under ``/v1``, triops' own
elsewhere). A handler that returns ``None`` leaves the request to the framework, with
its body replayed: that is how a hot route keeps the framework's own answer to a body
it would not accept. Anything else a handler raises goes on to the server's error
middleware, which answers 500.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import ClassVar

from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from triops.core.errors import TriopsError
from triops.core.principals import Role
from triops.server import errors
from triops.server.auth import Caller, authorize
from triops.server.input_guard import replay_body

Handler = Callable[[Request, Caller], Awaitable[Response | None]]


@dataclass(frozen=True)
class HotRoute:
    path: str  # read as the route template by the metrics middleware
    role: Role
    handler: Handler


class Shortcut:
    #: (method, path) -> route; each subclass names its own.
    routes: ClassVar[dict[tuple[str, str], HotRoute]] = {}

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    def route_of(self, scope: Scope) -> HotRoute | None:
        """The hot route for an HTTP request, if any: by exact method and path here; a
        subclass with a path parameter matches it itself and sets ``path_params``."""
        return self.routes.get((scope.get("method", ""), scope["path"]))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        hot = self.route_of(scope) if scope["type"] == "http" else None
        if hot is None:
            await self.app(scope, receive, send)
            return
        scope["route"] = hot
        request = Request(scope, receive)
        try:
            response = await hot.handler(request, await authorize(request, hot.role))
        except TriopsError as exc:
            response = errors.render(scope["path"], errors.status_for(exc), exc.code,
                                     exc.message, getattr(exc, "param", None),
                                     getattr(exc, "headers", None))
        if response is None:
            del scope["route"]
            scope.pop("path_params", None)
            await self.app(scope, replay_body(await request.body(), receive), send)
            return
        await response(scope, receive, send)

