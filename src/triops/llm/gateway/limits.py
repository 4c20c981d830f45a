"""Per-key gateway policy: allowed models, a USD budget per period, RPM and TPM limits.

Counters live in this process by default. With ``redis_url`` set they live in Redis,
so several server replicas enforce one limit together. Windows are fixed calendar
minutes (RPM/TPM) and days/months (budgets), which keeps every check to one round trip.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Protocol

from triops.core.errors import PermissionDenied, RateLimited

_MINUTE_TTL_S = 120
_PERIOD_TTL_S = {"day": 2 * 86_400, "month": 32 * 86_400, "total": None}


@dataclass(frozen=True)
class KeyPolicy:
    key_id: str
    allowed_models: tuple[str, ...] | None = None  # None: every served model
    budget_usd: float | None = None
    budget_period: str = "month"
    rpm: int | None = None
    tpm: int | None = None
    cache: bool = True

    @property
    def limited(self) -> bool:
        return any(v is not None for v in (self.budget_usd, self.rpm, self.tpm))


class Counters(Protocol):
    async def admit(self, rpm_key: str | None, tpm_key: str | None, spend_key: str | None
                    ) -> tuple[int, float, float]:
        """Count one request under ``rpm_key``; read tokens and spend so far."""
        ...

    async def settle(self, tpm_key: str | None, tokens: int, spend_key: str | None,
                     cost: float, spend_ttl_s: int | None) -> None:
        ...

    async def close(self) -> None: ...


class MemoryCounters:
    def __init__(self) -> None:
        self._values: dict[str, tuple[float, float]] = {}  # key -> (value, expires)
        self._lock = threading.Lock()

    def _get(self, key: str, now: float) -> float:
        hit = self._values.get(key)
        return 0.0 if hit is None or hit[1] < now else hit[0]

    def _add(self, key: str, amount: float, ttl_s: float | None, now: float) -> float:
        value = self._get(key, now) + amount
        expires = self._values.get(key, (0.0, now + (ttl_s or 1e12)))[1]
        self._values[key] = (value, expires if expires >= now else now + (ttl_s or 1e12))
        if len(self._values) > 100_000:
            self._values = {k: v for k, v in self._values.items() if v[1] >= now}
        return value

    async def admit(self, rpm_key: str | None, tpm_key: str | None, spend_key: str | None
                    ) -> tuple[int, float, float]:
        now = time.monotonic()
        with self._lock:
            count = int(self._add(rpm_key, 1, _MINUTE_TTL_S, now)) if rpm_key else 0
            tokens = self._get(tpm_key, now) if tpm_key else 0.0
            spent = self._get(spend_key, now) if spend_key else 0.0
        return count, tokens, spent

    async def settle(self, tpm_key: str | None, tokens: int, spend_key: str | None,
                     cost: float, spend_ttl_s: int | None) -> None:
        now = time.monotonic()
        with self._lock:
            if tpm_key and tokens:
                self._add(tpm_key, tokens, _MINUTE_TTL_S, now)
            if spend_key and cost:
                self._add(spend_key, cost, spend_ttl_s, now)

    async def close(self) -> None:
        return None


class RedisCounters:
    """The same counters in Redis: one pipelined round trip per admit and per settle."""

    def __init__(self, url: str, prefix: str = "triops:gw:") -> None:
        import redis.asyncio as redis

        self._redis = redis.Redis.from_url(url)
        self._prefix = prefix

    async def admit(self, rpm_key: str | None, tpm_key: str | None, spend_key: str | None
                    ) -> tuple[int, float, float]:
        pipe = self._redis.pipeline(transaction=False)
        if rpm_key:
            pipe.incr(self._prefix + rpm_key)
            pipe.expire(self._prefix + rpm_key, _MINUTE_TTL_S)
        if tpm_key:
            pipe.get(self._prefix + tpm_key)
        if spend_key:
            pipe.get(self._prefix + spend_key)
        results = list(await pipe.execute())
        count = int(results.pop(0)) if rpm_key else 0
        if rpm_key:
            results.pop(0)
        tokens = float(results.pop(0) or 0) if tpm_key else 0.0
        spent = float(results.pop(0) or 0) if spend_key else 0.0
        return count, tokens, spent

    async def settle(self, tpm_key: str | None, tokens: int, spend_key: str | None,
                     cost: float, spend_ttl_s: int | None) -> None:
        pipe = self._redis.pipeline(transaction=False)
        if tpm_key and tokens:
            pipe.incrby(self._prefix + tpm_key, tokens)
            pipe.expire(self._prefix + tpm_key, _MINUTE_TTL_S)
        if spend_key and cost:
            pipe.incrbyfloat(self._prefix + spend_key, cost)
            if spend_ttl_s:
                pipe.expire(self._prefix + spend_key, spend_ttl_s)
        if len(pipe):
            await pipe.execute()

    async def close(self) -> None:
        await self._redis.aclose()


def period_bucket(period: str, now_s: float) -> str:
    if period == "day":
        return time.strftime("%Y%m%d", time.gmtime(now_s))
    if period == "month":
        return time.strftime("%Y%m", time.gmtime(now_s))
    return "all"


class Limiter:
    def __init__(self, counters: Counters) -> None:
        self.counters = counters

    @staticmethod
    def _keys(policy: KeyPolicy, now_s: float) -> tuple[str | None, str | None, str | None]:
        minute = int(now_s // 60)
        return (
            f"rpm:{policy.key_id}:{minute}" if policy.rpm is not None else None,
            f"tpm:{policy.key_id}:{minute}" if policy.tpm is not None else None,
            f"usd:{policy.key_id}:{period_bucket(policy.budget_period, now_s)}"
            if policy.budget_usd is not None else None,
        )

    async def admit(self, policy: KeyPolicy, model: str) -> None:
        """Raise before the upstream is called when the key may not make this call now."""
        if policy.allowed_models is not None and model not in policy.allowed_models:
            raise PermissionDenied(f"this key may not use model {model!r}; allowed: "
                                   f"{', '.join(policy.allowed_models) or 'none'}",
                                   code="model_not_allowed")
        if not policy.limited:
            return
        rpm_key, tpm_key, spend_key = self._keys(policy, time.time())
        count, tokens, spent = await self.counters.admit(rpm_key, tpm_key, spend_key)
        if policy.rpm is not None and count > policy.rpm:
            raise RateLimited(f"rate limit reached: {policy.rpm} requests per minute for "
                              "this key; retry after the minute turns",
                              code="rate_limit_exceeded")
        if policy.tpm is not None and tokens >= policy.tpm:
            raise RateLimited(f"token limit reached: {policy.tpm} tokens per minute for this "
                              "key; retry after the minute turns", code="rate_limit_exceeded")
        if policy.budget_usd is not None and spent >= policy.budget_usd:
            raise RateLimited(f"budget exhausted: ${spent:.4f} of ${policy.budget_usd:.4f} "
                              f"spent this {policy.budget_period}", code="insufficient_quota")

    async def settle(self, policy: KeyPolicy, tokens: int, cost: float) -> None:
        if not policy.limited:
            return
        _, tpm_key, spend_key = self._keys(policy, time.time())
        await self.counters.settle(tpm_key, tokens, spend_key, cost,
                                   _PERIOD_TTL_S.get(policy.budget_period))
