"""Fine-tuning jobs as ``/v1/fine_tuning/jobs`` serves them, and their events.

A job is also an ML run (``run_id``): its parameters, its metrics as they arrive, the
training data as its input dataset, and the fine-tuned model as a registered version.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import BigInteger, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from triops.store.schema import Base, BigId, JSONType


class FineTuningJob(Base):
    __tablename__ = "fine_tuning_jobs"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    project: Mapped[str] = mapped_column(String(128))
    status: Mapped[str] = mapped_column(String(24))
    #: What the caller asked for: a gateway model alias.
    model: Mapped[str] = mapped_column(String(256))
    #: Who trains: a gateway upstream and the model name it knows.
    upstream: Mapped[str] = mapped_column(String(128))
    upstream_model: Mapped[str] = mapped_column(String(256))
    upstream_job_id: Mapped[str | None] = mapped_column(String(128), nullable=True)
    training_file: Mapped[str] = mapped_column(String(40))
    validation_file: Mapped[str | None] = mapped_column(String(40), nullable=True)
    hyperparameters: Mapped[dict[str, Any]] = mapped_column()
    suffix: Mapped[str | None] = mapped_column(String(64), nullable=True)
    seed: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    meta: Mapped[dict[str, Any]] = mapped_column()
    fine_tuned_model: Mapped[str | None] = mapped_column(String(256), nullable=True)
    trained_tokens: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    error: Mapped[dict[str, Any] | None] = mapped_column(JSONType, nullable=True)
    run_id: Mapped[str] = mapped_column(String(32))
    registered_model: Mapped[str | None] = mapped_column(String(256), nullable=True)
    registered_version: Mapped[int | None] = mapped_column(Integer, nullable=True)
    created_by: Mapped[str] = mapped_column(String(256))
    created_ms: Mapped[int] = mapped_column(BigInteger)
    finished_ms: Mapped[int | None] = mapped_column(BigInteger, nullable=True)

    __table_args__ = (Index("ix_fine_tuning_jobs_listing", "project", "created_ms", "id"),)


class FineTuningEvent(Base):
    __tablename__ = "fine_tuning_events"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    job_id: Mapped[str] = mapped_column(String(40))
    #: The provider's id of the event, so that one seen again is not stored twice.
    source_id: Mapped[str] = mapped_column(String(128))
    created_ms: Mapped[int] = mapped_column(BigInteger)
    level: Mapped[str] = mapped_column(String(16))
    kind: Mapped[str] = mapped_column(String(16))
    message: Mapped[str] = mapped_column(Text)
    data: Mapped[dict[str, Any]] = mapped_column()

    __table_args__ = (
        Index("ux_fine_tuning_events_source", "job_id", "source_id", unique=True),
    )
