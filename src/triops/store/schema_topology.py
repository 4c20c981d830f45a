"""Topology and change events: the graph of what triops sees, and what changed on it.

Nodes and edges observed in telemetry (traces, resources, alerts, metric series) are
stored here; the configured part of the graph (lineage, prompts, gateway routes) is
read from its own tables when the graph is loaded, so it never goes stale.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import BigInteger, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from triops.store.schema import Base, BigId


class TopologyNode(Base):
    __tablename__ = "topology_nodes"

    project: Mapped[str] = mapped_column(String(128), primary_key=True)
    #: The entity's signal subject string, e.g. ``service:checkout``.
    key: Mapped[str] = mapped_column(String(512), primary_key=True)
    type: Mapped[str] = mapped_column(String(32))
    attributes: Mapped[dict[str, Any]] = mapped_column(default=dict)
    first_ms: Mapped[int] = mapped_column(BigInteger)
    #: Refreshed at most once per touch interval, not on every sighting.
    last_ms: Mapped[int] = mapped_column(BigInteger)


class TopologyEdge(Base):
    __tablename__ = "topology_edges"

    project: Mapped[str] = mapped_column(String(128), primary_key=True)
    src: Mapped[str] = mapped_column(String(512), primary_key=True)
    dst: Mapped[str] = mapped_column(String(512), primary_key=True)
    type: Mapped[str] = mapped_column(String(32), primary_key=True)
    first_ms: Mapped[int] = mapped_column(BigInteger)
    last_ms: Mapped[int] = mapped_column(BigInteger)


class ChangeEvent(Base):
    """One change on one entity, recorded by triops or posted from outside."""

    __tablename__ = "changes"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    #: ``*`` for server-wide configuration (gateway, guardrails), seen by every project.
    project: Mapped[str] = mapped_column(String(128))
    entity: Mapped[str] = mapped_column(String(512))
    kind: Mapped[str] = mapped_column(String(64))
    summary: Mapped[str] = mapped_column(Text, default="")
    version: Mapped[str] = mapped_column(String(256), default="")
    commit: Mapped[str] = mapped_column(String(128), default="")
    actor: Mapped[str] = mapped_column(String(256), default="")
    time_ms: Mapped[int] = mapped_column(BigInteger)
    source: Mapped[str] = mapped_column(String(16))
    attributes: Mapped[dict[str, Any]] = mapped_column(default=dict)

    __table_args__ = (
        Index("ix_changes_project_time", "project", "time_ms"),
        Index("ix_changes_project_entity_time", "project", "entity", "time_ms"),
    )
