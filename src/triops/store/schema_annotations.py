"""Annotation queues: traces picked by a filter, waiting for a human's score.

A queue names the score config its reviewers answer with; each item is one trace, in
one of three states (pending, done, skipped), claimed by at most one reviewer at a time.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import BigInteger, Boolean, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from triops.store.schema import Base, BigId


class AnnotationQueue(Base):
    __tablename__ = "annotation_queues"

    project: Mapped[str] = mapped_column(String(128), primary_key=True)
    name: Mapped[str] = mapped_column(String(128), primary_key=True)
    description: Mapped[str] = mapped_column(Text)
    #: Which traces the queue takes: trace-list filters, score conditions, a sample rate.
    filter: Mapped[dict[str, Any]] = mapped_column()
    score_name: Mapped[str] = mapped_column(String(256))
    created_by: Mapped[str] = mapped_column(String(256))
    created_ms: Mapped[int] = mapped_column(BigInteger)


class AnnotationItem(Base):
    __tablename__ = "annotation_items"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    project: Mapped[str] = mapped_column(String(128))
    queue: Mapped[str] = mapped_column(String(128))
    trace_id: Mapped[str] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(16))
    assignee: Mapped[str | None] = mapped_column(String(256), nullable=True)
    reviewer: Mapped[str | None] = mapped_column(String(256), nullable=True)
    #: The answer as given: a number, true/false or a label, as text.
    value: Mapped[str | None] = mapped_column(String(256), nullable=True)
    #: The output as the reviewer says it should have been.
    correction: Mapped[str | None] = mapped_column(Text, nullable=True)
    comment: Mapped[str] = mapped_column(Text)
    #: Whether the correction went into a dataset already.
    exported: Mapped[bool] = mapped_column(Boolean)
    created_ms: Mapped[int] = mapped_column(BigInteger)
    done_ms: Mapped[int | None] = mapped_column(BigInteger, nullable=True)

    __table_args__ = (
        Index("ux_annotation_items_trace", "project", "queue", "trace_id", unique=True),
        Index("ix_annotation_items_status", "project", "queue", "status", "id"),
    )
