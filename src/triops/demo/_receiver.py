"""A local HTTP endpoint that keeps what it is sent: the demo's on-call channel."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Any

import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route


@dataclass
class Received:
    at_ms: int
    path: str
    body: Any


@dataclass
class Receiver:
    """Every POST to any path is kept, with its arrival time."""

    received: list[Received] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def app(self) -> Starlette:
        async def keep(request: Request) -> Response:
            body = orjson.loads(await request.body() or b"null")
            with self._lock:
                self.received.append(Received(int(time.time() * 1000),
                                              request.url.path, body))
            return Response(b'{"ok": true}', media_type="application/json")

        return Starlette(routes=[Route("/{path:path}", keep, methods=["POST"])])

    def on(self, path: str) -> list[Received]:
        with self._lock:
            return [r for r in self.received if r.path == path]
