"""Tables of MLOps tracking and the model registry (what the MLflow protocol stores).

Every table carries ``project`` (directly or through its parent) so that projects
isolate data. Metric points are not here: they go through ``triops.store.records``
(kind ``metric``); ``ml_latest_metrics`` keeps one row per run and key so that search
filters and ``order_by`` on metrics stay one indexed join.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import BigInteger, Float, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from triops.store.schema import Base, BigId


class Experiment(Base):
    __tablename__ = "ml_experiments"

    project: Mapped[str] = mapped_column(String(128), primary_key=True)
    experiment_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str] = mapped_column(String(512))
    artifact_location: Mapped[str] = mapped_column(Text)
    lifecycle_stage: Mapped[str] = mapped_column(String(16))
    creation_time: Mapped[int] = mapped_column(BigInteger)
    last_update_time: Mapped[int] = mapped_column(BigInteger)
    tags: Mapped[dict[str, Any]] = mapped_column(default=dict)

    __table_args__ = (Index("ux_ml_experiments_name", "project", "name", unique=True),)


class Run(Base):
    __tablename__ = "ml_runs"

    run_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    project: Mapped[str] = mapped_column(String(128))
    experiment_id: Mapped[str] = mapped_column(String(32))
    run_name: Mapped[str] = mapped_column(String(512))
    user_id: Mapped[str] = mapped_column(String(256))
    status: Mapped[str] = mapped_column(String(16))
    start_time: Mapped[int] = mapped_column(BigInteger)
    end_time: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    lifecycle_stage: Mapped[str] = mapped_column(String(16))
    artifact_uri: Mapped[str] = mapped_column(Text)
    deleted_time: Mapped[int | None] = mapped_column(BigInteger, nullable=True)

    __table_args__ = (
        Index("ix_ml_runs_search", "project", "experiment_id", "lifecycle_stage", "start_time"),
    )


class RunParam(Base):
    __tablename__ = "ml_run_params"

    run_id: Mapped[str] = mapped_column(
        String(32), ForeignKey("ml_runs.run_id", ondelete="CASCADE"), primary_key=True
    )
    key: Mapped[str] = mapped_column(String(250), primary_key=True)
    value: Mapped[str] = mapped_column(Text)


class RunTag(Base):
    __tablename__ = "ml_run_tags"

    run_id: Mapped[str] = mapped_column(
        String(32), ForeignKey("ml_runs.run_id", ondelete="CASCADE"), primary_key=True
    )
    key: Mapped[str] = mapped_column(String(250), primary_key=True)
    value: Mapped[str] = mapped_column(Text)


class LatestMetric(Base):
    """The newest point of each metric of a run (max step, then time, then value)."""

    __tablename__ = "ml_latest_metrics"

    run_id: Mapped[str] = mapped_column(
        String(32), ForeignKey("ml_runs.run_id", ondelete="CASCADE"), primary_key=True
    )
    key: Mapped[str] = mapped_column(String(250), primary_key=True)
    #: NULL when the newest value is NaN (SQLite cannot store NaN).
    value: Mapped[float | None] = mapped_column(Float, nullable=True)
    timestamp: Mapped[int] = mapped_column(BigInteger)
    step: Mapped[int] = mapped_column(BigInteger)

    __table_args__ = (Index("ix_ml_latest_metrics_key_value", "key", "value"),)


class RunInput(Base):
    """A dataset a run used (MLflow ``log-inputs``): what lineage reads."""

    __tablename__ = "ml_run_inputs"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    run_id: Mapped[str] = mapped_column(
        String(32), ForeignKey("ml_runs.run_id", ondelete="CASCADE"), index=True
    )
    dataset_name: Mapped[str] = mapped_column(String(500))
    dataset_digest: Mapped[str] = mapped_column(String(64))
    source_type: Mapped[str] = mapped_column(String(64))
    source: Mapped[str] = mapped_column(Text)
    schema: Mapped[str] = mapped_column(Text, default="")
    profile: Mapped[str] = mapped_column(Text, default="")
    tags: Mapped[dict[str, Any]] = mapped_column(default=dict)


class RunModelLink(Base):
    """A logged model a run consumed (``input``) or produced (``output``)."""

    __tablename__ = "ml_run_models"

    run_id: Mapped[str] = mapped_column(
        String(32), ForeignKey("ml_runs.run_id", ondelete="CASCADE"), primary_key=True
    )
    model_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    direction: Mapped[str] = mapped_column(String(8), primary_key=True)
    step: Mapped[int] = mapped_column(BigInteger, default=0)


class LoggedModel(Base):
    __tablename__ = "ml_logged_models"

    model_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    project: Mapped[str] = mapped_column(String(128))
    experiment_id: Mapped[str] = mapped_column(String(32))
    name: Mapped[str] = mapped_column(String(512))
    artifact_uri: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(32))
    status_message: Mapped[str] = mapped_column(Text, default="")
    model_type: Mapped[str] = mapped_column(String(128), default="")
    source_run_id: Mapped[str | None] = mapped_column(String(32), nullable=True)
    lifecycle_stage: Mapped[str] = mapped_column(String(16))
    creation_timestamp_ms: Mapped[int] = mapped_column(BigInteger)
    last_updated_timestamp_ms: Mapped[int] = mapped_column(BigInteger)
    params: Mapped[dict[str, Any]] = mapped_column(default=dict)
    tags: Mapped[dict[str, Any]] = mapped_column(default=dict)

    __table_args__ = (
        Index("ix_ml_logged_models_search", "project", "experiment_id", "creation_timestamp_ms"),
    )


class RegisteredModel(Base):
    __tablename__ = "ml_registered_models"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    project: Mapped[str] = mapped_column(String(128))
    name: Mapped[str] = mapped_column(String(256))
    description: Mapped[str] = mapped_column(Text, default="")
    creation_timestamp: Mapped[int] = mapped_column(BigInteger)
    last_updated_timestamp: Mapped[int] = mapped_column(BigInteger)
    #: Version numbers are never reused, even after a version is deleted.
    last_version: Mapped[int] = mapped_column(Integer, default=0)
    tags: Mapped[dict[str, Any]] = mapped_column(default=dict)

    __table_args__ = (Index("ux_ml_registered_models_name", "project", "name", unique=True),)


class ModelVersion(Base):
    __tablename__ = "ml_model_versions"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    registered_model_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("ml_registered_models.id", ondelete="CASCADE")
    )
    version: Mapped[int] = mapped_column(Integer)
    source: Mapped[str] = mapped_column(Text)
    #: The run that produced this version: what lineage follows.
    run_id: Mapped[str | None] = mapped_column(String(32), nullable=True, index=True)
    run_link: Mapped[str] = mapped_column(Text, default="")
    model_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    description: Mapped[str] = mapped_column(Text, default="")
    user_id: Mapped[str] = mapped_column(String(256), default="")
    current_stage: Mapped[str] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(32))
    status_message: Mapped[str] = mapped_column(Text, default="")
    storage_location: Mapped[str] = mapped_column(Text)
    creation_timestamp: Mapped[int] = mapped_column(BigInteger)
    last_updated_timestamp: Mapped[int] = mapped_column(BigInteger)
    tags: Mapped[dict[str, Any]] = mapped_column(default=dict)

    __table_args__ = (
        Index("ux_ml_model_versions_version", "registered_model_id", "version", unique=True),
    )


class ModelAlias(Base):
    __tablename__ = "ml_model_aliases"

    registered_model_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("ml_registered_models.id", ondelete="CASCADE"), primary_key=True
    )
    alias: Mapped[str] = mapped_column(String(256), primary_key=True)
    version: Mapped[int] = mapped_column(Integer)
