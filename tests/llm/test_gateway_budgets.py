"""Budgets and rate limits that hold: the spend ledger, reservations under concurrency,
restarts, 429 headers and the spend API, each in memory and through Redis.

Upstreams are real HTTP servers on free ports; ``slow-<ms>`` models answer late, so many
calls are in flight at once.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path

import httpx
import pytest
from tests.conftest import ADMIN_SECRET, admin_runtime, free_port

from triops.core.gateway_settings import (
    DeploymentConfig,
    GatewaySettings,
    PriceConfig,
    RouteConfig,
    UpstreamConfig,
)
from triops.core.principals import Role
from triops.core.settings import Settings
from triops.llm.gateway.spend import Hold, MemoryTotals, RedisTotals
from triops.server.app import create_app
from triops.server.runtime import Runtime
from triops.store.repos import keys

REDIS = "redis://127.0.0.1:6379/0"
PRICE = PriceConfig(input=1000.0, output=1000.0)  # USD per 1M tokens: a cent a call
BODY = {"model": "priced", "max_tokens": 20, "messages": [{"role": "user", "content": "go"}]}
#: What the local upstream reports for BODY: 10 prompt + 3 completion tokens.
CALL_USD = 13 * 1000.0 / 1e6


@pytest.fixture(scope="module")
def upstream() -> Iterator[str]:
    from triops.llm.gateway.local_upstream import Served
    from triops.llm.gateway.local_upstream import create_app as upstream_app

    served = Served(upstream_app("local"), free_port()).start()
    yield served.url
    served.stop()


@pytest.fixture(params=["memory", "redis"])
def redis_url(request) -> str | None:
    return REDIS if request.param == "redis" else None


def make_settings(store_url: str, home: Path, upstream: str, redis_url: str | None,
                  prefix: str | None = None) -> Settings:
    def route(alias: str, model: str) -> RouteConfig:
        return RouteConfig(alias=alias, deployments=[DeploymentConfig(upstream="local",
                                                                      model=model)])

    gateway = GatewaySettings(
        upstreams=[UpstreamConfig(name="local", base_url=upstream + "/v1")],
        routes=[route("priced", "slow-300"), route("broken", "fail-500"),
                route("free", "gpt-4o-mini")],
        prices={"slow-300": PRICE, "fail-500": PRICE}, retries=0,
        redis_prefix=prefix or f"triops:test:{uuid.uuid4().hex}:")
    return Settings(store=store_url, artifacts=str(home / "artifacts"), home=home,
                    redis_url=redis_url, gateway=gateway)


def new_key(rt: Runtime, project: str = "default", role: Role = Role.editor
            ) -> tuple[str, str]:
    with rt.db.write() as session:
        created = keys.create(session, project=project, role=role)
    return created.id, created.secret


def bearer(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}", "x-triops-cache": "no"}


def run_against(rt: Runtime, scenario: Callable[[httpx.AsyncClient], Awaitable[None]]
                ) -> None:
    """Runs ``scenario`` with a client of ``rt``'s app, then closes the client and ``rt``."""
    async def main() -> None:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=create_app(rt)),
                                     base_url="http://triops", timeout=30) as client:
            await scenario(client)
        await rt.gateway.client.close()
        rt.close()

    asyncio.run(main())


async def set_policy(client: httpx.AsyncClient, key_id: str, **policy: object) -> None:
    put = await client.put(f"/api/v1/gateway/keys/{key_id}/policy", json=policy,
                           headers=bearer(ADMIN_SECRET))
    assert put.status_code == 200, put.text


async def spent(client: httpx.AsyncClient, key_id: str, window: str = "day") -> float:
    got = await client.get("/api/v1/gateway/spend", params={"window": window,
                                                            "key_id": key_id},
                           headers=bearer(ADMIN_SECRET))
    assert got.status_code == 200, got.text
    return sum(k["cost_usd"] for k in got.json()["keys"])


def test_concurrent_calls_do_not_overshoot_the_budget(store_url, tmp_path, upstream,
                                                      redis_url):
    rt = admin_runtime(make_settings(store_url, tmp_path, upstream, redis_url))
    key_id, secret = new_key(rt)
    budget = 5 * CALL_USD

    async def scenario(client: httpx.AsyncClient) -> None:
        await set_policy(client, key_id, budget_usd=budget, budget_period="day")
        statuses: list[int] = []
        for _wave in range(4):  # later waves find the budget spent, not just held
            replies = await asyncio.gather(*(
                client.post("/v1/chat/completions", json=BODY, headers=bearer(secret))
                for _ in range(25)))
            statuses += [r.status_code for r in replies]
            refused = [r for r in replies if r.status_code == 429]
            assert all(r.json()["error"]["code"] == "insufficient_quota" for r in refused)
            assert all(int(r.headers["retry-after"]) >= 1 for r in refused)
        total = await spent(client, key_id)
        assert statuses.count(200) >= 2
        assert total == pytest.approx(statuses.count(200) * CALL_USD)
        assert total <= budget + CALL_USD + 1e-12

    run_against(rt, scenario)


def test_spend_before_the_budget_counts_and_survives_a_restart(store_url, tmp_path,
                                                               upstream, redis_url):
    first = admin_runtime(make_settings(store_url, tmp_path, upstream, redis_url))
    key_id, secret = new_key(first)

    async def before_restart(client: httpx.AsyncClient) -> None:
        for _ in range(3):  # no budget yet: every call is still on the ledger
            ok = await client.post("/v1/chat/completions", json=BODY, headers=bearer(secret))
            assert ok.status_code == 200, ok.text
        streamed = await client.post("/v1/chat/completions", headers=bearer(secret),
                                     json={**BODY, "stream": True,
                                           "stream_options": {"include_usage": True}})
        assert streamed.status_code == 200 and "[DONE]" in streamed.text
        await set_policy(client, key_id, budget_usd=3.5 * CALL_USD, budget_period="month")
        over = await client.post("/v1/chat/completions", json=BODY, headers=bearer(secret))
        assert over.status_code == 429, over.text
        assert over.json()["error"]["type"] == "insufficient_quota"

    run_against(first, before_restart)
    # A new process on the same store; with Redis, one that holds no totals yet, so the
    # ledger is what the budget is checked against.
    second = Runtime.build(make_settings(store_url, tmp_path, upstream, redis_url))

    async def after_restart(client: httpx.AsyncClient) -> None:
        assert await spent(client, key_id, "month") == pytest.approx(4 * CALL_USD)
        again = await client.post("/v1/chat/completions", json=BODY, headers=bearer(secret))
        assert again.status_code == 429, again.text
        assert "budget exhausted" in again.json()["error"]["message"]
        assert int(again.headers["retry-after"]) > 0
        await set_policy(client, key_id, budget_usd=10 * CALL_USD, budget_period="month")
        raised = await client.post("/v1/chat/completions", json=BODY, headers=bearer(secret))
        assert raised.status_code == 200
        assert float(raised.headers["x-triops-budget-limit-usd"]) == pytest.approx(
            10 * CALL_USD)
        assert float(raised.headers["x-triops-budget-remaining-usd"]) == pytest.approx(
            6 * CALL_USD)

    run_against(second, after_restart)


def test_a_failed_call_gives_its_reservation_back(store_url, tmp_path, upstream, redis_url):
    rt = admin_runtime(make_settings(store_url, tmp_path, upstream, redis_url))
    key_id, secret = new_key(rt)

    async def scenario(client: httpx.AsyncClient) -> None:
        # One call's reservation alone fills this budget: a leaked one would refuse the next.
        await set_policy(client, key_id, budget_usd=CALL_USD / 2, budget_period="day")
        for _ in range(3):
            failed = await client.post("/v1/chat/completions", headers=bearer(secret),
                                       json={**BODY, "model": "broken"})
            assert failed.status_code == 502, failed.text
        ok = await client.post("/v1/chat/completions", json=BODY, headers=bearer(secret))
        assert ok.status_code == 200, ok.text
        assert await spent(client, key_id) == pytest.approx(CALL_USD)

    run_against(rt, scenario)


def test_rate_limit_headers_on_success_and_on_429(store_url, tmp_path, upstream, redis_url):
    rt = admin_runtime(make_settings(store_url, tmp_path, upstream, redis_url))
    key_id, secret = new_key(rt)
    body = {**BODY, "model": "free"}

    async def scenario(client: httpx.AsyncClient) -> None:
        await set_policy(client, key_id, rpm=2, tpm=100_000)
        first = await client.post("/v1/chat/completions", json=body, headers=bearer(secret))
        assert first.status_code == 200
        assert first.headers["x-ratelimit-limit-requests"] == "2"
        assert first.headers["x-ratelimit-remaining-requests"] == "1"
        assert first.headers["x-ratelimit-reset-requests"].endswith("s")
        assert first.headers["x-ratelimit-limit-tokens"] == "100000"
        assert "retry-after" not in first.headers
        await client.post("/v1/chat/completions", json=body, headers=bearer(secret))
        third = await client.post("/v1/chat/completions", json=body, headers=bearer(secret))
        assert third.status_code == 429
        assert third.json()["error"]["code"] == "rate_limit_exceeded"
        assert 1 <= int(third.headers["retry-after"]) <= 60
        assert third.headers["x-ratelimit-remaining-requests"] == "0"
        embedded = await client.post("/v1/embeddings", headers=bearer(secret),
                                     json={"model": "free", "input": "x"})
        assert embedded.status_code == 429 and "retry-after" in embedded.headers

    run_against(rt, scenario)


@pytest.mark.parametrize("kind", ["memory", "redis"])
def test_reservations_expire_and_settling_swaps_them_for_the_cost(kind):
    async def scenario() -> None:
        totals = (MemoryTotals(refresh_s=60) if kind == "memory"
                  else RedisTotals(REDIS, f"triops:test:{uuid.uuid4().hex}:"))
        seeds: list[int] = []

        async def seed(cut_ms: int) -> float:
            seeds.append(cut_ms)
            return 0.5

        try:
            held = await totals.reserve("k:day:1", 1.0, 0.4, 0.3, None, seed)
            assert held.admitted and held.spent == pytest.approx(0.5) and held.held == 0
            full = await totals.reserve("k:day:1", 1.0, 0.4, 0.3, None, seed)
            assert full.admitted  # 0.5 + 0.4 is still under 1.0
            refused = await totals.reserve("k:day:1", 1.0, 0.4, 0.3, None, seed)
            assert not refused.admitted and refused.held == pytest.approx(0.8)
            await asyncio.sleep(0.4)  # both reservations expire unsettled
            again = await totals.reserve("k:day:1", 1.0, 0.4, 30, None, seed)
            assert again.admitted and again.held == 0
            assert isinstance(again.hold, Hold)
            await totals.settle(["k:day:1", "k:month:1"], 0.5, again.hold)
            last = await totals.reserve("k:day:1", 1.0, 0.01, 30, None, seed)
            assert not last.admitted
            assert last.spent == pytest.approx(1.0) and last.held == 0
            assert len(seeds) == 1  # the ledger is read once; the total is kept after
        finally:
            await totals.close()

    asyncio.run(scenario())


def test_spend_api_is_scoped_to_the_project_and_the_key(store_url, tmp_path, upstream):
    rt = admin_runtime(make_settings(store_url, tmp_path, upstream, None))
    a_id, a_secret = new_key(rt)
    b_id, b_secret = new_key(rt)
    _, admin_secret = new_key(rt, role=Role.admin)
    _, other_admin = new_key(rt, project="other", role=Role.admin)

    async def scenario(client: httpx.AsyncClient) -> None:
        for secret, calls in ((a_secret, 2), (b_secret, 1)):
            for _ in range(calls):
                ok = await client.post("/v1/chat/completions", json=BODY,
                                       headers=bearer(secret))
                assert ok.status_code == 200

        async def read(secret: str, **params: str) -> httpx.Response:
            return await client.get("/api/v1/gateway/spend", params=params,
                                    headers=bearer(secret))

        admin = (await read(admin_secret, window="1h")).json()
        assert {k["key_id"]: k["calls"] for k in admin["keys"]} == {a_id: 2, b_id: 1}
        assert admin["total"]["cost_usd"] == pytest.approx(3 * CALL_USD)
        assert admin["total"]["prompt_tokens"] == 30
        own = (await read(a_secret)).json()
        assert [k["key_id"] for k in own["keys"]] == [a_id]
        assert own["total"]["calls"] == 3
        assert (await read(a_secret, key_id=b_id)).status_code == 403
        other = (await read(other_admin, window="total")).json()
        assert other["project"] == "other" and other["keys"] == []
        assert other["total"]["calls"] == 0
        assert (await read(other_admin, key_id=a_id)).json()["keys"] == []
        bad = await read(admin_secret, window="fortnight")
        assert bad.status_code == 400 and "window" in bad.json()["message"]
        assert (await read(admin_secret, window="0m")).json()["total"]["calls"] == 0

    run_against(rt, scenario)
