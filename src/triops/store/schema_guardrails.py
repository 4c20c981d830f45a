"""Guardrail rules stored through the API (file rules live in triops.toml)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import BigInteger, String
from sqlalchemy.orm import Mapped, mapped_column

from triops.store.schema import Base


class GuardrailRuleRow(Base):
    __tablename__ = "llm_guardrail_rules"

    name: Mapped[str] = mapped_column(String(128), primary_key=True)
    # The rule as ``GuardrailRule`` dumps it, less its name.
    spec: Mapped[dict[str, Any]] = mapped_column()
    updated_ms: Mapped[int] = mapped_column(BigInteger)
