"""Tables of the platform foundation: projects, API keys, incidents, audit log, records.

Each pillar declares its own tables in its own module on the same ``Base``; the
Alembic migrations under ``migrations/versions`` create them.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

JSONType = JSON().with_variant(JSONB(), "postgresql")
# SQLite only auto-increments INTEGER PRIMARY KEY, not BIGINT.
BigId = BigInteger().with_variant(Integer(), "sqlite")


class Base(DeclarativeBase):
    type_annotation_map = {dict[str, Any]: JSONType}  # noqa: RUF012 -- SQLAlchemy reads it once


class Project(Base):
    __tablename__ = "projects"

    name: Mapped[str] = mapped_column(String(128), primary_key=True)
    description: Mapped[str] = mapped_column(Text, default="")
    created_ms: Mapped[int] = mapped_column(BigInteger)


class ApiKey(Base):
    __tablename__ = "api_keys"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str] = mapped_column(String(256))
    project: Mapped[str] = mapped_column(String(128), index=True)
    role: Mapped[str] = mapped_column(String(16))
    secret_hash: Mapped[str] = mapped_column(String(64), unique=True)
    prefix: Mapped[str] = mapped_column(String(16))
    created_ms: Mapped[int] = mapped_column(BigInteger)
    revoked_ms: Mapped[int | None] = mapped_column(BigInteger, nullable=True)


#: The statuses of an incident that new signals still fold into.
ACTIVE_STATUSES = ("open", "acknowledged")
ACTIVE_SQL = "status IN ('open', 'acknowledged')"


class Incident(Base):
    __tablename__ = "incidents"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    project: Mapped[str] = mapped_column(String(128))
    fingerprint: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16))
    title: Mapped[str] = mapped_column(Text)
    source: Mapped[str] = mapped_column(String(16))
    kind: Mapped[str] = mapped_column(String(128))
    subject: Mapped[str] = mapped_column(String(512))
    severity: Mapped[int] = mapped_column(Integer)
    labels: Mapped[dict[str, Any]] = mapped_column(default=dict)
    #: The newest non-empty annotations of its signals (runbook_url, generatorURL, ...).
    annotations: Mapped[dict[str, Any]] = mapped_column(default=dict, server_default="{}")
    signal_count: Mapped[int] = mapped_column(Integer, default=0)
    #: Re-sent notifications of a signal already counted (Alertmanager repeats).
    repeat_count: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    first_ms: Mapped[int] = mapped_column(BigInteger)
    last_ms: Mapped[int] = mapped_column(BigInteger)
    acked_by: Mapped[str | None] = mapped_column(String(256), nullable=True)
    acked_ms: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    resolved_ms: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    #: A member fingerprint resolved and fired again often enough to be called flapping.
    flapping: Mapped[bool] = mapped_column(Boolean, default=False, server_default=text("false"))
    #: Set when the incident was merged by hand into another one (and resolved).
    merged_into: Mapped[str | None] = mapped_column(String(32), nullable=True)

    __table_args__ = (
        Index("ix_incidents_project_fp_status", "project", "fingerprint", "status"),
        # At most one active incident per fingerprint: concurrent writers fold into it
        # through INSERT ... ON CONFLICT against this index (see repos/incidents.py).
        Index("uq_incidents_active_fingerprint", "project", "fingerprint", unique=True,
              postgresql_where=text(ACTIVE_SQL), sqlite_where=text(ACTIVE_SQL)),
    )


class IncidentSignal(Base):
    __tablename__ = "incident_signals"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    incident_id: Mapped[str] = mapped_column(
        String(32), ForeignKey("incidents.id", ondelete="CASCADE"), index=True
    )
    time_ms: Mapped[int] = mapped_column(BigInteger)
    severity: Mapped[int] = mapped_column(Integer)
    value: Mapped[float | None] = mapped_column(nullable=True)
    summary: Mapped[str] = mapped_column(Text, default="")
    labels: Mapped[dict[str, Any]] = mapped_column(default=dict)
    #: The fingerprint of the signal: an incident holds signals of all its members.
    fingerprint: Mapped[str | None] = mapped_column(String(64), nullable=True)


#: A member's row is the live home of its fingerprint while this holds.
ACTIVE_MEMBER_SQL = "active"


class IncidentMember(Base):
    """One fingerprint folded into an incident, and why it joined."""

    __tablename__ = "incident_members"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    project: Mapped[str] = mapped_column(String(128))
    incident_id: Mapped[str] = mapped_column(
        String(32), ForeignKey("incidents.id", ondelete="CASCADE"), index=True
    )
    fingerprint: Mapped[str] = mapped_column(String(64))
    #: New signals of the fingerprint fold here (its incident is active).
    active: Mapped[bool] = mapped_column(Boolean)
    #: The source has not said the problem ended (an Alertmanager resolution clears it).
    firing: Mapped[bool] = mapped_column(Boolean, default=True)
    source: Mapped[str] = mapped_column(String(16))
    kind: Mapped[str] = mapped_column(String(128))
    subject: Mapped[str] = mapped_column(String(512))
    labels: Mapped[dict[str, Any]] = mapped_column(default=dict)
    severity: Mapped[int] = mapped_column(Integer)
    signal_count: Mapped[int] = mapped_column(Integer, default=0)
    first_ms: Mapped[int] = mapped_column(BigInteger)
    last_ms: Mapped[int] = mapped_column(BigInteger)
    resolved_ms: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    flap_count: Mapped[int] = mapped_column(Integer, default=0)
    #: Why it joined ("" for the fingerprint that opened the incident).
    reason: Mapped[str] = mapped_column(Text, default="")

    __table_args__ = (
        # One live home per fingerprint: concurrent writers that would give a fingerprint
        # two homes meet here through INSERT ... ON CONFLICT (see repos/incidents.py).
        Index("uq_incident_members_active", "project", "fingerprint", unique=True,
              postgresql_where=text(ACTIVE_MEMBER_SQL), sqlite_where=text(ACTIVE_MEMBER_SQL)),
        Index("ix_incident_members_recent", "project", "active", "last_ms"),
    )


class IncidentEvent(Base):
    """The incident's timeline beyond its signals: joins, flapping, merges, splits."""

    __tablename__ = "incident_events"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    incident_id: Mapped[str] = mapped_column(
        String(32), ForeignKey("incidents.id", ondelete="CASCADE"), index=True
    )
    time_ms: Mapped[int] = mapped_column(BigInteger)
    kind: Mapped[str] = mapped_column(String(32))
    actor: Mapped[str] = mapped_column(String(256))
    summary: Mapped[str] = mapped_column(Text, default="")
    detail: Mapped[dict[str, Any]] = mapped_column(default=dict)


class AuditEntry(Base):
    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    project: Mapped[str] = mapped_column(String(128), index=True)
    time_ms: Mapped[int] = mapped_column(BigInteger)
    actor: Mapped[str] = mapped_column(String(256))
    action: Mapped[str] = mapped_column(String(128))
    target: Mapped[str] = mapped_column(String(512))
    detail: Mapped[dict[str, Any]] = mapped_column(default=dict)


class Record(Base):
    """One append-only record: a metric point, a span, a prediction, a log line..."""

    __tablename__ = "records"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    project: Mapped[str] = mapped_column(String(128))
    kind: Mapped[str] = mapped_column(String(64))
    stream: Mapped[str] = mapped_column(String(512))
    ts_ms: Mapped[int] = mapped_column(BigInteger)
    data: Mapped[dict[str, Any]] = mapped_column()

    __table_args__ = (Index("ix_records_scan", "project", "kind", "stream", "ts_ms"),)


class UiSession(Base):
    """A web UI login: the browser holds a random token, the store only its hash."""

    __tablename__ = "ui_sessions"

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    key_id: Mapped[str] = mapped_column(String(32), index=True)
    created_ms: Mapped[int] = mapped_column(BigInteger)
    expires_ms: Mapped[int] = mapped_column(BigInteger)
