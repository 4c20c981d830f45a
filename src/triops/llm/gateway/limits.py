"""Per-key gateway policy: allowed models, a USD budget per period, RPM and TPM limits.

This module holds the request and token rates; budgets are ``spend``'s. Counters live
in this process by default. With ``redis_url`` set they live in Redis, so several
server replicas enforce one limit together. Windows are fixed calendar minutes, which
keeps every check to one round trip.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from triops.core.errors import PermissionDenied, RateLimited

_MINUTE_TTL_S = 120


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


def duration(seconds: float) -> str:
    """A reset time as OpenAI writes it: ``450ms``, ``12s``, ``6m0s``, ``3h5m0s``."""
    if seconds < 1:
        return f"{max(0, int(seconds * 1000))}ms"
    whole = round(seconds)
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h{minutes}m{secs}s"
    return f"{minutes}m{secs}s" if minutes else f"{secs}s"


@dataclass(frozen=True)
class RateState:
    """A key's request and token allowance in the current minute, as headers report it."""

    rpm: int | None
    requests_left: int
    tpm: int | None
    tokens_left: int
    reset_s: float

    def headers(self) -> dict[str, str]:
        out: dict[str, str] = {}
        if self.rpm is not None:
            out["x-ratelimit-limit-requests"] = str(self.rpm)
            out["x-ratelimit-remaining-requests"] = str(self.requests_left)
            out["x-ratelimit-reset-requests"] = duration(self.reset_s)
        if self.tpm is not None:
            out["x-ratelimit-limit-tokens"] = str(self.tpm)
            out["x-ratelimit-remaining-tokens"] = str(self.tokens_left)
            out["x-ratelimit-reset-tokens"] = duration(self.reset_s)
        return out


def rate_limited(message: str, code: str, headers: dict[str, str],
                 retry_after_s: float | None) -> RateLimited:
    """A 429 that tells the client when to come back (``Retry-After``) and why."""
    error = RateLimited(message, code=code)
    if retry_after_s is not None:
        headers = {**headers, "retry-after": str(max(1, int(retry_after_s + 0.999)))}
    error.headers = headers  # type: ignore[attr-defined]  # rendered with the 429
    return error


class Counters(Protocol):
    async def admit(self, rpm_key: str | None, tpm_key: str | None) -> tuple[int, float]:
        """Count one request under ``rpm_key``; read the tokens used under ``tpm_key``."""
        ...

    async def settle(self, tpm_key: str | None, tokens: int) -> None: ...

    async def close(self) -> None: ...


class MemoryCounters:
    def __init__(self) -> None:
        self._values: dict[str, tuple[float, float]] = {}  # key -> (value, expires)
        self._lock = threading.Lock()

    def _get(self, key: str, now: float) -> float:
        hit = self._values.get(key)
        return 0.0 if hit is None or hit[1] < now else hit[0]

    def _add(self, key: str, amount: float, now: float) -> float:
        value = self._get(key, now) + amount
        expires = self._values.get(key, (0.0, now + _MINUTE_TTL_S))[1]
        self._values[key] = (value, expires if expires >= now else now + _MINUTE_TTL_S)
        if len(self._values) > 100_000:
            self._values = {k: v for k, v in self._values.items() if v[1] >= now}
        return value

    async def admit(self, rpm_key: str | None, tpm_key: str | None) -> tuple[int, float]:
        now = time.monotonic()
        with self._lock:
            count = int(self._add(rpm_key, 1, now)) if rpm_key else 0
            tokens = self._get(tpm_key, now) if tpm_key else 0.0
        return count, tokens

    async def settle(self, tpm_key: str | None, tokens: int) -> None:
        if tpm_key and tokens:
            with self._lock:
                self._add(tpm_key, tokens, time.monotonic())

    async def close(self) -> None:
        return None


class RedisCounters:
    """The same counters in Redis: one pipelined round trip per admit and per settle."""

    def __init__(self, url: str, prefix: str = "triops:gw:") -> None:
        import redis.asyncio as redis

        self._redis = redis.Redis.from_url(url)
        self._prefix = prefix

    async def admit(self, rpm_key: str | None, tpm_key: str | None) -> tuple[int, float]:
        pipe = self._redis.pipeline(transaction=False)
        if rpm_key:
            pipe.incr(self._prefix + rpm_key)
            pipe.expire(self._prefix + rpm_key, _MINUTE_TTL_S)
        if tpm_key:
            pipe.get(self._prefix + tpm_key)
        results = list(await pipe.execute())
        count = int(results.pop(0)) if rpm_key else 0
        if rpm_key:
            results.pop(0)
        tokens = float(results.pop(0) or 0) if tpm_key else 0.0
        return count, tokens

    async def settle(self, tpm_key: str | None, tokens: int) -> None:
        if not (tpm_key and tokens):
            return
        pipe = self._redis.pipeline(transaction=False)
        pipe.incrby(self._prefix + tpm_key, tokens)
        pipe.expire(self._prefix + tpm_key, _MINUTE_TTL_S)
        await pipe.execute()

    async def close(self) -> None:
        await self._redis.aclose()


class Limiter:
    def __init__(self, counters: Counters, clock: Callable[[], float] = time.time) -> None:
        self.counters = counters
        self.clock = clock  # epoch seconds: the windows are calendar minutes

    @staticmethod
    def _keys(policy: KeyPolicy, now_s: float) -> tuple[str | None, str | None]:
        minute = int(now_s // 60)
        return (f"rpm:{policy.key_id}:{minute}" if policy.rpm is not None else None,
                f"tpm:{policy.key_id}:{minute}" if policy.tpm is not None else None)

    async def admit(self, policy: KeyPolicy, model: str) -> RateState | None:
        """Raise before the upstream is called when the key may not make this call now;
        otherwise what is left of the key's minute (None when it has no rate limit)."""
        if policy.allowed_models is not None and model not in policy.allowed_models:
            raise PermissionDenied(f"this key may not use model {model!r}; allowed: "
                                   f"{', '.join(policy.allowed_models) or 'none'}",
                                   code="model_not_allowed")
        if policy.rpm is None and policy.tpm is None:
            return None
        now = self.clock()
        rpm_key, tpm_key = self._keys(policy, now)
        count, tokens = await self.counters.admit(rpm_key, tpm_key)
        reset_s = 60 - now % 60
        state = RateState(rpm=policy.rpm, requests_left=max(0, (policy.rpm or 0) - count),
                          tpm=policy.tpm, tokens_left=max(0, int((policy.tpm or 0) - tokens)),
                          reset_s=reset_s)
        if policy.rpm is not None and count > policy.rpm:
            raise rate_limited(f"rate limit reached: {policy.rpm} requests per minute for "
                               "this key; retry after the minute turns",
                               "rate_limit_exceeded", state.headers(), reset_s)
        if policy.tpm is not None and tokens >= policy.tpm:
            raise rate_limited(f"token limit reached: {policy.tpm} tokens per minute for "
                               "this key; retry after the minute turns",
                               "rate_limit_exceeded", state.headers(), reset_s)
        return state

    async def settle(self, policy: KeyPolicy, tokens: int) -> None:
        if policy.tpm is None:
            return
        await self.counters.settle(self._keys(policy, self.clock())[1], tokens)
