"""Gateway tables: upstreams and routes stored through the API, per-key policies and
the spend ledger."""

from __future__ import annotations

from typing import Any

from sqlalchemy import BigInteger, Boolean, Float, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from triops.store.schema import Base, BigId


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


class GatewaySpend(Base):
    """One row per settled gateway call: the ledger budgets are enforced against.

    Per call rather than per key and window: a window of any length can be summed, and
    each row says which route and model the money went to."""

    __tablename__ = "llm_gateway_spend"
    __table_args__ = (
        Index("ix_llm_gateway_spend_key_time", "key_id", "created_ms"),
        Index("ix_llm_gateway_spend_project_time", "project", "created_ms"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    key_id: Mapped[str] = mapped_column(String(64))
    project: Mapped[str] = mapped_column(String(128))
    route: Mapped[str] = mapped_column(String(256))
    model: Mapped[str] = mapped_column(String(256))
    prompt_tokens: Mapped[int] = mapped_column(Integer)
    completion_tokens: Mapped[int] = mapped_column(Integer)
    cost_usd: Mapped[float] = mapped_column(Float)
    created_ms: Mapped[int] = mapped_column(BigInteger)
