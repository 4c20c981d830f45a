"""Capacity tables: per-project rules, and where each matched series stands."""

from __future__ import annotations

from typing import Any

from sqlalchemy import BigInteger, String
from sqlalchemy.orm import Mapped, mapped_column

from triops.store.schema import Base


class CapacityRuleRow(Base):
    __tablename__ = "capacity_rules"

    project: Mapped[str] = mapped_column(String(128), primary_key=True)
    name: Mapped[str] = mapped_column(String(128), primary_key=True)
    spec: Mapped[dict[str, Any]] = mapped_column()
    updated_by: Mapped[str] = mapped_column(String(256))
    updated_ms: Mapped[int] = mapped_column(BigInteger)


class CapacitySeriesState(Base):
    """The last projection of one series under one rule."""

    __tablename__ = "capacity_series_state"

    project: Mapped[str] = mapped_column(String(128), primary_key=True)
    rule: Mapped[str] = mapped_column(String(128), primary_key=True)
    series: Mapped[str] = mapped_column(String(512), primary_key=True)
    #: Time of the newest point of the last evaluation (series time, not wall time).
    evaluated_ms: Mapped[int] = mapped_column(BigInteger)
    #: The expected crossing found then; None when the projection did not cross.
    crossing_ms: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
