"""The triops Python SDK.

>>> import triops.client as tc
>>> cfg = tc.configure("http://127.0.0.1:7600", api_key="tri_example")
>>> @tc.trace(kind="tool")
... def lookup(city):
...     return "sunny"
"""

from triops.client._config import ClientConfig, configure, current, from_env
from triops.client.tracing import ActiveSpan, current_span, flush, span, trace
from triops.client.tracking import Run, active_run, log_dataset, start_run

__all__ = ["ActiveSpan", "ClientConfig", "Run", "active_run", "configure", "current",
           "current_span", "flush", "from_env", "log_dataset", "prompts", "span", "start_run",
           "trace"]


def __getattr__(name: str) -> object:
    # ``triops.client.prompts`` (the prompt registry SDK) loads on first use: it brings
    # Jinja2, which applications that only trace should not pay for.
    if name == "prompts":
        import importlib

        return importlib.import_module("triops.client.prompts")
    raise AttributeError(f"module 'triops.client' has no attribute {name!r}")
