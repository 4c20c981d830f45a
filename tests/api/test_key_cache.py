"""The API key cache: one lookup per key however many requests miss at once, and a key
in use refreshed before it expires, so a busy key never sends a herd to the store."""

from __future__ import annotations

import asyncio
import time

import httpx

from tests.waiting import wait_until_async
from triops.core.principals import Role
from triops.server import auth
from triops.server.app import create_app
from triops.store.repos import keys


def _counting(monkeypatch, delay: float = 0.05) -> list[str]:
    calls: list[str] = []
    real = auth.key_repo.authenticate

    def authenticate(session, secret):  # type: ignore[no-untyped-def]
        calls.append(secret)
        time.sleep(delay)  # a slow store: every concurrent miss would pile up here
        return real(session, secret)

    monkeypatch.setattr(auth.key_repo, "authenticate", authenticate)
    return calls


async def _get_many(app, secret: str, n: int) -> list[int]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t",
                                 headers={"Authorization": f"Bearer {secret}"}) as client:
        responses = await asyncio.gather(*(client.get("/v1/models") for _ in range(n)))
    return [r.status_code for r in responses]


def test_concurrent_misses_share_one_lookup(runtime, monkeypatch):
    with runtime.db.write() as session:
        secret = keys.create(session, project="default", role=Role.viewer).secret
    calls = _counting(monkeypatch)
    app = create_app(runtime)
    assert asyncio.run(_get_many(app, secret, 20)) == [200] * 20
    assert calls == [secret]
    # An unknown key is looked up once too, and every caller is refused.
    assert asyncio.run(_get_many(app, "tri_unknown_0000", 10)) == [401] * 10
    assert calls == [secret, "tri_unknown_0000"]


def test_key_in_use_is_refreshed_before_it_expires_and_revocation_lands(runtime, monkeypatch):
    with runtime.db.write() as session:
        made = keys.create(session, project="default", role=Role.viewer)
    calls = _counting(monkeypatch, delay=0.0)
    app = create_app(runtime)
    cache: auth.KeyCache = app.state.key_cache

    async def scenario() -> list[int]:
        transport = httpx.ASGITransport(app=app)
        headers = {"Authorization": f"Bearer {made.secret}"}
        async with httpx.AsyncClient(transport=transport, base_url="http://t",
                                     headers=headers) as client:
            statuses = [(await client.get("/v1/models")).status_code]
            # Age the entry into its refresh window, and revoke the key in the store.
            _expires, principal = cache._entries[made.secret]
            cache._entries[made.secret] = (time.monotonic() + 0.5, principal)
            with runtime.db.write() as session:
                keys.revoke(session, made.id)
            # Still inside its lifetime: served from the entry, refreshed behind it.
            statuses.append((await client.get("/v1/models")).status_code)
            await wait_until_async(lambda: not cache._inflight, timeout=1,
                                   message="the refresh behind the entry to finish")
            statuses.append((await client.get("/v1/models")).status_code)
        return statuses

    assert asyncio.run(scenario()) == [200, 200, 401]
    assert calls == [made.secret, made.secret]
