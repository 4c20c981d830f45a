"""The ``[gateway]`` section of ``triops.toml``: upstreams, model routes, prices, cache.

Parsed once with the rest of the settings; the gateway merges these with the upstreams
and routes stored through ``/api/v1/gateway/...`` (stored ones win by name).

Example::

    [[gateway.upstreams]]
    name = "openai"
    base_url = "https://api.openai.com/v1"
    api_key = "sk-..."

    [[gateway.routes]]
    alias = "chat"
    deployments = [{ upstream = "openai", model = "gpt-4o-mini", weight = 3 }]
    fallbacks = ["chat-backup"]

    [gateway.prices."gpt-4o-mini"]
    input = 0.15     # USD per 1M input tokens
    output = 0.60    # USD per 1M output tokens
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field, SecretStr

from triops.core.guardrail_settings import GuardrailSettings


class UpstreamConfig(BaseModel):
    name: str = Field(..., min_length=1, max_length=128, pattern=r"^[A-Za-z0-9_.:-]+$")
    provider: str = Field("openai", description="a registered provider: openai, anthropic")
    base_url: str = Field(..., description="e.g. https://api.openai.com/v1")
    api_key: SecretStr | None = Field(None, description="held server-side, never returned")
    timeout_s: float | None = Field(None, gt=0, description="overrides gateway.timeout_s")
    headers: dict[str, str] = Field(default_factory=dict)


class DeploymentConfig(BaseModel):
    upstream: str
    model: str = Field(..., min_length=1)
    weight: float = Field(1.0, gt=0)


class RouteConfig(BaseModel):
    alias: str = Field(..., min_length=1, max_length=256)
    deployments: list[DeploymentConfig] = Field(..., min_length=1)
    fallbacks: list[str] = Field(default_factory=list, description="aliases tried in order")


class PriceConfig(BaseModel):
    input: float = Field(0.0, ge=0, description="USD per 1M input tokens")
    output: float = Field(0.0, ge=0, description="USD per 1M output tokens")


class CacheConfig(BaseModel):
    enabled: bool = True
    ttl_s: float = Field(300.0, gt=0)
    max_entries: int = Field(10_000, gt=0)
    semantic: bool = Field(False, description="also answer near-duplicate prompts")
    semantic_threshold: float = Field(0.95, gt=0, le=1)
    embedding_model: str | None = Field(None, description="alias used to embed prompts")


class SignalConfig(BaseModel):
    window_s: float = Field(60.0, gt=0)
    min_calls: int = Field(10, gt=0)
    error_rate: float = Field(0.2, gt=0, le=1)
    latency_factor: float = Field(3.0, gt=1, description="p95 over running baseline")
    cost_factor: float = Field(5.0, gt=1, description="window cost over running baseline")


class GatewaySettings(BaseModel):
    upstreams: list[UpstreamConfig] = Field(default_factory=list)
    routes: list[RouteConfig] = Field(default_factory=list)
    prices: dict[str, PriceConfig] = Field(default_factory=dict)
    timeout_s: float = Field(60.0, gt=0, description="per upstream attempt")
    retries: int = Field(1, ge=0, le=10, description="extra attempts on one deployment")
    backoff_s: float = Field(0.05, ge=0)
    max_backoff_s: float = Field(2.0, ge=0)
    breaker_failures: int = Field(5, gt=0, description="consecutive failures that open it")
    breaker_cooldown_s: float = Field(30.0, gt=0)
    refresh_s: float = Field(5.0, gt=0, description="how often stored config is re-read")
    budget_period: Literal["day", "month", "total"] = "month"
    reserve_max_tokens: int = Field(
        1024, ge=0, description="output tokens a budget reservation assumes when a request "
        "sets no max_tokens")
    reserve_ttl_s: float = Field(
        600.0, gt=0, description="a reservation no call settled is dropped after this long")
    redis_prefix: str = Field("triops:gw:", description="names of the gateway's Redis keys "
                              "start with it (one Redis may serve several installations)")
    cache: CacheConfig = Field(default_factory=CacheConfig)
    signals: SignalConfig = Field(default_factory=SignalConfig)
    guardrails: GuardrailSettings = Field(default_factory=GuardrailSettings)
