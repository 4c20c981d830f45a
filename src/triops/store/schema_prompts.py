"""Prompt registry, eval datasets, eval runs and online evaluators.

Prompt versions are immutable once written; labels point at one version each and every
move of a label is kept in ``prompt_label_moves`` so that it can be undone.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import BigInteger, Boolean, Float, ForeignKey, Index, Integer, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from triops.store.schema import Base, BigId


class Prompt(Base):
    __tablename__ = "prompts"

    project: Mapped[str] = mapped_column(String(128), primary_key=True)
    name: Mapped[str] = mapped_column(String(128), primary_key=True)
    kind: Mapped[str] = mapped_column(String(8))  # "chat" or "text"
    description: Mapped[str] = mapped_column(Text, default="")
    latest_version: Mapped[int] = mapped_column(Integer, default=0)
    created_by: Mapped[str] = mapped_column(String(256))
    created_ms: Mapped[int] = mapped_column(BigInteger)


class PromptVersion(Base):
    __tablename__ = "prompt_versions"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    project: Mapped[str] = mapped_column(String(128))
    name: Mapped[str] = mapped_column(String(128))
    version: Mapped[int] = mapped_column(Integer)
    #: ``{"messages": [{"role": ..., "content": ...}]}`` or ``{"text": ...}``
    template: Mapped[dict[str, Any]] = mapped_column()
    variables: Mapped[dict[str, Any]] = mapped_column()  # {"names": [...]}
    model: Mapped[str | None] = mapped_column(String(256), nullable=True)
    params: Mapped[dict[str, Any]] = mapped_column()
    message: Mapped[str] = mapped_column(Text, default="")
    created_by: Mapped[str] = mapped_column(String(256))
    created_ms: Mapped[int] = mapped_column(BigInteger)

    __table_args__ = (
        Index("ux_prompt_versions_version", "project", "name", "version", unique=True),
    )


class PromptLabel(Base):
    __tablename__ = "prompt_labels"

    project: Mapped[str] = mapped_column(String(128), primary_key=True)
    name: Mapped[str] = mapped_column(String(128), primary_key=True)
    label: Mapped[str] = mapped_column(String(64), primary_key=True)
    version: Mapped[int] = mapped_column(Integer)
    updated_by: Mapped[str] = mapped_column(String(256))
    updated_ms: Mapped[int] = mapped_column(BigInteger)


class PromptLabelMove(Base):
    __tablename__ = "prompt_label_moves"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    project: Mapped[str] = mapped_column(String(128))
    name: Mapped[str] = mapped_column(String(128))
    label: Mapped[str] = mapped_column(String(64))
    from_version: Mapped[int | None] = mapped_column(Integer, nullable=True)
    to_version: Mapped[int | None] = mapped_column(Integer, nullable=True)
    kind: Mapped[str] = mapped_column(String(8))  # "set", "undo" or "delete"
    #: A "set" that an undo has taken back; the next undo looks past it.
    undone: Mapped[bool] = mapped_column(Boolean, default=False)
    actor: Mapped[str] = mapped_column(String(256))
    time_ms: Mapped[int] = mapped_column(BigInteger)

    __table_args__ = (Index("ix_prompt_label_moves_label", "project", "name", "label", "id"),)


class EvalDataset(Base):
    __tablename__ = "eval_datasets"

    project: Mapped[str] = mapped_column(String(128), primary_key=True)
    name: Mapped[str] = mapped_column(String(128), primary_key=True)
    description: Mapped[str] = mapped_column(Text, default="")
    case_count: Mapped[int] = mapped_column(Integer, default=0)
    #: The newest version; every change to the cases makes the next one (0: no case yet).
    version: Mapped[int] = mapped_column(Integer, server_default="0")
    created_by: Mapped[str] = mapped_column(String(256))
    created_ms: Mapped[int] = mapped_column(BigInteger)


class EvalDatasetVersion(Base):
    """One version of a dataset: who made it, why, and how many cases it holds."""

    __tablename__ = "eval_dataset_versions"

    project: Mapped[str] = mapped_column(String(128), primary_key=True)
    dataset: Mapped[str] = mapped_column(String(128), primary_key=True)
    version: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_count: Mapped[int] = mapped_column(Integer)
    message: Mapped[str] = mapped_column(Text)
    created_by: Mapped[str] = mapped_column(String(256))
    created_ms: Mapped[int] = mapped_column(BigInteger)


class EvalCase(Base):
    """A case as it was from version ``added_version`` until ``removed_version``.

    Versions are never rewritten: editing a case closes its row and opens a new one at the
    same ``position`` (the case's identity), deleting one only closes it. A version's
    cases are the rows open at it.
    """

    __tablename__ = "eval_cases"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    project: Mapped[str] = mapped_column(String(128))
    dataset: Mapped[str] = mapped_column(String(128))
    position: Mapped[int] = mapped_column(Integer)
    inputs: Mapped[dict[str, Any]] = mapped_column()
    expected: Mapped[str | None] = mapped_column(Text, nullable=True)
    meta: Mapped[dict[str, Any]] = mapped_column()
    source: Mapped[str] = mapped_column(String(256))  # "manual", "file:<name>", "trace:<id>"
    #: The trace the case was taken from, for provenance both ways.
    trace_id: Mapped[str | None] = mapped_column(String(32), nullable=True)
    added_version: Mapped[int] = mapped_column(Integer, server_default="1")
    removed_version: Mapped[int | None] = mapped_column(Integer, nullable=True)

    __table_args__ = (
        Index("ux_eval_cases_live", "project", "dataset", "position", unique=True,
              postgresql_where=text("removed_version IS NULL"),
              sqlite_where=text("removed_version IS NULL")),
        Index("ix_eval_cases_dataset", "project", "dataset", "added_version"),
        Index("ix_eval_cases_trace", "project", "trace_id"),
    )


class EvalRun(Base):
    __tablename__ = "eval_runs"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    project: Mapped[str] = mapped_column(String(128), index=True)
    name: Mapped[str] = mapped_column(String(256))
    prompt_name: Mapped[str | None] = mapped_column(String(128), nullable=True)
    prompt_version: Mapped[int | None] = mapped_column(Integer, nullable=True)
    prompt_label: Mapped[str | None] = mapped_column(String(64), nullable=True)
    model: Mapped[str] = mapped_column(String(256))
    dataset: Mapped[str] = mapped_column(String(256))
    config: Mapped[dict[str, Any]] = mapped_column()
    status: Mapped[str] = mapped_column(String(16))  # running, finished, failed
    case_count: Mapped[int] = mapped_column(Integer)
    summary: Mapped[dict[str, Any]] = mapped_column()
    created_by: Mapped[str] = mapped_column(String(256))
    created_ms: Mapped[int] = mapped_column(BigInteger)
    finished_ms: Mapped[int | None] = mapped_column(BigInteger, nullable=True)


class EvalResult(Base):
    __tablename__ = "eval_results"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    run_id: Mapped[str] = mapped_column(String(32), ForeignKey("eval_runs.id", ondelete="CASCADE"))
    case_index: Mapped[int] = mapped_column(Integer)
    inputs: Mapped[dict[str, Any]] = mapped_column()
    expected: Mapped[str | None] = mapped_column(Text, nullable=True)
    output: Mapped[str | None] = mapped_column(Text, nullable=True)
    error: Mapped[str] = mapped_column(Text, default="")
    latency_ms: Mapped[float] = mapped_column(Float)
    prompt_tokens: Mapped[int] = mapped_column(Integer)
    completion_tokens: Mapped[int] = mapped_column(Integer)
    cost: Mapped[float] = mapped_column(Float)
    trace_id: Mapped[str | None] = mapped_column(String(32), nullable=True)
    #: ``{scorer: {"value": float | None, "error": str, "detail": str}}``
    scores: Mapped[dict[str, Any]] = mapped_column()

    __table_args__ = (Index("ux_eval_results_case", "run_id", "case_index", unique=True),)


class OnlineEvaluator(Base):
    __tablename__ = "online_evaluators"

    project: Mapped[str] = mapped_column(String(128), primary_key=True)
    name: Mapped[str] = mapped_column(String(128), primary_key=True)
    config: Mapped[dict[str, Any]] = mapped_column()
    enabled: Mapped[bool] = mapped_column(Boolean)
    #: Traces that started before this time were already considered.
    cursor_ms: Mapped[int] = mapped_column(BigInteger)
    #: Recent values per scorer and their baseline: ``{scorer: {"window": [...], ...}}``
    state: Mapped[dict[str, Any]] = mapped_column()
    created_ms: Mapped[int] = mapped_column(BigInteger)
