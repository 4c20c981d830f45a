"""Where the SDK sends things: set once with ``configure`` (or ``from_env``)."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class ClientConfig:
    url: str
    api_key: str | None = None
    project: str | None = None
    #: Service name attached to every span (OpenTelemetry's ``service.name``).
    service: str = "python-app"
    #: Spans per export request, and the longest a finished span waits to be sent.
    batch_size: int = 256
    flush_interval_s: float = 1.0
    timeout_s: float = 10.0

    def headers(self) -> dict[str, str]:
        headers = {}
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        if self.project:
            headers["X-Triops-Project"] = self.project
        return headers


_config: ClientConfig | None = None
#: Called after every ``configure``; parts that hold state built from the old
#: configuration (the span exporter) register here, so this module depends on none of them.
_listeners: list[Callable[[], None]] = []


def on_configure(listener: Callable[[], None]) -> None:
    """Call ``listener`` after each later ``configure``."""
    _listeners.append(listener)


def configure(url: str, api_key: str | None = None, *, project: str | None = None,
              service: str = "python-app", batch_size: int = 256,
              flush_interval_s: float = 1.0) -> ClientConfig:
    """Point the SDK at a triops server; replaces any earlier configuration.

    >>> configure("http://127.0.0.1:7600", "tri_example").url
    'http://127.0.0.1:7600'
    """
    global _config
    _config = ClientConfig(url=url.rstrip("/"), api_key=api_key, project=project,
                           service=service, batch_size=max(1, batch_size), flush_interval_s=flush_interval_s)
    for listener in _listeners:
        listener()
    return _config


def from_env() -> ClientConfig:
    """Configure from ``TRIOPS_URL``, ``TRIOPS_API_KEY`` and ``TRIOPS_PROJECT``.

    The only place the SDK reads the environment, and only when the application asks.
    """
    url = os.environ.get("TRIOPS_URL", "http://127.0.0.1:7600")
    return configure(url, os.environ.get("TRIOPS_API_KEY"),
                     project=os.environ.get("TRIOPS_PROJECT"),
                     service=os.environ.get("TRIOPS_SERVICE", "python-app"))


def current() -> ClientConfig | None:
    return _config
