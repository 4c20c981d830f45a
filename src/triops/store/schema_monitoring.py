"""Monitoring and pipeline tables: monitor definitions and their results over time,
registered pipelines, pipeline runs and their steps."""

from __future__ import annotations

from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from triops.store.schema import Base, BigId


class Monitor(Base):
    """What to watch on one serving endpoint, against what reference, with which limits."""

    __tablename__ = "ml_monitors"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    project: Mapped[str] = mapped_column(String(128))
    name: Mapped[str] = mapped_column(String(256))
    endpoint: Mapped[str] = mapped_column(String(256))
    spec: Mapped[dict[str, Any]] = mapped_column()
    #: Seconds between scheduled runs; None runs only on demand.
    interval_s: Mapped[int | None] = mapped_column(Integer, nullable=True)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    created_ms: Mapped[int] = mapped_column(BigInteger)
    updated_ms: Mapped[int] = mapped_column(BigInteger)
    last_run_ms: Mapped[int | None] = mapped_column(BigInteger, nullable=True)

    __table_args__ = (UniqueConstraint("project", "name", name="uq_ml_monitors_project_name"),)


class MonitorResult(Base):
    """One run of one monitor: every feature's drift score, quality shares, metrics."""

    __tablename__ = "ml_monitor_results"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    monitor_id: Mapped[str] = mapped_column(
        String(32), ForeignKey("ml_monitors.id", ondelete="CASCADE"))
    time_ms: Mapped[int] = mapped_column(BigInteger)
    status: Mapped[str] = mapped_column(String(16))
    n_reference: Mapped[int] = mapped_column(Integer, default=0)
    n_current: Mapped[int] = mapped_column(Integer, default=0)
    drift: Mapped[dict[str, Any]] = mapped_column()
    quality: Mapped[dict[str, Any]] = mapped_column()
    performance: Mapped[dict[str, Any]] = mapped_column()
    breaches: Mapped[dict[str, Any]] = mapped_column()
    error: Mapped[str] = mapped_column(Text, default="")

    __table_args__ = (Index("ix_ml_monitor_results_monitor_time", "monitor_id", "time_ms"),)


class Pipeline(Base):
    """A pipeline known to the server by name, pointing at ``module:attribute`` code."""

    __tablename__ = "ml_pipelines"

    project: Mapped[str] = mapped_column(String(128), primary_key=True)
    name: Mapped[str] = mapped_column(String(256), primary_key=True)
    ref: Mapped[str] = mapped_column(String(512))
    description: Mapped[str] = mapped_column(Text, default="")
    created_ms: Mapped[int] = mapped_column(BigInteger)


class PipelineRun(Base):
    __tablename__ = "ml_pipeline_runs"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    project: Mapped[str] = mapped_column(String(128))
    pipeline: Mapped[str] = mapped_column(String(256))
    ref: Mapped[str] = mapped_column(String(512))
    status: Mapped[str] = mapped_column(String(16))
    executor: Mapped[str] = mapped_column(String(32))
    trigger: Mapped[str] = mapped_column(String(256))
    params: Mapped[dict[str, Any]] = mapped_column()
    outputs: Mapped[dict[str, Any]] = mapped_column()
    started_ms: Mapped[int] = mapped_column(BigInteger)
    ended_ms: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    error: Mapped[str] = mapped_column(Text, default="")

    __table_args__ = (Index("ix_ml_pipeline_runs_project_pipeline", "project", "pipeline"),)


class PipelineStep(Base):
    __tablename__ = "ml_pipeline_steps"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    run_id: Mapped[str] = mapped_column(
        String(32), ForeignKey("ml_pipeline_runs.id", ondelete="CASCADE"), index=True)
    step: Mapped[str] = mapped_column(String(256))
    status: Mapped[str] = mapped_column(String(16))
    cache_key: Mapped[str] = mapped_column(String(64))
    cached: Mapped[bool] = mapped_column(Boolean, default=False)
    started_ms: Mapped[int] = mapped_column(BigInteger)
    ended_ms: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    error: Mapped[str] = mapped_column(Text, default="")
