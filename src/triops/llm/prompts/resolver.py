"""Turning a gateway request that names a prompt into an ordinary chat request.

A request may carry ``"prompt": "support-answer@production"`` and ``"variables": {...}``
instead of ``messages``. The prompt is rendered; its model and parameters fill in what
the request leaves out (the request wins). Resolved prompts are cached for a short
time per server so that the gateway's hot path does not read the store on every call;
label moves made through this server clear the cache at once, moves made elsewhere are
seen within ``ttl_s`` — or at once while ``pushed()`` says that every change is announced
to this server (Redis), when entries are kept for ``pushed_ttl_s``.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from triops.core.errors import InvalidInput
from triops.llm.prompts.registry import PromptRef, ResolvedPrompt, resolve
from triops.store.engine import Database

#: Span attributes naming the prompt (OpenInference's prompt-template keys and triops').
ATTR_NAME, ATTR_VERSION, ATTR_LABEL = "triops.prompt.name", "triops.prompt.version", \
    "triops.prompt.label"


class PromptResolver:
    def __init__(self, db: Database, ttl_s: float = 1.0, pushed_ttl_s: float = 60.0,
                 pushed: Callable[[], bool] = lambda: False) -> None:
        self._db = db
        self._ttl_s = ttl_s
        self._pushed_ttl_s = pushed_ttl_s
        self._pushed = pushed
        self._cache: dict[tuple[str, str], tuple[float, ResolvedPrompt]] = {}
        self._lock = threading.Lock()

    def clear(self) -> None:
        with self._lock:
            self._cache.clear()

    def invalidate(self, project: str, name: str) -> None:
        with self._lock:
            for key in [k for k in self._cache if k[0] == project
                        and PromptRef.parse(k[1]).name == name]:
                del self._cache[key]

    def cached(self, project: str, ref: str) -> ResolvedPrompt | None:
        with self._lock:
            hit = self._cache.get((project, ref))
        if hit is None or hit[0] < time.monotonic():
            return None
        return hit[1]

    def resolve(self, project: str, ref: str) -> ResolvedPrompt:
        """Read the prompt from the store (blocking: call it from a worker thread)."""
        with self._db.read() as session:
            found = resolve(session, project, PromptRef.parse(ref))
        with self._lock:
            if len(self._cache) > 10_000:
                self._cache.clear()
            ttl = self._pushed_ttl_s if self._pushed() else self._ttl_s
            self._cache[(project, ref)] = (time.monotonic() + ttl, found)
        return found


def prompt_request(body: Any) -> str | None:
    """The prompt reference a chat request names, or None for an ordinary request.

    ``messages`` may be left out or empty: the stock ``openai`` client insists on sending
    the field, so ``messages=[]`` plus ``extra_body={"prompt": ...}`` is how it names one.
    """
    if isinstance(body, dict) and "prompt" in body and not body.get("messages"):
        ref = body["prompt"]
        if not isinstance(ref, str):
            raise InvalidInput("'prompt' must be a string such as 'support-answer@production'")
        return ref
    return None


def render_request(body: dict[str, Any], found: ResolvedPrompt
                   ) -> tuple[dict[str, Any], dict[str, Any]]:
    """The chat body to send, and the span attributes that name the prompt."""
    variables = body.get("variables", {})
    if not isinstance(variables, dict):
        raise InvalidInput("'variables' must be an object of name to value")
    messages = found.template.messages(**variables)
    rendered: dict[str, Any] = {**found.params}
    rendered.update({k: v for k, v in body.items() if k not in ("prompt", "variables")})
    rendered["messages"] = messages
    rendered["model"] = body.get("model") or found.model
    if not rendered["model"]:
        raise InvalidInput(f"prompt {found.name} v{found.version} names no model; pass 'model'")
    attributes = {
        ATTR_NAME: found.name, ATTR_VERSION: found.version,
        "llm.prompt_template.template": found.template.stored(),
        "llm.prompt_template.variables": variables,
        "llm.prompt_template.version": str(found.version),
    }
    if found.label:
        attributes[ATTR_LABEL] = found.label
    return rendered, attributes
