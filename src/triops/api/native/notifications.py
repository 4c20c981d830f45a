"""Notifications out: channels, routes, silences and deliveries of the caller's project.

Channel and route writes need an admin key; a channel's secret is stored but never
returned (``has_secret``). Editors create and expire silences; viewers read everything.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field
from sqlalchemy.orm import Session
from starlette.requests import Request

from triops.core.errors import InvalidInput
from triops.core.ids import now_ms
from triops.ops.notifications import channel_kind, parse_matchers
from triops.ops.notifications import notification_store as repo
from triops.server import audit_log as audit
from triops.server.auth import AsAdmin, AsEditor, AsViewer, Caller, RoleFirstRoute
from triops.server.runtime import runtime_of
from triops.store.schema_notifications import (
    NotifyChannel,
    NotifyDelivery,
    NotifyRoute,
    NotifySilence,
)

router = APIRouter(route_class=RoleFirstRoute, prefix="/api/v1/notifications",
                   tags=["notifications"])
_NAME = r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$"


class ChannelIn(BaseModel):
    kind: str = Field(..., description="slack, webhook, email or alertmanager")
    config: dict[str, Any] = Field(default_factory=dict, description="see docs/notifications.md")
    secret: str | None = Field(None, max_length=4096, description="signing key, SMTP password "
                               "or bearer token; omitted on update: the stored one is kept")


class ChannelOut(BaseModel):
    name: str
    kind: str
    config: dict[str, Any]
    has_secret: bool
    created_ms: int

    @classmethod
    def of(cls, row: NotifyChannel) -> ChannelOut:
        return cls(name=row.name, kind=row.kind, config=row.config,
                   has_secret=bool(row.secret), created_ms=row.created_ms)


class RouteIn(BaseModel):
    channel: str = Field(..., pattern=_NAME)
    matchers: list[str] = Field(default_factory=list, max_length=32,
                                description='e.g. severity=~"error|critical"')
    group_by: list[str] = Field(default_factory=list, max_length=16)
    group_wait_s: int = Field(30, ge=0, le=86400)
    repeat_interval_s: int = Field(4 * 3600, ge=0, le=30 * 86400,
                                   description="0: never re-announce")
    send_resolved: bool = True


class RouteOut(RouteIn):
    name: str
    created_ms: int

    @classmethod
    def of(cls, row: NotifyRoute) -> RouteOut:
        return cls(name=row.name, channel=row.channel, matchers=row.matchers,
                   group_by=row.group_by, group_wait_s=row.group_wait_s,
                   repeat_interval_s=row.repeat_interval_s, send_resolved=row.send_resolved,
                   created_ms=row.created_ms)


class SilenceIn(BaseModel):
    matchers: list[str] = Field(..., min_length=1, max_length=32)
    starts_ms: int | None = Field(None, ge=0, description="default: now")
    ends_ms: int | None = Field(None, ge=0)
    duration_s: int | None = Field(None, ge=1, le=365 * 86400,
                                   description="instead of ends_ms")
    comment: str = Field("", max_length=2000)


class SilenceOut(BaseModel):
    id: str
    matchers: list[str]
    starts_ms: int
    ends_ms: int
    created_by: str
    comment: str
    active: bool

    @classmethod
    def of(cls, row: NotifySilence, now: int) -> SilenceOut:
        return cls(id=row.id, matchers=row.matchers, starts_ms=row.starts_ms,
                   ends_ms=row.ends_ms, created_by=row.created_by, comment=row.comment,
                   active=row.starts_ms <= now < row.ends_ms)


class DeliveryOut(BaseModel):
    id: str
    route: str
    channel: str
    event: str
    group_key: str
    status: str = Field(..., description="pending, sent, failed or silenced")
    attempts: int
    last_error: str
    next_ms: int
    created_ms: int
    sent_ms: int | None
    incidents: list[str]

    @classmethod
    def of(cls, row: NotifyDelivery, incidents: list[str]) -> DeliveryOut:
        return cls(id=row.id, route=row.route, channel=row.channel, event=row.event,
                   group_key=row.group_key, status=row.status, attempts=row.attempts,
                   last_error=row.last_error, next_ms=row.next_ms, created_ms=row.created_ms,
                   sent_ms=row.sent_ms, incidents=incidents)


@router.get("/channels", response_model=list[ChannelOut])
def list_channels(request: Request, caller: Caller = AsViewer) -> list[ChannelOut]:
    with runtime_of(request).db.read() as session:
        return [ChannelOut.of(r) for r in repo.list_channels(session, caller.project)]


@router.put("/channels/{name}", response_model=ChannelOut)
def put_channel(name: str, body: ChannelIn, request: Request,
                caller: Caller = AsAdmin) -> ChannelOut:
    _check_name(name)
    config = channel_kind(body.kind).check(body.config)
    with runtime_of(request).db.write() as session:
        row = repo.put_channel(session, caller.project, name, body.kind, config, body.secret,
                               keep_secret=True)
        audit.record(session, project=caller.project, actor=caller.actor,
                     action="notify.channel.put", target=name, detail={"kind": body.kind})
        return ChannelOut.of(row)


@router.delete("/channels/{name}", status_code=204)
def delete_channel(name: str, request: Request, caller: Caller = AsAdmin) -> None:
    _delete_audited(request, caller, "channel", name, repo.delete_channel)


@router.get("/routes", response_model=list[RouteOut])
def list_routes(request: Request, caller: Caller = AsViewer) -> list[RouteOut]:
    with runtime_of(request).db.read() as session:
        return [RouteOut.of(r) for r in repo.list_routes(session, caller.project)]


@router.put("/routes/{name}", response_model=RouteOut)
def put_route(name: str, body: RouteIn, request: Request, caller: Caller = AsAdmin) -> RouteOut:
    _check_name(name)
    parse_matchers(body.matchers)
    with runtime_of(request).db.write() as session:
        row = repo.put_route(session, caller.project, name, channel=body.channel,
                             matchers=body.matchers, group_by=body.group_by,
                             group_wait_s=body.group_wait_s,
                             repeat_interval_s=body.repeat_interval_s,
                             send_resolved=body.send_resolved)
        audit.record(session, project=caller.project, actor=caller.actor,
                     action="notify.route.put", target=name)
        session.flush()
        return RouteOut.of(row)


@router.delete("/routes/{name}", status_code=204)
def delete_route(name: str, request: Request, caller: Caller = AsAdmin) -> None:
    _delete_audited(request, caller, "route", name, repo.delete_route)


@router.get("/silences", response_model=list[SilenceOut])
def list_silences(request: Request, active: bool = Query(False, description="only active"),
                  caller: Caller = AsViewer) -> list[SilenceOut]:
    now = now_ms()
    with runtime_of(request).db.read() as session:
        rows = repo.list_silences(session, caller.project, active_at=now if active else None)
        return [SilenceOut.of(r, now) for r in rows]


@router.post("/silences", response_model=SilenceOut, status_code=201)
def add_silence(body: SilenceIn, request: Request, caller: Caller = AsEditor) -> SilenceOut:
    parse_matchers(body.matchers)
    now = now_ms()
    starts = body.starts_ms if body.starts_ms is not None else now
    if (body.ends_ms is None) == (body.duration_s is None):
        raise InvalidInput("give a silence either ends_ms or duration_s")
    ends = body.ends_ms if body.ends_ms is not None else starts + body.duration_s * 1000
    with runtime_of(request).db.write() as session:
        row = repo.add_silence(session, caller.project, body.matchers, starts, ends,
                               caller.actor, body.comment)
        audit.record(session, project=caller.project, actor=caller.actor,
                     action="notify.silence.create", target=row.id,
                     detail={"matchers": body.matchers, "ends_ms": ends})
        return SilenceOut.of(row, now)


@router.delete("/silences/{silence_id}", response_model=SilenceOut)
def expire_silence(silence_id: str, request: Request, caller: Caller = AsEditor) -> SilenceOut:
    with runtime_of(request).db.write() as session:
        row = repo.expire_silence(session, caller.project, silence_id)
        audit.record(session, project=caller.project, actor=caller.actor,
                     action="notify.silence.expire", target=silence_id)
        return SilenceOut.of(row, now_ms())


@router.get("/deliveries", response_model=list[DeliveryOut])
def list_deliveries(
    request: Request,
    status: str | None = Query(None, description="pending, sent, failed or silenced"),
    incident: str | None = Query(None, max_length=32, description="only this incident's"),
    limit: int = Query(100, ge=1, le=1000),
    caller: Caller = AsViewer,
) -> list[DeliveryOut]:
    with runtime_of(request).db.read() as session:
        rows = repo.list_deliveries(session, caller.project, status=status,
                                    incident_id=incident, limit=limit)
        return [DeliveryOut.of(r, repo.incident_ids(session, r.id)) for r in rows]


def _delete_audited(request: Request, caller: Caller, what: str, name: str,
                    delete: Callable[[Session, str, str], None]) -> None:
    with runtime_of(request).db.write() as session:
        delete(session, caller.project, name)
        audit.record(session, project=caller.project, actor=caller.actor,
                     action=f"notify.{what}.delete", target=name)


def _check_name(name: str) -> None:
    if not re.match(_NAME, name):
        raise InvalidInput(f"name {name!r} must be 1-128 letters, digits, '_', '.', ':' or '-'"
                           ", starting with a letter or digit")
