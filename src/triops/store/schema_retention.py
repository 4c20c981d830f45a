"""Retention: one policy per project, and where its enforcement last stood.

The rollups it writes are append-only records (kind ``sample_5m``), not a table here.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import BigInteger, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from triops.store.schema import Base


class RetentionPolicyRow(Base):
    __tablename__ = "retention_policies"

    project: Mapped[str] = mapped_column(String(128), primary_key=True)
    #: Ages in seconds: ``metrics_raw``, ``metrics_rollup``, ``logs``, ``traces`` (absent: kept).
    spec: Mapped[dict[str, Any]] = mapped_column()
    updated_by: Mapped[str] = mapped_column(String(256))
    updated_ms: Mapped[int] = mapped_column(BigInteger)
    #: When a replica last claimed the policy's enforcement; the claim compares and sets it.
    last_run_ms: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    #: What the last finished enforcement did (rows deleted and rollups written per kind).
    last_report: Mapped[dict[str, Any]] = mapped_column()
    last_error: Mapped[str] = mapped_column(Text, default="")
