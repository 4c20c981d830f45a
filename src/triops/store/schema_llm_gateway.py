"""Gateway tables: upstreams and routes stored through the API, and per-key policies."""

from __future__ import annotations

from typing import Any

from sqlalchemy import BigInteger, Boolean, Float, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from triops.store.schema import Base


class GatewayUpstream(Base):
    __tablename__ = "llm_gateway_upstreams"

    name: Mapped[str] = mapped_column(String(128), primary_key=True)
    provider: Mapped[str] = mapped_column(String(64))
    base_url: Mapped[str] = mapped_column(Text)
    # Held server-side for calling the upstream; the API never returns it.
    secret: Mapped[str | None] = mapped_column(Text, nullable=True)
    timeout_s: Mapped[float | None] = mapped_column(Float, nullable=True)
    headers: Mapped[dict[str, Any]] = mapped_column(default=dict)
    updated_ms: Mapped[int] = mapped_column(BigInteger)


class GatewayRoute(Base):
    __tablename__ = "llm_gateway_routes"

    alias: Mapped[str] = mapped_column(String(256), primary_key=True)
    # {"deployments": [{"upstream", "model", "weight"}], "fallbacks": [alias, ...]}
    spec: Mapped[dict[str, Any]] = mapped_column()
    updated_ms: Mapped[int] = mapped_column(BigInteger)


class GatewayKeyPolicy(Base):
    __tablename__ = "llm_gateway_key_policies"

    key_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    # {"models": [...]} or {"models": null} for every served model
    allowed: Mapped[dict[str, Any]] = mapped_column(default=dict)
    budget_usd: Mapped[float | None] = mapped_column(Float, nullable=True)
    budget_period: Mapped[str] = mapped_column(String(16))
    rpm: Mapped[int | None] = mapped_column(Integer, nullable=True)
    tpm: Mapped[int | None] = mapped_column(Integer, nullable=True)
    cache: Mapped[bool] = mapped_column(Boolean)
    updated_ms: Mapped[int] = mapped_column(BigInteger)
