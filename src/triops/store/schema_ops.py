"""AIOps tables: per-series detector state and per-stream log-mining state.

High-volume rows (samples, log lines) live in the append-only records; these tables
hold the small, mutable state that lets monitoring resume exactly where it stopped.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import BigInteger, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from triops.store.schema import Base


class OpsSeriesState(Base):
    """The streaming detector of one series: its counters as of the last scored point, its
    state as of its last checkpoint (``state["points"]``; see :mod:`triops.ops.detection`)."""

    __tablename__ = "ops_series_state"

    project: Mapped[str] = mapped_column(String(128), primary_key=True)
    series: Mapped[str] = mapped_column(String(512), primary_key=True)
    detector: Mapped[str] = mapped_column(String(64))
    state: Mapped[dict[str, Any]] = mapped_column()
    #: Timestamp of the newest point the detector has seen; older points are not scored.
    last_ts_ms: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    points: Mapped[int] = mapped_column(BigInteger, default=0)
    anomalies: Mapped[int] = mapped_column(Integer, default=0)
    updated_ms: Mapped[int] = mapped_column(BigInteger)


class OpsLogStream(Base):
    """The template miner and rate tracker of one log stream (one service)."""

    __tablename__ = "ops_log_streams"

    project: Mapped[str] = mapped_column(String(128), primary_key=True)
    stream: Mapped[str] = mapped_column(String(512), primary_key=True)
    miner: Mapped[dict[str, Any]] = mapped_column()
    rates: Mapped[dict[str, Any]] = mapped_column()
    #: First and last time (ms) each template id was seen: {"<id>": [first, last]}.
    seen: Mapped[dict[str, Any]] = mapped_column()
    lines: Mapped[int] = mapped_column(BigInteger, default=0)
    updated_ms: Mapped[int] = mapped_column(BigInteger)


class PromSourceRow(Base):
    """A Prometheus ``query_range`` source: one PromQL expression polled into detection."""

    __tablename__ = "ops_prom_sources"

    project: Mapped[str] = mapped_column(String(128), primary_key=True)
    name: Mapped[str] = mapped_column(String(128), primary_key=True)
    spec: Mapped[dict[str, Any]] = mapped_column()
    updated_by: Mapped[str] = mapped_column(String(256))
    updated_ms: Mapped[int] = mapped_column(BigInteger)
    #: When a replica last claimed a poll; the claim compares and sets it.
    last_run_ms: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    #: Newest evaluation time already fetched; the next poll starts one step after it.
    fetched_to_ms: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    last_ok_ms: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    last_error: Mapped[str] = mapped_column(Text, default="")
    last_error_ms: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    #: Series and points the last successful poll brought in, and anomalies found overall.
    series: Mapped[int] = mapped_column(Integer, default=0)
    points: Mapped[int] = mapped_column(BigInteger, default=0)
    anomalies: Mapped[int] = mapped_column(BigInteger, default=0)
