"""Changes announced to every server that shares the store, through Redis pub/sub.

Each server keeps a few things in memory so that its hot paths do not read the store:
key lookups (``auth.KeyCache``), resolved prompts (``PromptResolver``), the gateway's
routes and key policies, and the guardrail rules. A change made through one server is
applied there at once; the others would only notice when their copy expires or their
periodic version check comes round (see ``docs/deploy.md`` for how long each takes).

With ``redis_url`` set, whoever makes a change publishes one message on ``CHANNEL``
naming a *topic* and its arguments, and every server applies the handler registered for
that topic on receipt. Without Redis, ``publish`` does nothing and the expiry bounds
remain. A server that loses the channel forgets everything it cached once it is
subscribed again, since announcements made meanwhile are lost.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager, suppress

import orjson

log = logging.getLogger("triops.api")

CHANNEL = "triops:invalidate"
#: Topics: an API key revoked (its id), a prompt's versions or labels changed (project,
#: name), the gateway's stored configuration changed, the stored guardrail rules changed.
API_KEY, PROMPT, GATEWAY, GUARDRAILS = "api-key", "prompt", "gateway", "guardrails"
#: Longest wait between attempts to (re)subscribe after Redis went away.
_MAX_RETRY_SECONDS = 30.0

Handler = Callable[..., Awaitable[None] | None]


def publish(redis_url: str | None, topic: str, *args: str, origin: str | None = None) -> None:
    """Tell every server about a change; a no-op without Redis.

    ``origin`` names the sender, which has applied the change itself and skips its own
    announcement."""
    if not redis_url:
        return
    import redis

    client = redis.Redis.from_url(redis_url, socket_timeout=2, socket_connect_timeout=2)
    try:
        client.publish(CHANNEL, orjson.dumps({"topic": topic, "args": args, "origin": origin}))
    except (redis.RedisError, OSError) as exc:
        # The store already holds the change; other servers notice when their copy expires.
        log.warning("could not announce the %s change %s through Redis: %s", topic,
                    " ".join(args), exc)
    finally:
        client.close()


class Listener:
    """Applies each announced change through ``handlers[topic](*args)``, resubscribing
    after a lost connection and calling ``resync`` once subscribed again."""

    def __init__(self, redis_url: str, handlers: Mapping[str, Handler],
                 resync: Callable[[], Awaitable[None] | None], origin: str | None = None
                 ) -> None:
        self.redis_url = redis_url
        self.handlers = handlers
        self.resync = resync
        self.origin = origin
        #: True while subscribed: announcements from now on reach this server.
        self.subscribed = False

    async def _apply(self, data: bytes) -> None:
        try:
            message = orjson.loads(data)
            if message.get("origin") is not None and message["origin"] == self.origin:
                return
            handler = self.handlers.get(message["topic"])
            if handler is None:
                return  # a topic a newer replica knows; nothing of ours to drop
            done = handler(*message["args"])
            if inspect.isawaitable(done):
                await done
        except Exception:
            # One bad or failing message must not end the subscription.
            log.exception("could not apply the announced change %r", data[:200])

    async def run(self) -> None:
        import redis.asyncio as redis

        delay = 0.5
        while True:
            client = redis.Redis.from_url(self.redis_url)
            try:
                async with client.pubsub() as pubsub:
                    await pubsub.subscribe(CHANNEL)
                    # Anything changed while this server was not listening is dropped too.
                    done = self.resync()
                    if inspect.isawaitable(done):
                        await done
                    self.subscribed = True
                    delay = 0.5
                    async for message in pubsub.listen():
                        if message["type"] == "message":
                            await self._apply(message["data"])
            except (redis.RedisError, OSError) as exc:
                log.warning("invalidation channel lost (%s); retrying in %.1f s", exc, delay)
            finally:
                self.subscribed = False
                await client.aclose()
            await asyncio.sleep(delay)
            delay = min(delay * 2, _MAX_RETRY_SECONDS)


@asynccontextmanager
async def listening(redis_url: str | None, handlers: Mapping[str, Handler],
                    resync: Callable[[], Awaitable[None] | None], origin: str | None = None
                    ) -> AsyncIterator[Listener | None]:
    """Listen for announced changes while the block runs (the server's lifetime)."""
    if not redis_url:
        yield None
        return
    listener = Listener(redis_url, handlers, resync, origin)
    task = asyncio.create_task(listener.run(), name="triops-invalidation")
    try:
        yield listener
    finally:
        task.cancel()
        with suppress(asyncio.CancelledError):
            await task
