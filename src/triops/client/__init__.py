"""The triops Python SDK: experiment tracking, application tracing, registered prompts.

It installs on its own (the ``triops-sdk`` distribution in ``sdk/``) with httpx, orjson
and Jinja2, and imports nothing of the server; the server builds on it. Names load on
first use, so importing one part (``triops.client.errors`` from the server's core, or
the prompt registry alone) does not start the others.

>>> import triops.client as tc
>>> cfg = tc.configure("http://127.0.0.1:7600", api_key="tri_example")
>>> @tc.trace(kind="tool")
... def lookup(city):
...     return "sunny"
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from triops.client import prompts
    from triops.client._config import ClientConfig, configure, current, from_env
    from triops.client.tracing import ActiveSpan, current_span, flush, span, trace
    from triops.client.tracking import Run, active_run, log_dataset, start_run

_HOME = {
    **{name: "triops.client._config" for name in ("ClientConfig", "configure", "current",
                                                  "from_env")},
    **{name: "triops.client.tracing" for name in ("ActiveSpan", "current_span", "flush",
                                                  "span", "trace")},
    **{name: "triops.client.tracking" for name in ("Run", "active_run", "log_dataset",
                                                   "start_run")},
}

__all__ = ["ActiveSpan", "ClientConfig", "Run", "active_run", "configure", "current",
           "current_span", "flush", "from_env", "log_dataset", "prompts", "span", "start_run",
           "trace"]


def __getattr__(name: str) -> Any:
    if name == "prompts":
        return importlib.import_module("triops.client.prompts")
    module = _HOME.get(name)
    if module is None:
        raise AttributeError(f"module 'triops.client' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
