"""The gateway as model-calling scorers see it inside the server.

Offline, the eval runner hands judge and embedding scorers a client that calls the
server's ``/v1/chat/completions`` over HTTP; inside the server (online evaluation) the
same ``LLMClient`` interface calls the server's own ``Gateway`` directly. So a judge's
call is routed, metered, guarded and traced like any other call (under the key id
``online-evals``), and its span carries the attributes it was made with, which is how
online evaluation knows not to sample the judge's own traces.

The gateway's HTTP client belongs to the server's event loop, and scorers run in the
online evaluation thread: every call is handed to that loop and waited for.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from triops.core.errors import UpstreamError
from triops.llm.gateway.gateway import Caller, Gateway
from triops.llm.prompts.registry import ResolvedPrompt
from triops.llm.prompts.resolver import PromptResolver

KEY_ID = "online-evals"


class InProcessClient:
    """An ``LLMClient`` for one project over the server's own gateway."""

    def __init__(self, gateway: Callable[[], Gateway], resolver: Callable[[], PromptResolver],
                 loop: asyncio.AbstractEventLoop, project: str,
                 attributes: dict[str, Any], timeout_s: float = 60.0) -> None:
        self._gateway = gateway
        self._resolver = resolver
        self._loop = loop
        self._caller = Caller(project=project, key_id=KEY_ID, cache=False)
        self._attributes = attributes
        self._timeout_s = timeout_s

    def _wait(self, call: Any) -> Any:
        future = asyncio.run_coroutine_threadsafe(call, self._loop)
        try:
            return future.result(self._timeout_s)
        except TimeoutError:
            future.cancel()
            raise UpstreamError(f"the gateway did not answer within {self._timeout_s:.0f} s"
                                ) from None

    def chat(self, body: dict[str, Any]) -> dict[str, Any]:
        async def call() -> dict[str, Any]:
            _, reply = await self._gateway().chat(self._caller, {**body, "stream": False},
                                                  dict(self._attributes))
            assert isinstance(reply, dict)  # not streamed
            return reply

        return self._wait(call())

    def embed(self, model: str, texts: list[str]) -> list[list[float]]:
        embed = self._gateway().embedder(self._caller.project, KEY_ID, model)
        return self._wait(embed(texts))

    def prompt(self, ref: str) -> ResolvedPrompt:
        return self._resolver().resolve(self._caller.project, ref)


def in_process_clients(gateway: Callable[[], Gateway], resolver: Callable[[], PromptResolver]
                       ) -> Callable[[str, dict[str, Any]], InProcessClient] | None:
    """A maker of clients ``(project, span attributes) -> client`` bound to the running
    event loop; None when called outside one (a runtime used without its server)."""
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        return None
    return lambda project, attributes: InProcessClient(gateway, resolver, loop, project,
                                                       attributes)
