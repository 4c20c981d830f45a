"""Notifications out: channels, routes, silences, and the delivery outbox.

A delivery is one message to one channel (a group of incidents, firing or resolved). It is
written in the same transaction as the incident change that caused it, so a crash never
loses one; the server's worker claims due rows under a lease, sends them and records the
outcome, retrying failures with exponential backoff.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import BigInteger, Boolean, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from triops.store.schema import Base, JSONType


class NotifyChannel(Base):
    __tablename__ = "notify_channels"

    project: Mapped[str] = mapped_column(String(128), primary_key=True)
    name: Mapped[str] = mapped_column(String(128), primary_key=True)
    kind: Mapped[str] = mapped_column(String(32))
    config: Mapped[dict[str, Any]] = mapped_column()
    #: Webhook signing key, SMTP password or bearer token; never returned by the API.
    secret: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_ms: Mapped[int] = mapped_column(BigInteger)


class NotifyRoute(Base):
    __tablename__ = "notify_routes"

    project: Mapped[str] = mapped_column(String(128), primary_key=True)
    name: Mapped[str] = mapped_column(String(128), primary_key=True)
    channel: Mapped[str] = mapped_column(String(128))
    matchers: Mapped[list[str]] = mapped_column(JSONType)
    group_by: Mapped[list[str]] = mapped_column(JSONType)
    group_wait_s: Mapped[int] = mapped_column(Integer)
    repeat_interval_s: Mapped[int] = mapped_column(Integer)
    send_resolved: Mapped[bool] = mapped_column(Boolean)
    created_ms: Mapped[int] = mapped_column(BigInteger)


class NotifySilence(Base):
    __tablename__ = "notify_silences"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    project: Mapped[str] = mapped_column(String(128), index=True)
    matchers: Mapped[list[str]] = mapped_column(JSONType)
    starts_ms: Mapped[int] = mapped_column(BigInteger)
    ends_ms: Mapped[int] = mapped_column(BigInteger)
    created_by: Mapped[str] = mapped_column(String(256))
    comment: Mapped[str] = mapped_column(Text, default="")
    created_ms: Mapped[int] = mapped_column(BigInteger)


class NotifyDelivery(Base):
    __tablename__ = "notify_deliveries"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    project: Mapped[str] = mapped_column(String(128))
    route: Mapped[str] = mapped_column(String(128))
    channel: Mapped[str] = mapped_column(String(128))
    #: The route's group_by labels and their values, as ``name=value`` joined by commas.
    group_key: Mapped[str] = mapped_column(String(1024))
    event: Mapped[str] = mapped_column(String(16))  # firing | resolved
    status: Mapped[str] = mapped_column(String(16))  # pending | sent | failed | silenced
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str] = mapped_column(Text, default="")
    #: When the next attempt is due (group wait first, then the backoff).
    next_ms: Mapped[int] = mapped_column(BigInteger)
    lease_owner: Mapped[str | None] = mapped_column(String(64), nullable=True)
    lease_until_ms: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    created_ms: Mapped[int] = mapped_column(BigInteger)
    sent_ms: Mapped[int | None] = mapped_column(BigInteger, nullable=True)

    __table_args__ = (
        Index("ix_notify_deliveries_due", "status", "next_ms"),
        Index("ix_notify_deliveries_group", "project", "route", "group_key", "event"),
    )


class NotifyDeliveryIncident(Base):
    """Which incidents one delivery speaks of (grouping folds several into one)."""

    __tablename__ = "notify_delivery_incidents"

    delivery_id: Mapped[str] = mapped_column(
        String(32), ForeignKey("notify_deliveries.id", ondelete="CASCADE"), primary_key=True)
    incident_id: Mapped[str] = mapped_column(String(32), primary_key=True, index=True)
