"""``triops demo``: three closed loops played against a running triops server.

Each loop sets up what it needs through the server's public APIs, provokes a fault, and
follows the real chain — signal, incident, probable causes, runbook (approval, action,
verification) — to its end, returning a :class:`LoopResult` that says whether it closed.
"""

from collections.abc import Callable

from triops.demo import _infra, _llm, _ml
from triops.demo._context import DemoContext, LoopFailed, LoopResult

#: The loops in the order they play, by name.
LOOPS: dict[str, Callable[[DemoContext], LoopResult]] = {
    _ml.NAME: _ml.play, _llm.NAME: _llm.play, _infra.NAME: _infra.play,
}
#: Gateway settings the demo server needs for the LLM loop to play in seconds.
GATEWAY_SETTINGS = _llm.GATEWAY

__all__ = ["GATEWAY_SETTINGS", "LOOPS", "DemoContext", "LoopFailed", "LoopResult"]
