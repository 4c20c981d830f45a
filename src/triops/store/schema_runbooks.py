"""Runbook tables: versioned runbooks, their runs, and the queue of incidents to match.

A runbook's name points at its newest version; every PUT adds a version and a run
records the version it executed, so an edit never rewrites what an old run did.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import BigInteger, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from triops.store.schema import Base, BigId


class Runbook(Base):
    __tablename__ = "runbooks"

    project: Mapped[str] = mapped_column(String(128), primary_key=True)
    name: Mapped[str] = mapped_column(String(128), primary_key=True)
    version: Mapped[int] = mapped_column(Integer)
    #: Set when deleted; the versions stay, so old runs still show what they ran.
    deleted_ms: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    updated_ms: Mapped[int] = mapped_column(BigInteger)


class RunbookVersion(Base):
    __tablename__ = "runbook_versions"

    project: Mapped[str] = mapped_column(String(128), primary_key=True)
    name: Mapped[str] = mapped_column(String(128), primary_key=True)
    version: Mapped[int] = mapped_column(Integer, primary_key=True)
    source: Mapped[str] = mapped_column(Text)
    spec: Mapped[dict[str, Any]] = mapped_column()
    created_by: Mapped[str] = mapped_column(String(256))
    created_ms: Mapped[int] = mapped_column(BigInteger)


class RunbookRun(Base):
    __tablename__ = "runbook_runs"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    project: Mapped[str] = mapped_column(String(128))
    runbook: Mapped[str] = mapped_column(String(128))
    runbook_version: Mapped[int] = mapped_column(Integer)
    incident_id: Mapped[str] = mapped_column(String(32), index=True)
    status: Mapped[str] = mapped_column(String(24))
    reason: Mapped[str] = mapped_column(Text, default="")
    #: The ranked causes the run was planned with, and the dry-run of every step.
    causes: Mapped[dict[str, Any]] = mapped_column(default=dict)
    plan: Mapped[dict[str, Any]] = mapped_column(default=dict)
    #: What each executed step did, with what its undo needs.
    steps: Mapped[dict[str, Any]] = mapped_column(default=dict)
    decided_by: Mapped[str | None] = mapped_column(String(256), nullable=True)
    decided_ms: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    created_ms: Mapped[int] = mapped_column(BigInteger)
    acted_ms: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    verify_due_ms: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    finished_ms: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    #: A worker holds the run while it acts on it, until this time; a lapsed lease
    #: lets another replica take over.
    lease_owner: Mapped[str | None] = mapped_column(String(64), nullable=True)
    lease_until_ms: Mapped[int] = mapped_column(BigInteger, default=0)

    __table_args__ = (
        Index("ix_runbook_runs_book", "project", "runbook", "created_ms"),
        Index("ix_runbook_runs_status", "status"),
    )


class RunbookQueue(Base):
    """Incidents that opened or escalated and wait to be matched against runbooks."""

    __tablename__ = "runbook_queue"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    project: Mapped[str] = mapped_column(String(128))
    incident_id: Mapped[str] = mapped_column(String(32))
    reason: Mapped[str] = mapped_column(String(16))
    enqueued_ms: Mapped[int] = mapped_column(BigInteger)
    lease_owner: Mapped[str | None] = mapped_column(String(64), nullable=True)
    lease_until_ms: Mapped[int] = mapped_column(BigInteger, default=0)
