"""Alertmanager's webhook receiver: ``POST /api/v1/alerts/alertmanager``.

Point an Alertmanager ``webhook_configs`` entry at this URL with an editor key
(``http_config.authorization.credentials``). See :mod:`triops.ops.alertmanager` for
what firing and resolved alerts do.
"""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel, Field
from starlette.requests import Request

from triops.ops.alertmanager import Alert, receive
from triops.server.auth import AsEditor, Caller, RoleFirstRoute
from triops.server.runtime import runtime_of

router = APIRouter(route_class=RoleFirstRoute, prefix="/api/v1/alerts", tags=["alerts"])


class AlertIn(BaseModel):
    status: str = Field(..., max_length=16)
    labels: dict[str, str] = Field(..., max_length=128)
    annotations: dict[str, str] = Field(default_factory=dict, max_length=128)
    startsAt: str = Field("", max_length=64)
    endsAt: str = Field("", max_length=64)
    generatorURL: str = Field("", max_length=4096)
    fingerprint: str = Field("", max_length=64)


class NotificationIn(BaseModel):
    """The payload Alertmanager sends (webhook ``version`` "4")."""

    version: str = Field("4", max_length=8)
    groupKey: str = Field("", max_length=4096)
    truncatedAlerts: int = 0
    status: str = Field("", max_length=16)
    receiver: str = Field("", max_length=256)
    groupLabels: dict[str, str] = Field(default_factory=dict)
    commonLabels: dict[str, str] = Field(default_factory=dict)
    commonAnnotations: dict[str, str] = Field(default_factory=dict)
    externalURL: str = Field("", max_length=4096)
    alerts: list[AlertIn] = Field(..., max_length=10_000)


class AlertsHandled(BaseModel):
    firing: int
    repeated: int = Field(..., description="firing alerts re-sent by Alertmanager, already "
                                          "counted in their incident")
    resolved: int
    unmatched: int
    incidents: list[str]


@router.post("/alertmanager", response_model=AlertsHandled)
def alertmanager_webhook(
    body: NotificationIn, request: Request, caller: Caller = AsEditor
) -> AlertsHandled:
    alerts = [
        Alert(status=a.status, labels=a.labels, annotations=a.annotations,
              starts_at=a.startsAt, ends_at=a.endsAt, fingerprint=a.fingerprint,
              generator_url=a.generatorURL)
        for a in body.alerts
    ]
    with runtime_of(request).db.write() as session:
        report = receive(session, caller.project, body.receiver, alerts, caller.actor)
    return AlertsHandled(firing=report.firing, repeated=report.repeated,
                         resolved=report.resolved, unmatched=report.unmatched,
                         incidents=report.incidents)
