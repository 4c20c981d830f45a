"""Tables of dataset versions and of the native tracking protocol's applied batches.

Which datasets a run used is not stored here: both the MLflow ``log-inputs`` path and
the SDK write that link into ``ml_run_inputs`` (name + digest), and lineage joins it
with ``ml_dataset_versions`` on the same pair.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import BigInteger, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from triops.store.schema import Base, BigId, JSONType


class DatasetVersion(Base):
    """One immutable version of a named dataset: its content hash, schema and profile."""

    __tablename__ = "ml_dataset_versions"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    project: Mapped[str] = mapped_column(String(128))
    name: Mapped[str] = mapped_column(String(500))
    version: Mapped[int] = mapped_column(Integer)
    digest: Mapped[str] = mapped_column(String(64))
    source_type: Mapped[str] = mapped_column(String(64))
    source: Mapped[str] = mapped_column(Text)
    row_count: Mapped[int] = mapped_column(BigInteger)
    #: ``[{"name": ..., "dtype": ...}, ...]`` in column order.
    columns: Mapped[list[dict[str, Any]]] = mapped_column(JSONType)
    #: Per-column statistics, by column name.
    profile: Mapped[dict[str, Any]] = mapped_column()
    description: Mapped[str] = mapped_column(Text, default="")
    created_ms: Mapped[int] = mapped_column(BigInteger)
    created_by: Mapped[str] = mapped_column(String(256), default="")

    __table_args__ = (
        Index("ux_ml_dataset_versions_version", "project", "name", "version", unique=True),
        Index("ix_ml_dataset_versions_digest", "project", "name", "digest"),
    )


class AppliedBatch(Base):
    """A native SDK batch already written to a run: a re-sent batch becomes a no-op."""

    __tablename__ = "ml_applied_batches"

    # No foreign key to ml_runs: a batch id row is a tombstone; keeping it after its run
    # is harmless.
    run_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    batch_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    applied_ms: Mapped[int] = mapped_column(BigInteger)
    points: Mapped[int] = mapped_column(Integer)
