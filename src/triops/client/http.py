"""The SDK's one HTTP connection to a triops server, and how its failures are sorted.

``Unreachable`` means "try again later" (no connection, timeout, 5xx, 429): the
caller spools. ``Rejected`` means the server refused the request itself (4xx): sending
it again would be refused again.
"""

from __future__ import annotations

import threading
from typing import Any

import httpx
import orjson


class Unreachable(Exception):
    """The server could not take the request now; it may later."""


class Rejected(Exception):
    """The server refused the request (a 4xx); ``status`` and ``body`` say why."""

    def __init__(self, status: int, body: str) -> None:
        super().__init__(f"HTTP {status}: {body[:500]}")
        self.status = status
        self.body = body


class Transport:
    def __init__(self, url: str, *, api_key: str | None = None, project: str | None = None,
                 timeout_s: float = 30.0) -> None:
        self.url = url.rstrip("/")
        self.project = project
        headers = {"Content-Type": "application/json"}
        if api_key:
            headers["Authorization"] = f"Bearer {api_key}"
        if project:
            headers["X-Triops-Project"] = project
        self._client = httpx.Client(base_url=self.url, headers=headers, timeout=timeout_s)
        self._lock = threading.Lock()

    def post(self, path: str, body: dict[str, Any] | bytes) -> dict[str, Any]:
        content = body if isinstance(body, bytes) else orjson.dumps(body)
        try:
            # httpx clients are thread-safe, but one connection at a time keeps batches
            # of one run in order on the wire.
            with self._lock:
                response = self._client.post(path, content=content)
        except httpx.HTTPError as exc:
            raise Unreachable(f"{type(exc).__name__}: {exc}") from exc
        if response.status_code >= 500 or response.status_code == 429:
            raise Unreachable(f"HTTP {response.status_code}: {response.text[:300]}")
        if response.status_code >= 400:
            raise Rejected(response.status_code, response.text)
        return response.json() if response.content else {}

    def close(self) -> None:
        self._client.close()
