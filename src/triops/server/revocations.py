"""Key revocations announced to every server that shares the store, through Redis.

Each server caches key lookups for a few seconds (``auth.KeyCache``). A key revoked on
one server would otherwise keep working on the others until their entries expired.
With ``redis_url`` set, whoever revokes a key publishes its id on ``CHANNEL`` and every
server drops the key from its cache on receipt. Without Redis, the cache's lifetime
bounds how long a revoked key keeps working elsewhere.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from triops.server.auth import KeyCache

log = logging.getLogger("triops.api")

CHANNEL = "triops:api-key-revoked"
#: Longest wait between attempts to (re)subscribe after Redis went away.
_MAX_RETRY_SECONDS = 30.0


def publish(redis_url: str | None, key_id: str) -> None:
    """Tell every server that ``key_id`` was revoked; a no-op without Redis."""
    if not redis_url:
        return
    import redis

    client = redis.Redis.from_url(redis_url, socket_timeout=2, socket_connect_timeout=2)
    try:
        client.publish(CHANNEL, key_id)
    except (redis.RedisError, OSError) as exc:
        # The store already says revoked; other servers notice when their entry expires.
        log.warning("could not announce the revocation of key %s through Redis: %s", key_id, exc)
    finally:
        client.close()


class RevocationListener:
    """Drops each announced key from ``cache``, resubscribing after a lost connection."""

    def __init__(self, redis_url: str, cache: KeyCache) -> None:
        self.redis_url = redis_url
        self.cache = cache
        #: True while subscribed: announcements from now on reach this server.
        self.subscribed = False

    async def run(self) -> None:
        import redis.asyncio as redis

        delay = 0.5
        while True:
            client = redis.Redis.from_url(self.redis_url)
            try:
                async with client.pubsub() as pubsub:
                    await pubsub.subscribe(CHANNEL)
                    # Anything revoked while this server was not listening is forgotten too.
                    self.cache.clear()
                    self.subscribed = True
                    delay = 0.5
                    async for message in pubsub.listen():
                        if message["type"] == "message":
                            self.cache.forget_key(message["data"].decode())
            except (redis.RedisError, OSError) as exc:
                log.warning("key revocation channel lost (%s); retrying in %.1f s", exc, delay)
            finally:
                self.subscribed = False
                await client.aclose()
            await asyncio.sleep(delay)
            delay = min(delay * 2, _MAX_RETRY_SECONDS)


@asynccontextmanager
async def listening(redis_url: str | None, cache: KeyCache
                    ) -> AsyncIterator[RevocationListener | None]:
    """Listen for revocations while the block runs (the server's lifetime)."""
    if not redis_url:
        yield None
        return
    listener = RevocationListener(redis_url, cache)
    task = asyncio.create_task(listener.run(), name="triops-key-revocations")
    try:
        yield listener
    finally:
        task.cancel()
        with suppress(asyncio.CancelledError):
            await task
