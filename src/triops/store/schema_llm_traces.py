"""Tables of LLM tracing: one summary row per trace, and scores attached to traces.

The spans themselves are append-only records (kind ``span``, stream = trace id); the
summary exists so that the trace list can filter on model, latency, cost, user and
session without reading every span.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Boolean, Float, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from triops.store.schema import Base, BigId, JSONType


class TraceSummary(Base):
    __tablename__ = "llm_traces"

    project: Mapped[str] = mapped_column(String(128), primary_key=True)
    trace_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    #: The root span's name once the root has arrived; until then the first span's.
    name: Mapped[str] = mapped_column(String(512))
    has_root: Mapped[bool] = mapped_column(Boolean)
    start_ns: Mapped[int] = mapped_column(BigInteger)
    end_ns: Mapped[int] = mapped_column(BigInteger)
    span_count: Mapped[int] = mapped_column(Integer)
    error_count: Mapped[int] = mapped_column(Integer)
    model: Mapped[str | None] = mapped_column(String(256), nullable=True)
    input_tokens: Mapped[int] = mapped_column(BigInteger)
    output_tokens: Mapped[int] = mapped_column(BigInteger)
    cost: Mapped[float] = mapped_column(Float)
    user_id: Mapped[str | None] = mapped_column(String(256), nullable=True)
    session_id: Mapped[str | None] = mapped_column(String(256), nullable=True)
    api_key: Mapped[str | None] = mapped_column(String(256), nullable=True)
    service: Mapped[str | None] = mapped_column(String(256), nullable=True)

    __table_args__ = (
        Index("ix_llm_traces_project_start", "project", "start_ns"),
        # A session's conversation and a user's page read these groups by time.
        Index("ix_llm_traces_session", "project", "session_id", "start_ns"),
        Index("ix_llm_traces_user", "project", "user_id", "start_ns"),
    )


class TraceScore(Base):
    __tablename__ = "llm_trace_scores"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    project: Mapped[str] = mapped_column(String(128))
    trace_id: Mapped[str] = mapped_column(String(32))
    span_id: Mapped[str | None] = mapped_column(String(16), nullable=True)
    name: Mapped[str] = mapped_column(String(256))
    #: The number a score is averaged by: a numeric score's value, a boolean's 1/0, a
    #: category's position in its config.
    value: Mapped[float] = mapped_column(Float)
    #: ``numeric``, ``boolean`` or ``categorical``.
    data_type: Mapped[str] = mapped_column(String(16), server_default="numeric")
    #: A category's label, or ``true``/``false``; None for numeric scores.
    string_value: Mapped[str | None] = mapped_column(String(256), nullable=True)
    comment: Mapped[str] = mapped_column(Text)
    source: Mapped[str] = mapped_column(String(16))
    actor: Mapped[str] = mapped_column(String(256))
    created_ms: Mapped[int] = mapped_column(BigInteger)

    __table_args__ = (Index("ix_llm_trace_scores_trace", "project", "trace_id"),)


class ScoreConfig(Base):
    """What a score of this name may hold: its type, a numeric range or its categories."""

    __tablename__ = "llm_score_configs"

    project: Mapped[str] = mapped_column(String(128), primary_key=True)
    name: Mapped[str] = mapped_column(String(256), primary_key=True)
    data_type: Mapped[str] = mapped_column(String(16))
    min_value: Mapped[float | None] = mapped_column(Float, nullable=True)
    max_value: Mapped[float | None] = mapped_column(Float, nullable=True)
    #: A categorical score's labels, in order; a label's value is its position.
    categories: Mapped[list[str]] = mapped_column(JSONType)
    description: Mapped[str] = mapped_column(Text)
    created_by: Mapped[str] = mapped_column(String(256))
    created_ms: Mapped[int] = mapped_column(BigInteger)
